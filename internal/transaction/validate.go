package transaction

import (
	"crypto/sha256"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// CreateRequest is the body of POST /api/v1/transactions.
type CreateRequest struct {
	TransactionID   string          `json:"transaction_id"`
	Bank            string          `json:"bank"`
	TransactionType string          `json:"transaction_type"`
	Reference       string          `json:"reference"`
	Amount          *string         `json:"amount"`
	PayerBankCode   string          `json:"payer_bank_code"`
	PaidOn          string          `json:"paid_on"`
	Customer        CustomerRequest `json:"customer"`
}

// CustomerRequest is the payer part of the create body.
type CustomerRequest struct {
	FullName   string  `json:"full_name"`
	Phone      string  `json:"phone"`
	NationalID string  `json:"national_id"`
	Concept    *string `json:"concept"`
}

// NewTransaction is a validated, normalised create request.
type NewTransaction struct {
	TransactionID   string
	Bank            string
	TransactionType string
	Reference       string
	Amount          string // "" when absent, else "1240.00"
	PayerBankCode   string
	PaidOn          time.Time
	FullName        string
	Phone           string
	NationalID      string
	Concept         *string
	// Hash identifies the request for idempotency: the same transaction_id with
	// the same normalised body replays, with another body conflicts.
	Hash []byte
}

// Caracas is Venezuela's time (UTC−4, no daylight saving since 2016); payment
// dates are days there, as the bank counts them.
var Caracas = time.FixedZone("VET", -4*60*60)

var (
	reTransactionID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)
	reReference     = regexp.MustCompile(`^\d{6,20}$`)
	reAmount        = regexp.MustCompile(`^\d{1,13}(\.\d{1,2})?$`)
	reBankCode      = regexp.MustCompile(`^\d{4}$`)
	rePhone         = regexp.MustCompile(`^04(12|14|16|22|24|26)\d{7}$`)
	reNationalID    = regexp.MustCompile(`^[VE]\d{4,9}$`)
)

// ReservedTransactionID cannot be a client's id: its path is the export's.
const ReservedTransactionID = "export"

// Validate checks and normalises a create request against the rules of
// docs/api.md; the map names each field at fault.
func (r CreateRequest) Validate(now time.Time) (NewTransaction, map[string]string) {
	f := map[string]string{}
	n := NewTransaction{
		TransactionID:   r.TransactionID,
		Bank:            r.Bank,
		TransactionType: r.TransactionType,
		Reference:       r.Reference,
		PayerBankCode:   r.PayerBankCode,
		Phone:           r.Customer.Phone,
		NationalID:      strings.ToUpper(r.Customer.NationalID),
	}
	if !reTransactionID.MatchString(n.TransactionID) {
		f["transaction_id"] = "must be 1 to 100 letters, digits, '_' or '-'"
	} else if n.TransactionID == ReservedTransactionID {
		f["transaction_id"] = `"export" is reserved: GET /api/v1/transactions/export is the CSV export`
	}
	if n.Bank != BankBanesco && n.Bank != BankMobileTransfer {
		f["bank"] = "must be BANESCO or MOBILE_TRANSFER"
	}
	switch n.TransactionType {
	case "":
		n.TransactionType = "TRANSACTION"
	case "TRANSACTION", "COMMISSION", "OTHER":
	default:
		f["transaction_type"] = "must be TRANSACTION, COMMISSION or OTHER"
	}
	if !reReference.MatchString(n.Reference) {
		f["reference"] = "must be 6 to 20 digits"
	}
	if r.Amount != nil {
		amount, ok := normaliseAmount(*r.Amount)
		if !ok {
			f["amount"] = "must be a decimal string greater than 0 with at most 2 decimals, like \"1240.00\""
		}
		n.Amount = amount
	}
	if n.PayerBankCode == "" {
		n.PayerBankCode = "0134"
	} else if !reBankCode.MatchString(n.PayerBankCode) {
		f["payer_bank_code"] = "must be 4 digits, like 0102"
	}
	today := dateIn(now, Caracas)
	if r.PaidOn == "" {
		n.PaidOn = today
	} else if d, err := time.ParseInLocation(time.DateOnly, r.PaidOn, time.UTC); err != nil {
		f["paid_on"] = "must be a date YYYY-MM-DD"
	} else if d.After(today) {
		f["paid_on"] = "must not be in the future (Venezuela time)"
	} else {
		n.PaidOn = d
	}
	name, ok := normaliseName(r.Customer.FullName)
	if !ok {
		f["customer.full_name"] = "must be 2 to 255 letters, spaces, apostrophes or hyphens"
	}
	n.FullName = name
	if !rePhone.MatchString(n.Phone) {
		f["customer.phone"] = "must be 11 digits: 0412, 0414, 0416, 0422, 0424 or 0426 and 7 digits"
	}
	if !reNationalID.MatchString(n.NationalID) {
		f["customer.national_id"] = "must be V or E followed by 4 to 9 digits"
	}
	if r.Customer.Concept != nil {
		c := strings.TrimSpace(*r.Customer.Concept)
		if utf8.RuneCountInString(c) > 500 || !utf8.ValidString(c) || strings.ContainsRune(c, 0) {
			f["customer.concept"] = "must be at most 500 characters"
		}
		n.Concept = &c
	}
	if len(f) > 0 {
		return NewTransaction{}, f
	}
	n.Hash = n.hash(r.PaidOn)
	return n, nil
}

// dateIn is the calendar day of t in loc, as a UTC midnight (how dates are stored).
func dateIn(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// normaliseAmount accepts "1240", "1240.5", "1240.50" and returns "1240.50"; zero
// and negatives are refused. No float ever touches the value.
func normaliseAmount(s string) (string, bool) {
	if !reAmount.MatchString(s) {
		return "", false
	}
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	frac = (frac + "00")[:2]
	if whole == "0" && frac == "00" {
		return "", false
	}
	return whole + "." + frac, true
}

// normaliseName validates a person's name and returns it in title case with
// single spaces ("ana   maría o'neil-pérez" → "Ana María O'Neil-Pérez").
func normaliseName(s string) (string, bool) {
	s = strings.Join(strings.Fields(s), " ")
	count := utf8.RuneCountInString(s)
	if count < 2 || count > 255 {
		return s, false
	}
	var b strings.Builder
	startOfWord := true
	letters := 0
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letters++
			if startOfWord {
				b.WriteRune(unicode.ToUpper(r))
			} else {
				b.WriteRune(unicode.ToLower(r))
			}
			startOfWord = false
		case r == ' ' || r == '\'' || r == '’' || r == '-':
			b.WriteRune(r)
			startOfWord = true
		default:
			return s, false
		}
	}
	return b.String(), letters >= 2
}

// hash is a digest of the normalised request. paid_on enters as the client sent
// it, so replaying a body without paid_on on another day still replays.
func (n NewTransaction) hash(paidOnAsSent string) []byte {
	b, _ := json.Marshal([]any{n.TransactionID, n.Bank, n.TransactionType, n.Reference, n.Amount,
		n.PayerBankCode, paidOnAsSent, n.FullName, n.Phone, n.NationalID, n.Concept})
	h := sha256.Sum256(b)
	return h[:]
}
