package banesco

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Mode is how the bank is asked: the bank insists on two different query
// shapes depending on how the customer paid.
type Mode int

const (
	// ModeMobile is pago móvil (our bank MOBILE_TRANSFER): last 6 digits of the
	// reference, payer phone, payer bank and payment date.
	ModeMobile Mode = iota + 1
	// ModeTransfer is a Banesco→Banesco transfer (our bank BANESCO): the whole
	// reference and the merchant account, never a date.
	ModeTransfer
)

// String names the mode for logs.
func (m Mode) String() string {
	switch m {
	case ModeMobile:
		return "mobile"
	case ModeTransfer:
		return "transfer"
	default:
		return fmt.Sprintf("mode(%d)", int(m))
	}
}

// Query is one payment to look up at the bank.
type Query struct {
	Mode      Mode
	Reference string // digits as the customer typed them (6..20)
	Phone     string // payer phone, 04141234567 (mobile only)
	BankID    string // payer bank code, 4 digits (mobile only)
	Date      string // payment date (paid_on) YYYY-MM-DD, Venezuela time (mobile only)
	Amount    string // "" for none, else a decimal such as "1240.00"
}

// mobileRefDigits is how many trailing reference digits pago móvil queries
// carry; the bank finds nothing with more.
const mobileRefDigits = 6

// checkRequest is the bank's request envelope. Field order follows the
// contract so captured bodies read like the documentation.
type checkRequest struct {
	DataRequest dataRequest `json:"dataRequest"`
}

type dataRequest struct {
	Device       deviceJSON      `json:"device"`
	SecurityAuth securityAuth    `json:"securityAuth"`
	Transaction  transactionJSON `json:"transaction"`
}

type deviceJSON struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	IPAddress   string `json:"ipAddress"`
}

type securityAuth struct {
	SessionID string `json:"sessionId"`
}

// transactionJSON omits what a mode must not send: the bank turns a transfer
// hit into 70001 when startDt is present.
type transactionJSON struct {
	ReferenceNumber string      `json:"referenceNumber"`
	PhoneNum        string      `json:"phoneNum,omitempty"`
	BankID          string      `json:"bankId,omitempty"`
	StartDt         string      `json:"startDt,omitempty"`
	AccountID       string      `json:"accountId,omitempty"`
	Amount          json.Number `json:"amount,omitempty"`
}

// preparedQuery is a validated Query plus what matching needs.
type preparedQuery struct {
	mode   Mode
	tail   string // the referenceNumber sent: last 6 digits (mobile) or the whole reference
	typed  string // every digit the client typed, for the full-reference comparison
	from   string // mobile: rows booked from this day…
	to     string // …to this one (YYYY-MM-DD) match
	cents  int64
	hasAmt bool
	// currency a matching row must carry; "" accepts any.
	currency string
	body     []byte
}

// venezuela is the bank's day boundary (UTC−4, no DST).
var venezuela = time.FixedZone("VET", -4*60*60)

// prepare validates q and builds the request body. Errors are KindInvalidQuery
// (or KindConfig for a missing merchant account) and never echo the phone.
func (c *Client) prepare(q Query) (preparedQuery, error) {
	p := preparedQuery{mode: q.Mode}
	ref := strings.TrimSpace(q.Reference)
	if !isDigits(ref, 6, 20) {
		return p, invalidQuery("reference must be 6 to 20 digits")
	}
	p.typed = ref
	if !c.cfg.AnyCurrency {
		p.currency = c.cfg.Currency
	}
	if q.Amount != "" {
		cents, err := parseCents(q.Amount)
		if err != nil {
			return p, invalidQuery(fmt.Sprintf("amount: %v", err))
		}
		p.cents, p.hasAmt = cents, true
	}
	tx := transactionJSON{}
	if p.hasAmt {
		// A number literal built from cents: the bank gets 1240.00, never a float.
		tx.Amount = json.Number(formatCents(p.cents))
	}
	switch q.Mode {
	case ModeMobile:
		phone, ok := intlPhone(q.Phone)
		if !ok {
			return p, invalidQuery("phone must be 11 digits like 04141234567")
		}
		bank := strings.TrimSpace(q.BankID)
		if !isDigits(bank, 1, 4) {
			return p, invalidQuery("bank id must be up to 4 digits")
		}
		paid, err := time.Parse(time.DateOnly, q.Date)
		if err != nil {
			return p, invalidQuery("date must be YYYY-MM-DD")
		}
		p.tail = ref[len(ref)-mobileRefDigits:]
		p.from, p.to = q.Date, q.Date
		if c.cfg.DateMatch == DateMatchRange {
			// startDt opens a range that runs to today at the bank: start a
			// little earlier (a customer reporting the day after paying) and
			// accept rows up to today (a payment booked after midnight).
			p.from = paid.AddDate(0, 0, -c.cfg.DateLookbackDays).Format(time.DateOnly)
			p.to = c.cfg.Now().In(venezuela).Format(time.DateOnly)
			if p.to < q.Date {
				p.to = q.Date // our clock behind the client's: never exclude the day they named
			}
		}
		tx.ReferenceNumber = p.tail
		tx.PhoneNum = phone
		tx.BankID = padBank(bank)
		tx.StartDt = p.from
	case ModeTransfer:
		if c.cfg.AccountID == "" {
			return p, &Error{Kind: KindConfig, Err: fmt.Errorf("transfer check needs the merchant account (BANESCO_ACCOUNT_ID)")}
		}
		p.tail = ref
		tx.ReferenceNumber = ref
		tx.AccountID = c.cfg.AccountID
		if !c.cfg.OmitTransferBankID {
			tx.BankID = c.cfg.TransferBankID // required by the bank's manual; still no startDt
		}
	default:
		return p, invalidQuery(fmt.Sprintf("unknown mode %d", int(q.Mode)))
	}
	body, err := json.Marshal(checkRequest{DataRequest: dataRequest{
		Device: deviceJSON{
			Type:        c.cfg.Device.Type,
			Description: c.cfg.Device.Description,
			IPAddress:   c.cfg.Device.IPAddress,
		},
		Transaction: tx,
	}})
	if err != nil {
		return p, &Error{Kind: KindConfig, Err: fmt.Errorf("encode check request: %w", err)}
	}
	p.body = body
	return p, nil
}

func invalidQuery(msg string) error {
	return &Error{Kind: KindInvalidQuery, Err: fmt.Errorf("invalid query: %s", msg)}
}

// intlPhone turns our 04141234567 into the bank's 584141234567. It also
// accepts a number already in 58 form, with or without '+' or separators.
func intlPhone(s string) (string, bool) {
	var d strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d.WriteRune(r)
		case r == '+' || r == '-' || r == ' ' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	digits := d.String()
	switch {
	case len(digits) == 11 && digits[0] == '0':
		return "58" + digits[1:], true
	case len(digits) == 12 && strings.HasPrefix(digits, "58"):
		return digits, true
	case len(digits) == 10 && digits[0] != '0':
		return "58" + digits, true
	default:
		return "", false
	}
}

// padBank left-pads a bank code to the bank's 4 digits ("134" → "0134").
func padBank(code string) string {
	if len(code) >= 4 {
		return code
	}
	return strings.Repeat("0", 4-len(code)) + code
}
