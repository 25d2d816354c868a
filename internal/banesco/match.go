package banesco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Outcome is what the bank's answer means for the payment. The zero value is
// NotFound, so a Verdict read despite an error can at worst reschedule a
// check, never confirm a payment.
type Outcome int

const (
	// NotFound: the bank has no matching CR row (yet); ask again later.
	NotFound Outcome = iota
	// Confirmed: exactly one CR row matches reference, date and amount.
	Confirmed
	// AmountMismatch: one CR row matches but its amount differs (or cannot be
	// read); a person must review it.
	AmountMismatch
	// Ambiguous: several CR rows match; a person must review them.
	Ambiguous
	// Rejected: the bank refused the query (VDE01/VDE02, 70005); see Reason.
	Rejected
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case NotFound:
		return "not_found"
	case Confirmed:
		return "confirmed"
	case AmountMismatch:
		return "amount_mismatch"
	case Ambiguous:
		return "ambiguous"
	case Rejected:
		return "rejected"
	default:
		return fmt.Sprintf("outcome(%d)", int(o))
	}
}

// Reasons carried by non-confirming verdicts. Rejections by input validation
// read "bank_rejected_" + the bank code (bank_rejected_VDE01, ...).
const (
	ReasonAmountMismatch   = "amount_mismatch"
	ReasonAmountUnreadable = "amount_unreadable"
	ReasonAmbiguousMatch   = "ambiguous_match"
	ReasonDateRangeTooWide = "date_range_too_wide"
)

// Verdict is the bank's answer to one Verify, already interpreted.
type Verdict struct {
	Outcome Outcome
	Reason  string // "" for Confirmed and NotFound
	Row     *Row   // the matched CR row (Confirmed, AmountMismatch)
	// RawRow is the matched row exactly as the bank sent it, to be stored as
	// the bank payload. For Ambiguous it is a JSON array of the matching rows.
	RawRow     json.RawMessage
	StatusCode string // bank statusCode as text ("200", "70001", "VDE01"), or the HTTP status without envelope
	HTTPStatus int
	Latency    time.Duration // whole Verify, token and auth retry included
}

// Row is one transaction row, normalised: the bank's quirks are undone here
// so nothing downstream has to know them.
type Row struct {
	ReferenceNumber string // as sent, trimmed
	Amount          string // "1240.00"; the bank's text when unreadable
	CurrencyCode    string // trimmed ("BS " → "BS")
	AccountID       string // masked by the bank
	TrnDate         string // YYYY-MM-DD
	TrnTime         string // HH:MM:SS ("00.00.00" → "00:00:00")
	TrnType         string // "CR" is money in
	SourceBankID    string // re-padded to 4 digits ("134" → "0134")
	DestBankID      string // re-padded to 4 digits
	Concept         string // trimmed, inner runs of spaces collapsed
	CustomerIDBen   string
}

// decodedRow is a Row plus what matching needs.
type decodedRow struct {
	row      Row
	raw      json.RawMessage
	cents    int64
	amountOK bool
}

// decodeRow normalises one raw row. ok is false only when the row is not an
// object; a field of the wrong type just reads as "", which can never match.
func decodeRow(raw json.RawMessage) (decodedRow, bool) {
	fields, ok := objectFields(raw)
	if !ok {
		return decodedRow{}, false
	}
	// Every field may be a string or a number; other types read as "".
	text := func(key string) string {
		s, _ := scalarText(fields[key])
		return strings.TrimSpace(s)
	}
	d := decodedRow{raw: raw, row: Row{
		ReferenceNumber: text("referenceNumber"),
		CurrencyCode:    text("currencyCode"),
		AccountID:       text("accountId"),
		TrnDate:         text("trnDate"),
		TrnTime:         strings.ReplaceAll(text("trnTime"), ".", ":"),
		TrnType:         strings.ToUpper(text("trnType")),
		SourceBankID:    padBankText(text("sourceBankId")),
		DestBankID:      padBankText(text("destBankId")),
		Concept:         strings.Join(strings.Fields(text("concept")), " "),
		CustomerIDBen:   text("customerIdBen"),
	}}
	amount := text("amount")
	if cents, err := parseCents(amount); err == nil {
		d.cents, d.amountOK = cents, true
		d.row.Amount = formatCents(cents)
	} else {
		d.row.Amount = clip(amount)
	}
	return d, true
}

// padBankText re-pads a numeric bank code; anything else is left alone.
func padBankText(s string) string {
	if isDigits(s, 1, 4) {
		return padBank(s)
	}
	return s
}

// refMatches compares references by digits, right-aligned on the queried
// tail. Mobile: the row's last len(tail) digits (zero padded if shorter) must
// equal the 6-digit tail. Transfer: the whole numbers must be equal once
// leading zeros are ignored. Non-digit references never match.
func refMatches(rowRef string, p preparedQuery) bool {
	if !isDigits(rowRef, 1, 64) {
		return false
	}
	if p.mode == ModeMobile {
		if len(rowRef) < len(p.tail) {
			rowRef = strings.Repeat("0", len(p.tail)-len(rowRef)) + rowRef
		}
		return rowRef[len(rowRef)-len(p.tail):] == p.tail
	}
	return stripZeros(rowRef) == stripZeros(p.tail)
}

func stripZeros(s string) string {
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t
	}
	return "0"
}

// dateMatches compares the row date with the queried one, tolerating a time
// suffix ("2026-08-06T00:00:00").
func dateMatches(rowDate, want string) bool {
	if len(rowDate) > 10 && (rowDate[10] == 'T' || rowDate[10] == ' ') {
		rowDate = rowDate[:10]
	}
	return rowDate == want
}

// match applies bank-api.md §4 to the rows of a 200 reply.
func match(rows []json.RawMessage, p preparedQuery) Verdict {
	var hits []decodedRow
	for _, raw := range rows {
		d, ok := decodeRow(raw)
		if !ok || d.row.TrnType != "CR" || !refMatches(d.row.ReferenceNumber, p) {
			continue
		}
		if p.mode == ModeMobile && !dateMatches(d.row.TrnDate, p.date) {
			continue
		}
		hits = append(hits, d)
	}
	switch len(hits) {
	case 0:
		return Verdict{Outcome: NotFound}
	case 1:
	default:
		// Joined by hand so each row keeps the bank's exact bytes.
		raws := make([][]byte, len(hits))
		for i, h := range hits {
			raws[i] = h.raw
		}
		all := append(append([]byte("["), bytes.Join(raws, []byte(","))...), ']')
		return Verdict{Outcome: Ambiguous, Reason: ReasonAmbiguousMatch, RawRow: all}
	}
	h := hits[0]
	v := Verdict{Row: &h.row, RawRow: append(json.RawMessage(nil), h.raw...)}
	switch {
	case !h.amountOK:
		// We do not understand the row's amount, so we cannot vouch for it.
		v.Outcome, v.Reason = AmountMismatch, ReasonAmountUnreadable
	case p.hasAmt && h.cents != p.cents:
		v.Outcome, v.Reason = AmountMismatch, ReasonAmountMismatch
	default:
		v.Outcome = Confirmed
	}
	return v
}
