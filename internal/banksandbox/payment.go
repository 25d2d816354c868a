package banksandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Payment modes: how the payer paid, which decides how the bank finds the payment.
const (
	// ModeMobile is pago móvil: found by the reference's last 6 digits, phone, bank and date.
	ModeMobile = "mobile"
	// ModeTransfer is a Banesco→Banesco transfer: found by the whole reference and the account.
	ModeTransfer = "transfer"
)

// Payment is a payment the bank knows. The JSON form is what POST /sandbox/payments takes.
type Payment struct {
	// Reference is the bank reference, digits, any length.
	Reference string `json:"reference"`
	// Amount is in bolívars with up to 2 decimals, e.g. "1240.00"; stored as "1240.00".
	Amount string `json:"amount"`
	// Phone is the payer's phone, 04141234567 or 584141234567; stored as 584141234567.
	Phone string `json:"phone,omitempty"`
	// BankID is the payer's bank, 4 digits (pago móvil).
	BankID string `json:"bank_id,omitempty"`
	// Date is the payment date, YYYY-MM-DD (default: today in Venezuela).
	Date string `json:"date,omitempty"`
	// AccountID is the merchant's 20-digit account (default Config.AccountID).
	AccountID string `json:"account_id,omitempty"`
	// TrnType is the bank's transaction type (default "CR", money in).
	TrnType string `json:"trn_type,omitempty"`
	// Concept is the payer's free text.
	Concept string `json:"concept,omitempty"`
	// CustomerIDBen is the payer's national id, e.g. "V-12345678" (default "V-12345678").
	CustomerIDBen string `json:"customer_id_ben,omitempty"`
	// Mode is ModeMobile or ModeTransfer; empty means mobile when Phone is set, else transfer.
	Mode string `json:"mode,omitempty"`
}

// storedPayment is a registered payment with what the sandbox derived from it.
type storedPayment struct {
	Payment
	// visibleFrom is when the bank starts finding it: zero for AddPayment, later for demo
	// payments that have not settled. never marks the demo payments that never settle.
	visibleFrom time.Time
	never       bool
}

// venezuela is UTC−4, the bank's day boundary; a fixed zone avoids needing tzdata.
var venezuela = time.FixedZone("VET", -4*60*60)

// AddPayment registers a payment. Registering the same reference twice yields two rows, which
// is how a test builds an ambiguous match. It panics if p is invalid, since fixtures are code;
// untrusted input goes through POST /sandbox/payments, which answers 400 instead.
func (s *Server) AddPayment(p Payment) {
	if err := s.addPayments([]Payment{p}); err != nil {
		panic("banksandbox: " + err.Error())
	}
}

// addPayments validates all of ps and registers them, all or none.
func (s *Server) addPayments(ps []Payment) error {
	stored := make([]storedPayment, 0, len(ps))
	for i, p := range ps {
		n, err := s.normalise(p)
		if err != nil {
			return fmt.Errorf("payment %d (reference %q): %w", i, p.Reference, err)
		}
		stored = append(stored, storedPayment{Payment: n})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payments = append(s.payments, stored...)
	return nil
}

// normalise validates p and fills in its defaults.
func (s *Server) normalise(p Payment) (Payment, error) {
	if !isDigits(p.Reference) {
		return p, errors.New("reference: want digits")
	}
	cents, ok := parseCents(p.Amount)
	if !ok {
		return p, fmt.Errorf("amount %q: want a decimal with up to 2 places", p.Amount)
	}
	p.Amount = formatCents(cents)
	if p.Mode == "" {
		p.Mode = ModeTransfer
		if p.Phone != "" {
			p.Mode = ModeMobile
		}
	}
	if p.AccountID == "" {
		p.AccountID = s.cfg.AccountID
	}
	if p.TrnType == "" {
		p.TrnType = "CR"
	}
	if p.CustomerIDBen == "" {
		p.CustomerIDBen = "V-12345678"
	}
	if p.Date == "" {
		p.Date = s.now().In(venezuela).Format(time.DateOnly)
	}
	if !isDate(p.Date) {
		return p, fmt.Errorf("date %q: want YYYY-MM-DD", p.Date)
	}
	if !isDigits(p.AccountID) || len(p.AccountID) != 20 {
		return p, fmt.Errorf("account id %q: want 20 digits", p.AccountID)
	}
	switch p.Mode {
	case ModeMobile:
		phone, ok := normalisePhone(p.Phone)
		if !ok {
			return p, fmt.Errorf("phone %q: want 04141234567 or 584141234567", p.Phone)
		}
		p.Phone = phone
		if !isDigits(p.BankID) || len(p.BankID) != 4 {
			return p, fmt.Errorf("bank id %q: want 4 digits", p.BankID)
		}
	case ModeTransfer:
		if p.BankID == "" {
			p.BankID = "0134"
		}
	default:
		return p, fmt.Errorf("mode %q: want %q or %q", p.Mode, ModeMobile, ModeTransfer)
	}
	return p, nil
}

// normalisePhone turns 04141234567, 4141234567 or 584141234567 into 584141234567.
func normalisePhone(phone string) (string, bool) {
	switch {
	case !isDigits(phone):
		return "", false
	case len(phone) == 12 && strings.HasPrefix(phone, "58"):
		return phone, true
	case len(phone) == 11 && phone[0] == '0':
		return "58" + phone[1:], true
	case len(phone) == 10:
		return "58" + phone, true
	}
	return "", false
}

// isDate reports whether s is a real YYYY-MM-DD date.
func isDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil && len(s) == 10
}

// parseCents reads "1240", "1240.5" or "1240.50" as cents, without floats: amounts must
// survive the sandbox to the cent.
func parseCents(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if !isDigits(whole) || len(whole) > 15 || len(frac) > 2 || (frac != "" && !isDigits(frac)) {
		return 0, false
	}
	frac = (frac + "00")[:2]
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, true
}

// formatCents writes cents as "1240.00".
func formatCents(c int64) string {
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// trimmedAmount writes cents the way the bank writes a numeric amount: 1240, 1240.5, 1240.05.
func trimmedAmount(c int64) string {
	s := formatCents(c)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// referenceTail returns the last n digits of ref, left-padded with zeros when shorter, which is
// how the bank right-aligns references.
func referenceTail(ref string, n int) string {
	if len(ref) >= n {
		return ref[len(ref)-n:]
	}
	return strings.Repeat("0", n-len(ref)) + ref
}

// trimZeros drops leading zeros so that "000123" and "123" compare equal.
func trimZeros(ref string) string {
	return strings.TrimLeft(ref, "0")
}
