package banksandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"time"
)

// flexString accepts a JSON string or number and keeps its text: clients send referenceNumber
// and amount either way, and the sandbox must not round an amount through a float.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*f = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = flexString(n)
	}
	return nil
}

// checkRequest is the dataRequest envelope of bank-api.md §2; only the transaction matters.
type checkRequest struct {
	DataRequest *struct {
		Transaction *query `json:"transaction"`
	} `json:"dataRequest"`
}

// query is the transaction being asked about.
type query struct {
	ReferenceNumber flexString `json:"referenceNumber"`
	PhoneNum        string     `json:"phoneNum"`
	BankID          string     `json:"bankId"`
	StartDt         string     `json:"startDt"`
	AccountID       string     `json:"accountId"`
	Amount          flexString `json:"amount"`
}

// mobile reports whether q is a pago móvil query: the bank decides by the phone, and by the
// absence of the account that a transfer query needs.
func (q query) mobile() bool { return q.PhoneNum != "" || q.AccountID == "" }

var (
	mobileReference = regexp.MustCompile(`^[0-9]{6}$`)
	mobilePhone     = regexp.MustCompile(`^58[0-9]{10}$`)
	bankCode        = regexp.MustCompile(`^[0-9]{4}$`)
	fullAccount     = regexp.MustCompile(`^[0-9]{20}$`)
)

// errBadRequest marks a body that is not the dataRequest envelope (VDE02).
var errBadRequest = errors.New("not a dataRequest envelope")

// decodeCheck reads the request body.
func decodeCheck(body io.Reader) (query, error) {
	var req checkRequest
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		return query{}, errors.Join(errBadRequest, err)
	}
	if req.DataRequest == nil || req.DataRequest.Transaction == nil {
		return query{}, errBadRequest
	}
	return *req.DataRequest.Transaction, nil
}

// handleCheck serves the check endpoint in the bank's order: every arrival
// counts toward the limits, whoever sends it and whatever it is answered (the
// bank measures at arrival); then authentication (an unauthenticated request
// is answered by the gateway and is not a check), limits, scripts and faults,
// then the real answer.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	authorized := s.authorized(r, s.now())
	q, decodeErr := decodeCheck(http.MaxBytesReader(w, r.Body, 1<<20))
	reference := string(q.ReferenceNumber)

	s.mu.Lock()
	now := s.now() // read under the lock so that arrivals enter the windows in order
	arrival := s.recordArrival(Arrival{Reference: reference, At: now, Authorized: authorized})
	verdict := s.admitCheck(reference, now)
	if authorized {
		s.stats.Checks++
		if reference != "" {
			s.stats.ChecksByReference[reference]++
		}
	} else {
		s.stats.UnauthorizedChecks++
	}
	s.mu.Unlock()

	if !authorized {
		status := http.StatusUnauthorized
		if s.cfg.Flavor == FlavorProduction {
			status = http.StatusForbidden
		}
		// The gateway answers, not the API: no envelope.
		http.Error(w, http.StatusText(status), status)
		return
	}
	if verdict.refused {
		s.writeReply(w, Reply{HTTPStatus: http.StatusTooManyRequests, StatusCode: "VRN05", RetryAfter: verdict.retryAfter})
		return
	}
	if decodeErr != nil {
		s.writeReply(w, Reply{HTTPStatus: http.StatusBadRequest, StatusCode: "VDE02"})
		return
	}
	if reply, ok := s.nextScripted(reference); ok && reply.HTTPStatus != 0 {
		s.writeReply(w, reply)
		return
	}
	s.mu.Lock()
	maintenance, inWindow := s.inMaintenance(now)
	rangeOnce := !inWindow && s.faults.RangeTooWideOnce && reference != "" && !s.rangeSeen[reference]
	if rangeOnce {
		s.rangeSeen[reference] = true
	}
	s.mu.Unlock()
	if inWindow {
		s.writeReply(w, Reply{HTTPStatus: http.StatusServiceUnavailable, StatusCode: maintenance})
		return
	}
	if rangeOnce {
		s.writeRangeTooWide(w)
		return
	}

	switch kind, f := s.drawFault(); kind {
	case faultRateLimited:
		s.writeReply(w, Reply{HTTPStatus: http.StatusTooManyRequests, StatusCode: "VRN05", RetryAfter: f.RetryAfter})
		return
	case faultServerError:
		s.writeReply(w, s.serverErrorReply())
		return
	case faultMaintenance:
		s.writeReply(w, Reply{HTTPStatus: http.StatusServiceUnavailable, StatusCode: "VRN04"})
		return
	case faultMalformed:
		s.writeMalformed(w)
		return
	case faultSlow:
		timer := time.NewTimer(f.SlowDelay)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return // the caller gave up; nobody is left to answer
		}
	}
	if !s.align(r) {
		return // the caller gave up while the answer was held
	}
	s.answer(w, q, arrival)
}

// align holds the answer while Faults.AlignReplies is set: the first check to arrive opens a
// window of that length, and every check arriving within it is answered when it closes. It
// reports false when the caller went away meanwhile.
func (s *Server) align(r *http.Request) bool {
	s.mu.Lock()
	period := s.faults.AlignReplies
	now := s.now()
	if period > 0 && !now.Before(s.alignAt) {
		s.alignAt = now.Add(period)
	}
	release := s.alignAt
	s.mu.Unlock()
	if period <= 0 {
		return true
	}
	timer := time.NewTimer(release.Sub(now))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// answer looks the query up and writes the bank's real reply.
func (s *Server) answer(w http.ResponseWriter, q query, arrival int) {
	if q.AccountID != "" && !fullAccount.MatchString(q.AccountID) {
		// A masked or short account is invalid input, whichever mode the query is in.
		s.writeReply(w, Reply{HTTPStatus: http.StatusBadRequest, StatusCode: "VDE01"})
		return
	}
	if q.mobile() && isDate(q.StartDt) {
		today := s.now().In(venezuela)
		if q.StartDt < today.AddDate(0, 0, -s.cfg.MaxRangeDays).Format(time.DateOnly) {
			s.writeRangeTooWide(w)
			return
		}
	}
	rows, mobile := s.lookup(q)
	if len(rows) == 0 {
		s.writeNoResults(w)
		return
	}
	s.recordRows(arrival, rows)
	s.writeRows(w, rows, mobile)
}

// lookup returns the visible payments matching q, registering q as a demo payment when demo
// mode is on and nothing matches. A query missing what its mode needs finds nothing, as at
// the bank.
func (s *Server) lookup(q query) ([]storedPayment, bool) {
	mobile := q.mobile()
	ref := string(q.ReferenceNumber)
	if mobile {
		if !mobileReference.MatchString(ref) || !mobilePhone.MatchString(q.PhoneNum) ||
			!bankCode.MatchString(q.BankID) || !isDate(q.StartDt) {
			return nil, mobile
		}
	} else if !isDigits(ref) || q.StartDt != "" || (q.BankID != "0134" && !s.cfg.TransferWithoutBankID) {
		// The bank reads a date on a transfer query as a different search and finds nothing;
		// its manual lists bankId 0134 as required.
		return nil, mobile
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// startDt opens a range that runs to today: rows booked on later days come back too.
	today := now.In(venezuela).Format(time.DateOnly)
	var rows []storedPayment
	for _, p := range s.payments {
		if p.never || now.Before(p.visibleFrom) {
			continue
		}
		if mobile && p.Mode == ModeMobile && referenceTail(p.Reference, 6) == ref &&
			p.Phone == q.PhoneNum && p.BankID == q.BankID && p.Date >= q.StartDt && p.Date <= today ||
			!mobile && p.Mode == ModeTransfer && trimZeros(p.Reference) == trimZeros(ref) &&
				p.AccountID == q.AccountID {
			rows = append(rows, p)
		}
	}
	if len(rows) == 0 && s.cfg.Demo {
		s.registerDemo(q, now)
	}
	return rows, mobile
}
