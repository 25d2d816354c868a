package banksandbox

import (
	"strings"
	"time"
)

// registerDemo turns an unanswered query into a payment that settles SettleAfter from now, so
// that a local demo shows a payment going from "not found yet" to confirmed without anyone
// registering it. Each distinct query registers once. The caller holds s.mu and has checked
// that q is well formed for its mode.
func (s *Server) registerDemo(q query, now time.Time) {
	mobile := q.mobile()
	ref := string(q.ReferenceNumber)
	key := "transfer|" + ref + "|" + q.AccountID
	if mobile {
		key = "mobile|" + ref + "|" + q.PhoneNum + "|" + q.BankID + "|" + q.StartDt
	}
	if s.demoSeen[key] {
		return
	}
	s.demoSeen[key] = true

	cents, ok := parseCents(string(q.Amount))
	if !ok {
		cents = 100_00
	}
	if strings.HasSuffix(ref, "9999") {
		cents += 1_00 // settles with another amount: the demo of an amount mismatch
	}
	p := Payment{
		Reference:     ref,
		Amount:        formatCents(cents),
		AccountID:     s.cfg.AccountID,
		TrnType:       "CR",
		CustomerIDBen: "V-12345678",
	}
	if mobile {
		// Booked today: startDt only opens the range the bank searches.
		p.Mode, p.Phone, p.BankID, p.Date = ModeMobile, q.PhoneNum, q.BankID, max(q.StartDt, now.In(venezuela).Format(time.DateOnly))
		p.Concept = "Pago Movil"
	} else {
		p.Mode, p.AccountID, p.BankID = ModeTransfer, q.AccountID, "0134"
		p.Date = now.In(venezuela).Format(time.DateOnly)
		p.Concept = "Transferencia"
	}
	s.payments = append(s.payments, storedPayment{
		Payment:     p,
		visibleFrom: now.Add(s.cfg.SettleAfter),
		never:       strings.HasSuffix(ref, "0000"), // the demo of a payment that never arrives
	})
}
