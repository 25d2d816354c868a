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
	// Confirmed: a CR row matches reference, date and amount (the first of
	// Matches that no other transaction has claimed confirms).
	Confirmed
	// AmountMismatch: one CR row matches but its amount differs (or cannot be
	// read); a person must review it.
	AmountMismatch
	// Ambiguous: several movements match and the query has no amount to tell
	// them apart; unless claims leave only one, a person must review them.
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
	ReasonCurrencyMismatch = "currency_mismatch"
)

// Verdict is the bank's answer to one Verify, already interpreted.
type Verdict struct {
	Outcome Outcome
	Reason  string // "" for Confirmed and NotFound
	Row     *Row   // the matched CR row (Confirmed, AmountMismatch)
	// RawRow is the matched row exactly as the bank sent it, to be stored as
	// the bank payload. For Ambiguous it is a JSON array of the matching rows.
	RawRow json.RawMessage
	// Matches are the CR rows that match the query in full (reference, date
	// and, when the query has one, amount), in the bank's order, one per
	// movement. NearMisses match the reference (and date) but not the amount,
	// or carry an amount we cannot read. Who may claim which movement is
	// decided with the claims in Postgres (internal/transaction), so a movement
	// that already confirmed another transaction confirms nothing here.
	Matches    []Match
	NearMisses []Match
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

// Movement identifies the bank movement behind a row by what the bank gives
// back about it, normalised so that the same payment reads the same whichever
// query found it: reference digits without leading zeros, booking date
// (YYYY-MM-DD), amount ("1240.00"), trnType, source bank (4 digits) and the
// masked account. trnTime is left out: pago móvil rows show "00.00.00" or the
// real time for the same movement.
type Movement struct {
	Reference  string
	Date       string
	Amount     string
	TrnType    string
	SourceBank string
	Account    string
}

// Match is one row that could settle the queried payment.
type Match struct {
	Movement Movement
	Row      Row
	Raw      json.RawMessage // exactly as the bank sent it
	Reason   string          // near misses: ReasonAmountMismatch or ReasonAmountUnreadable
}

// movement is the identity of a decoded row.
func (d decodedRow) movement() Movement {
	return Movement{Reference: stripZeros(d.row.ReferenceNumber), Date: dayOf(d.row.TrnDate), Amount: d.row.Amount,
		TrnType: d.row.TrnType, SourceBank: d.row.SourceBankID, Account: d.row.AccountID}
}

// MovementOf returns the identity of one raw bank row, as matching computes it
// (for checks of stored payloads, e.g. "no movement confirms two transactions").
func MovementOf(raw json.RawMessage) (Movement, bool) {
	d, ok := decodeRow(raw)
	if !ok || !d.amountOK || !isDigits(d.row.ReferenceNumber, 1, 64) {
		return Movement{}, false
	}
	return d.movement(), true
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

// refMatches compares references by digits. Transfer: the whole numbers must
// be equal once leading zeros are ignored. Mobile: the bank was asked by the
// last 6 digits, and its row carries the full reference, which must agree with
// everything the client typed: equal once leading zeros are ignored, or one a
// suffix of the other over at least 6 digits (the bank drops zero padding, so
// a shorter one is padded back to 6). A row whose full reference contradicts
// the typed one ("9955123456" typed, "4455123456" booked) never matches, even
// though both end in the queried 123456. Non-digit references never match.
func refMatches(rowRef string, p preparedQuery) bool {
	if !isDigits(rowRef, 1, 64) {
		return false
	}
	row, typed := stripZeros(rowRef), stripZeros(p.typed)
	if row == typed {
		return true
	}
	if p.mode != ModeMobile {
		return false
	}
	// Leading zeros are ignored on both sides: the bank pads and unpads its
	// references at will, and customers type them with or without zeros.
	short, long := row, typed
	if len(short) > len(long) {
		short, long = long, short
	}
	if len(short) < mobileRefDigits {
		short = strings.Repeat("0", mobileRefDigits-len(short)) + short
	}
	return len(long) >= len(short) && strings.HasSuffix(long, short)
}

func stripZeros(s string) string {
	if t := strings.TrimLeft(s, "0"); t != "" {
		return t
	}
	return "0"
}

// dayOf drops a time suffix from a row date ("2026-08-06T00:00:00").
func dayOf(rowDate string) string {
	if len(rowDate) > 10 && (rowDate[10] == 'T' || rowDate[10] == ' ') {
		return rowDate[:10]
	}
	return rowDate
}

// dateMatches reports whether the row was booked within [from, to], tolerating
// a time suffix. Dates compare as text: both are YYYY-MM-DD.
func dateMatches(rowDate, from, to string) bool {
	d := dayOf(rowDate)
	if _, err := time.Parse(time.DateOnly, d); err != nil {
		return false
	}
	return d >= from && d <= to
}

// match applies bank-api.md §4 to the rows of a 200 reply. A CR row whose
// reference (and, for pago móvil, date) matches is a match when its amount
// equals the queried one (or none was queried), else a near miss. Rows for one
// movement count once. The outcome is what the rows say before claims: one
// match or a queried amount confirms (the first match not yet claimed wins),
// several matches without an amount are ambiguous, near misses alone mean
// review.
func match(rows []json.RawMessage, p preparedQuery) Verdict {
	var v Verdict
	seen := map[Movement]bool{}
	for _, raw := range rows {
		d, ok := decodeRow(raw)
		if !ok || d.row.TrnType != "CR" || !refMatches(d.row.ReferenceNumber, p) {
			continue
		}
		if p.mode == ModeMobile && !dateMatches(d.row.TrnDate, p.from, p.to) {
			continue
		}
		m := Match{Movement: d.movement(), Row: d.row, Raw: append(json.RawMessage(nil), d.raw...)}
		if seen[m.Movement] {
			continue
		}
		seen[m.Movement] = true
		switch {
		case !d.amountOK:
			// We do not understand the row's amount, so we cannot vouch for it.
			m.Reason = ReasonAmountUnreadable
		case p.hasAmt && d.cents != p.cents:
			m.Reason = ReasonAmountMismatch
		case p.currency != "" && !strings.EqualFold(d.row.CurrencyCode, p.currency):
			// Our reference in another currency (or none): not a payment in bolívars.
			m.Reason = ReasonCurrencyMismatch
		}
		if m.Reason == "" {
			v.Matches = append(v.Matches, m)
		} else {
			v.NearMisses = append(v.NearMisses, m)
		}
	}
	switch {
	case len(v.Matches) > 1 && !p.hasAmt:
		// Joined by hand so each row keeps the bank's exact bytes.
		raws := make([][]byte, len(v.Matches))
		for i, m := range v.Matches {
			raws[i] = m.Raw
		}
		v.Outcome, v.Reason = Ambiguous, ReasonAmbiguousMatch
		v.RawRow = append(append([]byte("["), bytes.Join(raws, []byte(","))...), ']')
	case len(v.Matches) > 0:
		v.Outcome, v.Row, v.RawRow = Confirmed, &v.Matches[0].Row, v.Matches[0].Raw
	case len(v.NearMisses) > 0:
		v.Outcome, v.Reason, v.Row, v.RawRow = AmountMismatch, v.NearMisses[0].Reason, &v.NearMisses[0].Row, v.NearMisses[0].Raw
	default:
		v.Outcome = NotFound
	}
	return v
}
