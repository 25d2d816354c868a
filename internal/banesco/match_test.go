package banesco

import (
	"strings"
	"testing"
)

// row builds a contract row with overrides; values are raw JSON.
func row(over map[string]string) string {
	fields := []struct{ k, v string }{
		{"referenceNumber", `"000123456"`},
		{"amount", `"1240.00"`},
		{"currencyCode", `"BS "`},
		{"accountId", `"1340************8514"`},
		{"trnDate", `"2026-08-06"`},
		{"trnTime", `"10:30:00"`},
		{"trnType", `"CR"`},
		{"sourceBankId", `"102"`},
		{"destBankId", `"0134"`},
		{"concept", `"  Pago Movil "`},
		{"customerIdBen", `"V-12345678"`},
	}
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		v := f.v
		if o, ok := over[f.k]; ok {
			v = o
		}
		if v == "-" {
			continue
		}
		parts = append(parts, `"`+f.k+`":`+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestQuirksAndMatching runs each reply quirk and each matching rule of
// bank-api.md §2 and §4 over real HTTP.
func TestQuirksAndMatching(t *testing.T) {
	t.Parallel()
	mobile := mobileQuery()
	transfer := transferQuery()
	noAmount := func(q Query) Query { q.Amount = ""; return q }
	withRef := func(q Query, ref string) Query { q.Reference = ref; return q }
	withDate := func(q Query, d string) Query { q.Date = d; return q }
	tests := []struct {
		name       string
		query      Query
		rows       []string
		wantOut    Outcome
		wantReason string
		matches    int // len(Matches); 0 means 1 for Confirmed
		nearMisses int
		check      func(t *testing.T, r *Row)
	}{
		{name: "contract sample row", query: mobile, rows: []string{testRow}, wantOut: Confirmed, check: func(t *testing.T, r *Row) {
			want := Row{ReferenceNumber: "000123456", Amount: "1240.00", CurrencyCode: "BS", AccountID: "1340************8514",
				TrnDate: "2026-08-06", TrnTime: "10:30:00", TrnType: "CR", SourceBankID: "0102", DestBankID: "0134",
				Concept: "Pago Movil", CustomerIDBen: "V-12345678"}
			if *r != want {
				t.Errorf("row\n got %+v\nwant %+v", *r, want)
			}
		}},
		{name: "amount as number 1240", query: mobile, rows: []string{row(map[string]string{"amount": `1240`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "Amount", r.Amount, "1240.00") }},
		{name: "amount as number 1240.0", query: mobile, rows: []string{row(map[string]string{"amount": `1240.0`})}, wantOut: Confirmed},
		{name: "amount string with one decimal", query: withAmount(mobile, "1240.1"), rows: []string{row(map[string]string{"amount": `"1240.1"`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "Amount", r.Amount, "1240.10") }},
		{name: "amount differs by a cent", query: withAmount(mobile, "1240.01"), rows: []string{testRow}, wantOut: AmountMismatch, wantReason: "amount_mismatch"},
		{name: "no queried amount confirms any amount", query: noAmount(mobile), rows: []string{row(map[string]string{"amount": `"5.00"`})}, wantOut: Confirmed},
		{name: "unreadable amount goes to review", query: noAmount(mobile), rows: []string{row(map[string]string{"amount": `"1.240,00"`})}, wantOut: AmountMismatch, wantReason: "amount_unreadable"},
		{name: "reference as number", query: mobile, rows: []string{row(map[string]string{"referenceNumber": `123456`})}, wantOut: Confirmed},
		{name: "reference without zero padding", query: withRef(mobile, "77012345"), rows: []string{row(map[string]string{"referenceNumber": `"12345"`})}, wantOut: Confirmed},
		{name: "reference with padding", query: withRef(mobile, "012345"), rows: []string{row(map[string]string{"referenceNumber": `"0000000012345"`})}, wantOut: Confirmed},
		{name: "mobile: full bank reference, last 6 match", query: withRef(mobile, "123456"), rows: []string{row(map[string]string{"referenceNumber": `"98765123456"`})}, wantOut: Confirmed},
		{name: "mobile: other tail", query: mobile, rows: []string{row(map[string]string{"referenceNumber": `"000123457"`})}, wantOut: NotFound},
		{name: "mobile: reference with letters", query: mobile, rows: []string{row(map[string]string{"referenceNumber": `"A123456"`})}, wantOut: NotFound},
		{name: "mobile: empty reference", query: mobile, rows: []string{row(map[string]string{"referenceNumber": `""`})}, wantOut: NotFound},
		{name: "mobile: missing reference", query: mobile, rows: []string{row(map[string]string{"referenceNumber": `-`})}, wantOut: NotFound},
		// The query starts the day before paid_on and rows run to today (2026-08-06).
		{name: "mobile: booked before the range", query: mobile, rows: []string{row(map[string]string{"trnDate": `"2026-08-04"`})}, wantOut: NotFound},
		{name: "mobile: reported the day after paying", query: mobile, rows: []string{row(map[string]string{"trnDate": `"2026-08-05"`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "TrnDate", r.TrnDate, "2026-08-05") }},
		{name: "mobile: booked the day after paid_on", query: withDate(mobile, "2026-08-05"), rows: []string{row(map[string]string{"trnDate": `"2026-08-06"`})}, wantOut: Confirmed},
		{name: "mobile: booked after today", query: mobile, rows: []string{row(map[string]string{"trnDate": `"2026-08-07"`})}, wantOut: NotFound},
		{name: "mobile: unreadable date", query: mobile, rows: []string{row(map[string]string{"trnDate": `"06/08/2026"`})}, wantOut: NotFound},
		// The row's full reference must agree with every digit the client typed.
		{name: "mobile: full reference contradicts the typed one", query: withRef(mobile, "9955123456"), rows: []string{row(map[string]string{"referenceNumber": `"4455123456"`})}, wantOut: NotFound},
		{name: "mobile: typed only the last digits", query: withRef(mobile, "123456"), rows: []string{row(map[string]string{"referenceNumber": `"4455123456"`})}, wantOut: Confirmed},
		{name: "mobile: typed more digits than the bank shows", query: withRef(mobile, "99004455123456"), rows: []string{row(map[string]string{"referenceNumber": `"4455123456"`})}, wantOut: Confirmed},
		{name: "mobile: a padded row against other leading digits", query: withRef(mobile, "000411100011"), rows: []string{row(map[string]string{"referenceNumber": `"000000100011"`, "trnDate": `"2026-08-06"`})}, wantOut: Confirmed},
		{name: "mobile: same tail, one digit more that differs", query: withRef(mobile, "5123456"), rows: []string{row(map[string]string{"referenceNumber": `"4123456"`})}, wantOut: NotFound},
		{name: "currency other than BS", query: mobile, rows: []string{row(map[string]string{"currencyCode": `"USD"`})}, wantOut: AmountMismatch, wantReason: "currency_mismatch"},
		{name: "currency missing", query: mobile, rows: []string{row(map[string]string{"currencyCode": `-`})}, wantOut: AmountMismatch, wantReason: "currency_mismatch"},
		{name: "currency lower case", query: mobile, rows: []string{row(map[string]string{"currencyCode": `" bs"`})}, wantOut: Confirmed},
		{name: "mobile: date with time suffix", query: mobile, rows: []string{row(map[string]string{"trnDate": `"2026-08-06T00:00:00"`})}, wantOut: Confirmed},
		{name: "transfer: whole reference ignoring padding", query: withRef(transfer, "000987654321"), rows: []string{row(map[string]string{"referenceNumber": `"987654321"`})}, wantOut: Confirmed},
		{name: "transfer: padded reply", query: withRef(transfer, "987654321"), rows: []string{row(map[string]string{"referenceNumber": `"0000987654321"`})}, wantOut: Confirmed},
		{name: "transfer: same last 6, other reference", query: withRef(transfer, "987654321"), rows: []string{row(map[string]string{"referenceNumber": `"111654321"`})}, wantOut: NotFound},
		{name: "transfer: shorter reference", query: withRef(transfer, "987654321"), rows: []string{row(map[string]string{"referenceNumber": `"654321"`})}, wantOut: NotFound},
		{name: "transfer: date is not compared", query: transfer, rows: []string{row(map[string]string{"trnDate": `"2020-01-01"`})}, wantOut: Confirmed},
		{name: "sourceBankId lost its zero", query: mobile, rows: []string{row(map[string]string{"sourceBankId": `"134"`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "SourceBankID", r.SourceBankID, "0134") }},
		{name: "sourceBankId as number", query: mobile, rows: []string{row(map[string]string{"sourceBankId": `102`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "SourceBankID", r.SourceBankID, "0102") }},
		{name: "currency padded", query: mobile, rows: []string{row(map[string]string{"currencyCode": `"BS   "`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "CurrencyCode", r.CurrencyCode, "BS") }},
		{name: "concept stray spaces", query: mobile, rows: []string{row(map[string]string{"concept": `"  Pago   Movil  factura 12 "`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "Concept", r.Concept, "Pago Movil factura 12") }},
		{name: "trnTime with dots", query: mobile, rows: []string{row(map[string]string{"trnTime": `"00.00.00"`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "TrnTime", r.TrnTime, "00:00:00") }},
		{name: "debit row never confirms", query: mobile, rows: []string{row(map[string]string{"trnType": `"DB"`})}, wantOut: NotFound},
		{name: "missing trnType never confirms", query: mobile, rows: []string{row(map[string]string{"trnType": `-`})}, wantOut: NotFound},
		{name: "lower-case cr with spaces", query: mobile, rows: []string{row(map[string]string{"trnType": `" cr "`})}, wantOut: Confirmed},
		{name: "debit beside credit", query: mobile, rows: []string{row(map[string]string{"trnType": `"DB"`, "amount": `"1.00"`}), testRow}, wantOut: Confirmed},
		// One movement shown twice (only trnTime differs, as pago móvil rows do): one match.
		{name: "one movement twice", query: mobile, rows: []string{testRow, row(map[string]string{"trnTime": `"00.00.00"`})}, wantOut: Confirmed, matches: 1},
		{name: "one movement twice, padded and not", query: noAmount(mobile), rows: []string{testRow, row(map[string]string{"referenceNumber": `"123456"`, "amount": `1240`})}, wantOut: Confirmed, matches: 1},
		// The commission case: the payment and its commission share the reference.
		{name: "payment beside its commission", query: mobile, rows: []string{row(map[string]string{"amount": `"12.40"`}), testRow}, wantOut: Confirmed, matches: 1, nearMisses: 1,
			check: func(t *testing.T, r *Row) { eq(t, "Amount", r.Amount, "1240.00") }},
		{name: "commission beside its payment", query: withAmount(mobile, "12.40"), rows: []string{testRow, row(map[string]string{"amount": `"12.40"`})}, wantOut: Confirmed, matches: 1, nearMisses: 1,
			check: func(t *testing.T, r *Row) { eq(t, "Amount", r.Amount, "12.40") }},
		// Two movements with the queried amount: both are candidates, in the bank's order.
		{name: "two movements with the amount", query: mobile, rows: []string{testRow, row(map[string]string{"sourceBankId": `"0105"`})}, wantOut: Confirmed, matches: 2,
			check: func(t *testing.T, r *Row) { eq(t, "SourceBankID", r.SourceBankID, "0102") }},
		{name: "two movements, no amount to tell them apart", query: noAmount(mobile), rows: []string{testRow, row(map[string]string{"amount": `"1.00"`})}, wantOut: Ambiguous, wantReason: "ambiguous_match", matches: 2},
		{name: "two near misses", query: withAmount(mobile, "7.00"), rows: []string{testRow, row(map[string]string{"amount": `"1.00"`})}, wantOut: AmountMismatch, wantReason: "amount_mismatch", nearMisses: 2},
		{name: "non-object rows are skipped", query: mobile, rows: []string{`"junk"`, `42`, `null`, testRow}, wantOut: Confirmed},
		{name: "field of wrong type reads as empty", query: mobile, rows: []string{row(map[string]string{"concept": `{"a":1}`})}, wantOut: Confirmed,
			check: func(t *testing.T, r *Row) { eq(t, "Concept", r.Concept, "") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			body := hitBody(tt.rows...)
			bank.check = func(int64, capturedCheck) reply { return reply{status: 200, body: body} }
			c := newTestClient(t, bank.config())
			v, err := c.Verify(ctxT(t), tt.query)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.Outcome != tt.wantOut || v.Reason != tt.wantReason {
				t.Fatalf("verdict = %s/%q, want %s/%q", v.Outcome, v.Reason, tt.wantOut, tt.wantReason)
			}
			wantMatches, wantNear := tt.matches, tt.nearMisses
			if wantMatches == 0 && v.Outcome == Confirmed {
				wantMatches = 1
			}
			if wantNear == 0 && v.Outcome == AmountMismatch {
				wantNear = 1
			}
			if len(v.Matches) != wantMatches || len(v.NearMisses) != wantNear {
				t.Errorf("%d matches and %d near misses, want %d and %d", len(v.Matches), len(v.NearMisses), wantMatches, wantNear)
			}
			for _, m := range append(append([]Match(nil), v.Matches...), v.NearMisses...) {
				if !strings.Contains(body, string(m.Raw)) || m.Movement.Reference == "" || m.Movement.Reference[0] == '0' {
					t.Errorf("match %+v: raw row not as sent, or reference not stripped of zeros", m.Movement)
				}
			}
			if v.Outcome == Confirmed && string(v.RawRow) != string(v.Matches[0].Raw) {
				t.Errorf("confirmed with %s, not the first match %s", v.RawRow, v.Matches[0].Raw)
			}
			switch v.Outcome {
			case Confirmed, AmountMismatch:
				if v.Row == nil {
					t.Fatal("Row = nil")
				}
				if !strings.Contains(body, string(v.RawRow)) || len(v.RawRow) == 0 || v.RawRow[0] != '{' {
					t.Errorf("RawRow %s is not a row exactly as sent", v.RawRow)
				}
				if tt.check != nil {
					tt.check(t, v.Row)
				}
			case Ambiguous:
				if v.Row != nil || len(v.RawRow) == 0 || v.RawRow[0] != '[' {
					t.Errorf("ambiguous verdict: Row %v, RawRow %s; want nil and an array", v.Row, v.RawRow)
				}
			default:
				if v.Row != nil || v.RawRow != nil {
					t.Errorf("%s verdict carries a row", v.Outcome)
				}
			}
		})
	}
}

// TestRawRowIsVerbatim: the stored bank payload keeps the bank's spacing and types.
func TestRawRowIsVerbatim(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	c := newTestClient(t, bank.config())
	v, err := c.Verify(ctxT(t), mobileQuery())
	if err != nil || v.Outcome != Confirmed {
		t.Fatalf("Verify = %v, %v", v.Outcome, err)
	}
	if string(v.RawRow) != testRow {
		t.Errorf("RawRow\n got %s\nwant %s", v.RawRow, testRow)
	}
	if v.Latency <= 0 {
		t.Errorf("Latency = %s", v.Latency)
	}
}

func withAmount(q Query, a string) Query { q.Amount = a; return q }

func eq(t *testing.T, field, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", field, got, want)
	}
}
