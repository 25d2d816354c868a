package banksandbox

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"
)

func TestCheckAuthByFlavor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flavor string
		want   int
	}{
		{FlavorQA, http.StatusUnauthorized},
		{FlavorProduction, http.StatusForbidden},
	} {
		t.Run(tt.flavor, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Flavor: tt.flavor})
			expired := b.token(t)
			b.srv.ExpireTokens()
			for name, tok := range map[string]string{"missing": "", "unknown": "not-a-token", "expired": expired} {
				res := b.check(t, tok, mobileQuery())
				if res.status != tt.want {
					t.Fatalf("%s token: HTTP %d, want %d", name, res.status, tt.want)
				}
				if json.Valid(res.body) && len(res.body) > 0 {
					t.Fatalf("%s token: got a JSON envelope %s, want none", name, res.body)
				}
			}
			// Not checks, but arrivals: the bank counts whoever sends toward
			// its limits, so three for one reference break the per-reference one.
			st := b.srv.Stats()
			if st.UnauthorizedChecks != 3 || st.Checks != 0 {
				t.Fatalf("stats %+v: unauthenticated requests must not count as checks", st)
			}
			if st.MaxPerReferenceIn60s != 3 || st.Violations.PerReference != 1 {
				t.Fatalf("stats %+v: unauthenticated requests must count toward the per-reference limit", st)
			}
			arr := b.srv.Arrivals(0)
			if len(arr) != 3 || arr[0].Authorized || arr[0].Reference == "" {
				t.Fatalf("arrivals %+v, want 3 unauthorized arrivals of the reference", arr)
			}
		})
	}
}

func TestCheckHits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    string
		payment Payment
		query   map[string]any
		wantRef string // right-aligned digits the row's reference must end with
	}{
		{"mobile on the QA path", qaCheckPath, mobilePayment(), mobileQuery(), "456789"},
		{"mobile on the production path", prodCheckPath, mobilePayment(), mobileQuery(), "456789"},
		{"transfer", qaCheckPath, transferPayment(), transferQuery(), "987654321"},
		{"transfer, reference as a number", prodCheckPath, transferPayment(),
			map[string]any{"referenceNumber": json.Number("987654321"), "bankId": "0134", "accountId": merchant}, "987654321"},
		{"mobile, phone registered with 58", qaCheckPath,
			Payment{Reference: "456789", Amount: "1", Phone: "584141234567", BankID: "0102", Date: "2026-08-06"},
			mobileQuery(), "456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{})
			b.srv.AddPayment(tt.payment)
			res := b.checkAt(t, tt.path, b.token(t), tt.query)
			wantStatus(t, res, http.StatusOK)
			if code := res.statusCode(t); code != "200" {
				t.Fatalf("statusCode %s, want 200", code)
			}
			rows := res.rows(t)
			if len(rows) != 1 {
				t.Fatalf("%d rows, want 1: %s", len(rows), res.body)
			}
			if ref := rows[0]["referenceNumber"].(string); trimZeros(ref) != trimZeros(tt.wantRef) &&
				referenceTail(ref, len(tt.wantRef)) != tt.wantRef {
				t.Fatalf("referenceNumber %q, want it to end in %s", ref, tt.wantRef)
			}
		})
	}
}

func TestCheckReturnsEveryMatchingRow(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	p := mobilePayment()
	b.srv.AddPayment(p)
	b.srv.AddPayment(p) // the same reference twice: an ambiguous match
	p.TrnType = "DB"
	b.srv.AddPayment(p)
	other := mobilePayment()
	other.Date = "2026-08-07" // another day: not a match
	b.srv.AddPayment(other)

	rows := b.check(t, b.token(t), mobileQuery()).rows(t)
	types := map[string]int{}
	for _, r := range rows {
		types[r["trnType"].(string)]++
	}
	if want := map[string]int{"CR": 2, "DB": 1}; !maps.Equal(types, want) {
		t.Fatalf("rows by trnType %v, want %v", types, want)
	}
}

func TestCheckNoResults(t *testing.T) {
	t.Parallel()
	full := mobileQuery()
	without := func(field string) map[string]any {
		q := maps.Clone(full)
		delete(q, field)
		return q
	}
	with := func(q map[string]any, field string, v any) map[string]any {
		q = maps.Clone(q)
		q[field] = v
		return q
	}
	tests := []struct {
		name  string
		query map[string]any
	}{
		{"mobile without reference", without("referenceNumber")},
		{"mobile without phone", without("phoneNum")},
		{"mobile without bank", without("bankId")},
		{"mobile without date", without("startDt")},
		{"mobile with the whole reference", with(full, "referenceNumber", "000123456789")},
		{"mobile with an 11-digit phone", with(full, "phoneNum", "04141234567")},
		{"mobile starting after the payment day", with(full, "startDt", "2026-08-07")},
		{"transfer without bankId", func() map[string]any { q := transferQuery(); delete(q, "bankId"); return q }()},
		{"transfer with another bankId", with(transferQuery(), "bankId", "0102")},
		{"transfer with startDt", with(transferQuery(), "startDt", "2026-08-06")},
		{"transfer to another account", with(transferQuery(), "accountId", "01340000000000000001")},
		{"unknown reference", with(full, "referenceNumber", "111111")},
	}
	for _, flavor := range []struct {
		name string
		want int
	}{{FlavorQA, http.StatusOK}, {FlavorProduction, http.StatusBadRequest}} {
		t.Run(flavor.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Flavor: flavor.name, PerReferencePerMinute: 100})
			b.srv.AddPayment(mobilePayment())
			b.srv.AddPayment(transferPayment())
			tok := b.token(t)
			for _, tt := range tests {
				res := b.check(t, tok, tt.query)
				if res.status != flavor.want {
					t.Fatalf("%s: HTTP %d, want %d; %s", tt.name, res.status, flavor.want, res.body)
				}
				m := res.json(t)
				hs := m["httpStatus"].(map[string]any)
				if hs["statusCode"] != "70001" || hs["statusDesc"] != "Consulta sin resultados" || m["dataResponse"] != nil {
					t.Fatalf("%s: reply %s, want 70001 with null dataResponse", tt.name, res.body)
				}
			}
			if got := b.srv.Stats().RepliesByCode["70001"]; got != len(tests) {
				t.Fatalf("70001 replies %d, want %d", got, len(tests))
			}
		})
	}
}

func TestCheckInvalidInput(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.srv.AddPayment(transferPayment())
	tok := b.token(t)

	for name, account := range map[string]string{
		"masked": "1340************8514",
		"short":  "0134000000008514",
	} {
		q := transferQuery()
		q["accountId"] = account
		res := b.check(t, tok, q)
		wantStatus(t, res, http.StatusBadRequest)
		if code := res.statusCode(t); code != "VDE01" {
			t.Fatalf("%s account: statusCode %s, want VDE01", name, code)
		}
	}

	for name, raw := range map[string]string{
		"truncated JSON": `{"dataRequest":{"transaction":{"referenceNumber":"1`,
		"no dataRequest": `{"transaction":{}}`,
		"not even JSON":  `referenceNumber=123456`,
		"wrong type":     `{"dataRequest":{"transaction":{"referenceNumber":true}}}`,
	} {
		res := b.send(t, qaCheckPath, tok, raw)
		wantStatus(t, res, http.StatusBadRequest)
		if code := res.statusCode(t); code != "VDE02" {
			t.Fatalf("%s: statusCode %s, want VDE02", name, code)
		}
	}
}

func TestCheckQuirks(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PerReferencePerMinute: 100})
	p := mobilePayment()
	p.Amount = "1240.50"
	p.Concept = "Pago factura 12"
	p.CustomerIDBen = "V-9876543"
	p.AccountID = merchant
	b.srv.AddPayment(p)
	tok := b.token(t)

	seen := map[string]bool{}
	for range 6 {
		res := b.check(t, tok, mobileQuery())
		m := res.json(t)
		switch m["httpStatus"].(map[string]any)["statusCode"].(type) {
		case string:
			seen["statusCode string"] = true
		case json.Number:
			seen["statusCode number"] = true
		}
		row := res.rows(t)[0]
		switch a := row["amount"].(type) {
		case string:
			if a != "1240.50" {
				t.Fatalf("amount %q, want 1240.50", a)
			}
			seen["amount string"] = true
		case json.Number:
			if a != "1240.5" && a != "1240.50" {
				t.Fatalf("amount %s, want 1240.5 or 1240.50", a)
			}
			seen["amount number"] = true
		}
		ref := row["referenceNumber"].(string)
		seen["reference padded"] = seen["reference padded"] || len(ref) > len("123456789")
		seen["reference unpadded"] = seen["reference unpadded"] || ref == "123456789"
		seen["source bank without zero"] = seen["source bank without zero"] || row["sourceBankId"] == "102"
		seen["trnTime 00.00.00"] = seen["trnTime 00.00.00"] || row["trnTime"] == "00.00.00"

		for field, want := range map[string]string{
			"currencyCode":  "BS ",
			"concept":       "  Pago factura 12 ",
			"accountId":     "1340************8514",
			"customerIdBen": "V-9876543",
			"trnDate":       "2026-08-06",
			"trnType":       "CR",
			"destBankId":    "0134",
		} {
			if row[field] != want {
				t.Fatalf("%s %q, want %q", field, row[field], want)
			}
		}
	}
	for _, quirk := range []string{
		"statusCode string", "statusCode number", "amount string", "amount number",
		"reference padded", "reference unpadded", "source bank without zero", "trnTime 00.00.00",
	} {
		if !seen[quirk] {
			t.Errorf("quirk %q never seen in 6 replies", quirk)
		}
	}
}

func TestAmountsAreExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		cents         int64
		text, trimmed string
	}{
		{"1240", 124000, "1240.00", "1240"},
		{"1240.5", 124050, "1240.50", "1240.5"},
		{"0.07", 7, "0.07", "0.07"},
		{"999999999999.99", 99999999999999, "999999999999.99", "999999999999.99"},
	}
	for _, tt := range tests {
		c, ok := parseCents(tt.in)
		if !ok || c != tt.cents || formatCents(c) != tt.text || trimmedAmount(c) != tt.trimmed {
			t.Errorf("%s: %d %v %q %q, want %d %q %q", tt.in, c, ok, formatCents(c), trimmedAmount(c), tt.cents, tt.text, tt.trimmed)
		}
	}
	for _, bad := range []string{"", "1.234", "-1", "1e3", "1,5", ".5"} {
		if _, ok := parseCents(bad); ok {
			t.Errorf("parseCents(%q) accepted", bad)
		}
	}
}
