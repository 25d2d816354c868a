package banksandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// statusDescs is the bank's wording for its status codes.
var statusDescs = map[string]string{
	"200":    "OK",
	"70001":  "Consulta sin resultados",
	"70005":  "Rango de fechas excede el permitido",
	"VDE01":  "Datos de entrada inválidos",
	"VDE02":  "Formato de solicitud inválido",
	"VRN01":  "Credenciales inválidas",
	"VRN04":  "Servicio en mantenimiento",
	"CRT503": "Servicio no disponible por mantenimiento",
	"VRN05":  "Ha excedido el límite de consultas permitidas",
	"VRN06":  "Servicio no disponible",
}

// envelope is the bank's reply, for hits and misses alike.
type envelope struct {
	HTTPStatus   status        `json:"httpStatus"`
	DataResponse *dataResponse `json:"dataResponse"`
}

// status carries the bank's own status; StatusCode is sometimes a string, sometimes a number.
type status struct {
	StatusCode any    `json:"statusCode"`
	StatusDesc string `json:"statusDesc"`
}

type dataResponse struct {
	TransactionDetail []row `json:"transactionDetail"`
}

// row is one transaction as the bank writes it. The fields typed any carry the quirks: a
// string or a json.Number, never a float64, so that amounts keep their exact text.
type row struct {
	ReferenceNumber string `json:"referenceNumber"`
	Amount          any    `json:"amount"`
	CurrencyCode    string `json:"currencyCode"`
	AccountID       string `json:"accountId"`
	TrnDate         string `json:"trnDate"`
	TrnTime         string `json:"trnTime"`
	TrnType         string `json:"trnType"`
	SourceBankID    string `json:"sourceBankId"`
	DestBankID      string `json:"destBankId"`
	Concept         string `json:"concept"`
	CustomerIDBen   string `json:"customerIdBen"`
}

// writeReply writes a non-result reply (error, refusal, scripted answer) and counts it.
func (s *Server) writeReply(w http.ResponseWriter, r Reply) {
	if r.RetryAfter > 0 || r.HTTPStatus == http.StatusTooManyRequests {
		setRetryAfter(w, r.RetryAfter)
	}
	if r.StatusCode == "" {
		s.countReply(strconv.Itoa(r.HTTPStatus))
		http.Error(w, http.StatusText(r.HTTPStatus), r.HTTPStatus)
		return
	}
	desc := r.StatusDesc
	if desc == "" {
		desc = statusDescs[r.StatusCode]
	}
	s.countReply(r.StatusCode)
	writeJSON(w, r.HTTPStatus, envelope{HTTPStatus: status{StatusCode: r.StatusCode, StatusDesc: desc}})
}

// writeNoResults writes 70001 on the flavor's HTTP status.
func (s *Server) writeNoResults(w http.ResponseWriter) {
	httpStatus := http.StatusOK
	if s.cfg.Flavor == FlavorProduction {
		httpStatus = http.StatusBadRequest
	}
	s.writeReply(w, Reply{HTTPStatus: httpStatus, StatusCode: "70001"})
}

// writeRangeTooWide writes 70005 on the flavor's HTTP status (as 70001).
func (s *Server) writeRangeTooWide(w http.ResponseWriter) {
	httpStatus := http.StatusOK
	if s.cfg.Flavor == FlavorProduction {
		httpStatus = http.StatusBadRequest
	}
	s.writeReply(w, Reply{HTTPStatus: httpStatus, StatusCode: "70005"})
}

// writeMalformed writes the start of a valid reply and stops mid-value, as a proxy that cut
// the connection's body would.
func (s *Server) writeMalformed(w http.ResponseWriter) {
	s.countReply("malformed")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"httpStatus":{"statusCode":"200","statusDesc":"OK"},"dataResponse":{"transactionDetail":[{"referenceNumber":"0001`))
}

// writeRows writes a hit with every matching row, each with its share of the bank's quirks.
func (s *Server) writeRows(w http.ResponseWriter, ps []storedPayment, mobile bool) {
	s.mu.Lock()
	seq := s.quirk
	s.quirk += uint64(len(ps))
	s.mu.Unlock()

	var code any = "200"
	if seq%2 == 1 {
		code = json.Number("200")
	}
	rows := make([]row, len(ps))
	for i, p := range ps {
		rows[i] = quirkyRow(p.Payment, seq+uint64(i), mobile)
	}
	s.countReply("200")
	writeJSON(w, http.StatusOK, envelope{
		HTTPStatus:   status{StatusCode: code, StatusDesc: "OK"},
		DataResponse: &dataResponse{TransactionDetail: rows},
	})
}

// quirkyRow writes p the way the bank does; n picks which variant of each quirk appears, so
// that a run of checks shows every variant and a rerun shows the same ones.
func quirkyRow(p Payment, n uint64, mobile bool) row {
	cents, _ := parseCents(p.Amount) // validated when registered
	var amount any
	switch n % 3 {
	case 0:
		amount = formatCents(cents) // "1240.00"
	case 1:
		amount = json.Number(trimmedAmount(cents)) // 1240 or 1240.5
	default:
		amount = json.Number(formatCents(cents)) // 1240.00
	}

	// References stay strings (the bank never sends them as numbers), padded or not.
	reference := trimZeros(p.Reference)
	if n%2 == 1 || reference == "" {
		reference = referenceTail(p.Reference, max(len(p.Reference), 12))
	}

	source, trnTime, concept := "0134", "10:30:00", p.Concept
	if mobile {
		source = p.BankID
		if n%2 == 0 {
			trnTime = "00.00.00"
		}
		if concept == "" {
			concept = "Pago Movil"
		}
	} else if concept == "" {
		concept = "Transferencia"
	}
	if n%2 == 0 {
		source = strings.TrimPrefix(source, "0") // "0102" → "102"
	}

	return row{
		ReferenceNumber: reference,
		Amount:          amount,
		CurrencyCode:    "BS ",
		AccountID:       maskAccount(p.AccountID),
		TrnDate:         p.Date,
		TrnTime:         trnTime,
		TrnType:         p.TrnType,
		SourceBankID:    source,
		DestBankID:      "0134",
		Concept:         "  " + concept + " ",
		CustomerIDBen:   p.CustomerIDBen,
	}
}

// maskAccount writes a 20-digit account as the bank shows it: "1340************8514".
func maskAccount(account string) string {
	digits := strings.TrimPrefix(account, "0")
	if len(digits) < 8 { // not an account the sandbox registered; show it as is
		return account
	}
	return digits[:4] + strings.Repeat("*", 12) + digits[len(digits)-4:]
}
