package transaction_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
)

// validClock is 2026-11-23 02:00 UTC: still 2026-11-22 (22:00) in Caracas, so
// "today" for paid_on is the 22nd and the 23rd is in the future.
var validClock = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// validRequest is the example body of docs/api.md.
func validRequest() transaction.CreateRequest {
	return transaction.CreateRequest{
		TransactionID: "ORD-1001", Bank: "MOBILE_TRANSFER", TransactionType: "TRANSACTION",
		Reference: "000123456789", Amount: ptr("1240.00"), PayerBankCode: "0102", PaidOn: "2026-11-22",
		Customer: transaction.CustomerRequest{FullName: "Ana Pérez", Phone: "04141234567",
			NationalID: "V12345678", Concept: ptr("Consulta")},
	}
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *transaction.CreateRequest)
		fields []string
	}{
		{"transaction_id empty", func(r *transaction.CreateRequest) { r.TransactionID = "" }, []string{"transaction_id"}},
		{"transaction_id space", func(r *transaction.CreateRequest) { r.TransactionID = "ORD 1" }, []string{"transaction_id"}},
		{"transaction_id dot", func(r *transaction.CreateRequest) { r.TransactionID = "ORD.1" }, []string{"transaction_id"}},
		{"transaction_id quote", func(r *transaction.CreateRequest) { r.TransactionID = "x' OR 1=1 --" }, []string{"transaction_id"}},
		{"transaction_id accent", func(r *transaction.CreateRequest) { r.TransactionID = "ORDÉ" }, []string{"transaction_id"}},
		{"transaction_id newline", func(r *transaction.CreateRequest) { r.TransactionID = "ORD\n" }, []string{"transaction_id"}},
		{"transaction_id 101", func(r *transaction.CreateRequest) { r.TransactionID = strings.Repeat("a", 101) }, []string{"transaction_id"}},
		{"bank empty", func(r *transaction.CreateRequest) { r.Bank = "" }, []string{"bank"}},
		{"bank lower", func(r *transaction.CreateRequest) { r.Bank = "banesco" }, []string{"bank"}},
		{"bank other", func(r *transaction.CreateRequest) { r.Bank = "MERCANTIL" }, []string{"bank"}},
		{"type other", func(r *transaction.CreateRequest) { r.TransactionType = "REFUND" }, []string{"transaction_type"}},
		{"type lower", func(r *transaction.CreateRequest) { r.TransactionType = "commission" }, []string{"transaction_type"}},
		{"reference empty", func(r *transaction.CreateRequest) { r.Reference = "" }, []string{"reference"}},
		{"reference 5 digits", func(r *transaction.CreateRequest) { r.Reference = "12345" }, []string{"reference"}},
		{"reference 21 digits", func(r *transaction.CreateRequest) { r.Reference = strings.Repeat("1", 21) }, []string{"reference"}},
		{"reference letters", func(r *transaction.CreateRequest) { r.Reference = "12345A" }, []string{"reference"}},
		{"reference arabic-indic digits", func(r *transaction.CreateRequest) { r.Reference = "١٢٣٤٥٦" }, []string{"reference"}},
		{"amount zero", func(r *transaction.CreateRequest) { r.Amount = ptr("0") }, []string{"amount"}},
		{"amount zero decimals", func(r *transaction.CreateRequest) { r.Amount = ptr("0.00") }, []string{"amount"}},
		{"amount negative", func(r *transaction.CreateRequest) { r.Amount = ptr("-1") }, []string{"amount"}},
		{"amount 3 decimals", func(r *transaction.CreateRequest) { r.Amount = ptr("1.234") }, []string{"amount"}},
		{"amount letters", func(r *transaction.CreateRequest) { r.Amount = ptr("abc") }, []string{"amount"}},
		{"amount empty", func(r *transaction.CreateRequest) { r.Amount = ptr("") }, []string{"amount"}},
		{"amount exponent", func(r *transaction.CreateRequest) { r.Amount = ptr("1e3") }, []string{"amount"}},
		{"amount comma", func(r *transaction.CreateRequest) { r.Amount = ptr("1240,00") }, []string{"amount"}},
		{"amount trailing dot", func(r *transaction.CreateRequest) { r.Amount = ptr("1240.") }, []string{"amount"}},
		{"amount leading dot", func(r *transaction.CreateRequest) { r.Amount = ptr(".5") }, []string{"amount"}},
		{"amount too large for numeric(15,2)", func(r *transaction.CreateRequest) { r.Amount = ptr("12345678901234") }, []string{"amount"}},
		{"payer_bank_code 3 digits", func(r *transaction.CreateRequest) { r.PayerBankCode = "102" }, []string{"payer_bank_code"}},
		{"payer_bank_code 5 digits", func(r *transaction.CreateRequest) { r.PayerBankCode = "01020" }, []string{"payer_bank_code"}},
		{"payer_bank_code letters", func(r *transaction.CreateRequest) { r.PayerBankCode = "01A2" }, []string{"payer_bank_code"}},
		{"paid_on not a date", func(r *transaction.CreateRequest) { r.PaidOn = "22/11/2026" }, []string{"paid_on"}},
		{"paid_on impossible", func(r *transaction.CreateRequest) { r.PaidOn = "2026-02-30" }, []string{"paid_on"}},
		{"paid_on with time", func(r *transaction.CreateRequest) { r.PaidOn = "2026-11-22T10:00:00Z" }, []string{"paid_on"}},
		{"paid_on tomorrow in Caracas (today in UTC)", func(r *transaction.CreateRequest) { r.PaidOn = "2026-11-23" }, []string{"paid_on"}},
		{"paid_on next year", func(r *transaction.CreateRequest) { r.PaidOn = "2027-01-01" }, []string{"paid_on"}},
		{"full_name empty", func(r *transaction.CreateRequest) { r.Customer.FullName = "" }, []string{"customer.full_name"}},
		{"full_name one letter", func(r *transaction.CreateRequest) { r.Customer.FullName = "A" }, []string{"customer.full_name"}},
		{"full_name spaces only", func(r *transaction.CreateRequest) { r.Customer.FullName = "     " }, []string{"customer.full_name"}},
		{"full_name digits", func(r *transaction.CreateRequest) { r.Customer.FullName = "Ana P3rez" }, []string{"customer.full_name"}},
		{"full_name script", func(r *transaction.CreateRequest) { r.Customer.FullName = "<script>alert(1)</script>" }, []string{"customer.full_name"}},
		{"full_name sql", func(r *transaction.CreateRequest) { r.Customer.FullName = "Ana' OR 1=1 --" }, []string{"customer.full_name"}},
		{"full_name one letter and punctuation", func(r *transaction.CreateRequest) { r.Customer.FullName = "A-'" }, []string{"customer.full_name"}},
		{"full_name 256", func(r *transaction.CreateRequest) { r.Customer.FullName = strings.Repeat("a", 256) }, []string{"customer.full_name"}},
		{"phone empty", func(r *transaction.CreateRequest) { r.Customer.Phone = "" }, []string{"customer.phone"}},
		{"phone bad operator", func(r *transaction.CreateRequest) { r.Customer.Phone = "04151234567" }, []string{"customer.phone"}},
		{"phone landline", func(r *transaction.CreateRequest) { r.Customer.Phone = "02121234567" }, []string{"customer.phone"}},
		{"phone short", func(r *transaction.CreateRequest) { r.Customer.Phone = "0414123456" }, []string{"customer.phone"}},
		{"phone long", func(r *transaction.CreateRequest) { r.Customer.Phone = "041412345678" }, []string{"customer.phone"}},
		{"phone international", func(r *transaction.CreateRequest) { r.Customer.Phone = "+584141234567" }, []string{"customer.phone"}},
		{"phone dashes", func(r *transaction.CreateRequest) { r.Customer.Phone = "0414-1234567" }, []string{"customer.phone"}},
		{"national_id empty", func(r *transaction.CreateRequest) { r.Customer.NationalID = "" }, []string{"customer.national_id"}},
		{"national_id J", func(r *transaction.CreateRequest) { r.Customer.NationalID = "J12345678" }, []string{"customer.national_id"}},
		{"national_id no letter", func(r *transaction.CreateRequest) { r.Customer.NationalID = "12345678" }, []string{"customer.national_id"}},
		{"national_id 3 digits", func(r *transaction.CreateRequest) { r.Customer.NationalID = "V123" }, []string{"customer.national_id"}},
		{"national_id 10 digits", func(r *transaction.CreateRequest) { r.Customer.NationalID = "V1234567890" }, []string{"customer.national_id"}},
		{"national_id dash", func(r *transaction.CreateRequest) { r.Customer.NationalID = "V-12345678" }, []string{"customer.national_id"}},
		{"concept 501", func(r *transaction.CreateRequest) { r.Customer.Concept = ptr(strings.Repeat("x", 501)) }, []string{"customer.concept"}},
		{"concept 501 accented", func(r *transaction.CreateRequest) { r.Customer.Concept = ptr(strings.Repeat("é", 501)) }, []string{"customer.concept"}},
		{"concept invalid utf-8", func(r *transaction.CreateRequest) { r.Customer.Concept = ptr("a\xffb") }, []string{"customer.concept"}},
		{"concept NUL", func(r *transaction.CreateRequest) { r.Customer.Concept = ptr("a\x00b") }, []string{"customer.concept"}},
		{"several at once", func(r *transaction.CreateRequest) {
			r.TransactionID = ""
			r.Bank = "X"
			r.Reference = "1"
			r.Amount = ptr("-1")
			r.Customer.Phone = "1"
			r.Customer.NationalID = "X1"
		}, []string{"amount", "bank", "customer.national_id", "customer.phone", "reference", "transaction_id"}},
		{"everything wrong", func(r *transaction.CreateRequest) {
			*r = transaction.CreateRequest{TransactionType: "X", Amount: ptr("x"), PayerBankCode: "x", PaidOn: "x",
				Customer: transaction.CustomerRequest{Concept: ptr(strings.Repeat("x", 600))}}
		}, []string{"amount", "bank", "customer.concept", "customer.full_name", "customer.national_id", "customer.phone",
			"paid_on", "payer_bank_code", "reference", "transaction_id", "transaction_type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.mutate(&r)
			n, fields := r.Validate(validClock)
			got := slices.Sorted(maps.Keys(fields))
			if !slices.Equal(got, tt.fields) {
				t.Fatalf("fields = %v, want %v (%v)", got, tt.fields, fields)
			}
			for k, msg := range fields {
				if msg == "" {
					t.Errorf("field %s has an empty message", k)
				}
			}
			if n.TransactionID != "" || n.Hash != nil {
				t.Errorf("an invalid request returned a NewTransaction: %+v", n)
			}
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(r *transaction.CreateRequest)
		check  func(t *testing.T, n transaction.NewTransaction)
	}{
		{"defaults: type, bank code, paid_on today in Caracas, no amount, no concept", func(r *transaction.CreateRequest) {
			r.TransactionType, r.PayerBankCode, r.PaidOn, r.Amount, r.Customer.Concept = "", "", "", nil, nil
		}, func(t *testing.T, n transaction.NewTransaction) {
			wantEq(t, "transaction_type", n.TransactionType, "TRANSACTION")
			wantEq(t, "payer_bank_code", n.PayerBankCode, "0134")
			wantEq(t, "paid_on", n.PaidOn.Format(time.DateOnly), "2026-11-22")
			wantEq(t, "amount", n.Amount, "")
			if n.Concept != nil {
				t.Errorf("concept = %q, want nil", *n.Concept)
			}
		}},
		{"paid_on today in Caracas accepted", func(r *transaction.CreateRequest) { r.PaidOn = "2026-11-22" },
			func(t *testing.T, n transaction.NewTransaction) {
				wantEq(t, "paid_on", n.PaidOn.Format(time.DateOnly), "2026-11-22")
			}},
		{"paid_on in the past", func(r *transaction.CreateRequest) { r.PaidOn = "2020-02-29" },
			func(t *testing.T, n transaction.NewTransaction) {
				wantEq(t, "paid_on", n.PaidOn.Format(time.DateOnly), "2020-02-29")
			}},
		{"amount integer", func(r *transaction.CreateRequest) { r.Amount = ptr("1240") },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "amount", n.Amount, "1240.00") }},
		{"amount one decimal", func(r *transaction.CreateRequest) { r.Amount = ptr("1240.5") },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "amount", n.Amount, "1240.50") }},
		{"amount smallest", func(r *transaction.CreateRequest) { r.Amount = ptr("0.01") },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "amount", n.Amount, "0.01") }},
		{"amount leading zeros", func(r *transaction.CreateRequest) { r.Amount = ptr("0012.5") },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "amount", n.Amount, "12.50") }},
		{"amount largest", func(r *transaction.CreateRequest) { r.Amount = ptr("9999999999999.99") },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "amount", n.Amount, "9999999999999.99") }},
		{"type commission", func(r *transaction.CreateRequest) { r.TransactionType = "COMMISSION" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "type", n.TransactionType, "COMMISSION") }},
		{"bank banesco", func(r *transaction.CreateRequest) { r.Bank = "BANESCO" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "bank", n.Bank, "BANESCO") }},
		{"reference 6 digits", func(r *transaction.CreateRequest) { r.Reference = "123456" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "reference", n.Reference, "123456") }},
		{"reference 20 digits", func(r *transaction.CreateRequest) { r.Reference = strings.Repeat("9", 20) },
			func(t *testing.T, n transaction.NewTransaction) {
				wantEq(t, "reference", n.Reference, strings.Repeat("9", 20))
			}},
		{"transaction_id 100", func(r *transaction.CreateRequest) { r.TransactionID = strings.Repeat("a_-Z9", 20) },
			func(t *testing.T, n transaction.NewTransaction) {
				wantEq(t, "transaction_id", n.TransactionID, strings.Repeat("a_-Z9", 20))
			}},
		{"name title case with accents, apostrophes, hyphens, extra spaces", func(r *transaction.CreateRequest) {
			r.Customer.FullName = "  ana   maría o'neil-pérez  "
		}, func(t *testing.T, n transaction.NewTransaction) {
			wantEq(t, "full_name", n.FullName, "Ana María O'Neil-Pérez")
		}},
		{"name upper case", func(r *transaction.CreateRequest) { r.Customer.FullName = "JOSÉ ÑÁÑEZ" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "full_name", n.FullName, "José Ñáñez") }},
		{"name typographic apostrophe", func(r *transaction.CreateRequest) { r.Customer.FullName = "d’angelo" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "full_name", n.FullName, "D’Angelo") }},
		{"name two letters", func(r *transaction.CreateRequest) { r.Customer.FullName = "lu" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "full_name", n.FullName, "Lu") }},
		{"name 255", func(r *transaction.CreateRequest) { r.Customer.FullName = strings.Repeat("a", 255) },
			func(t *testing.T, n transaction.NewTransaction) {
				wantEq(t, "full_name", n.FullName, "A"+strings.Repeat("a", 254))
			}},
		{"national_id lower case stored upper", func(r *transaction.CreateRequest) { r.Customer.NationalID = "e1234" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "national_id", n.NationalID, "E1234") }},
		{"national_id 9 digits", func(r *transaction.CreateRequest) { r.Customer.NationalID = "v123456789" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "national_id", n.NationalID, "V123456789") }},
		{"every phone operator", func(r *transaction.CreateRequest) { r.Customer.Phone = "04261234567" },
			func(t *testing.T, n transaction.NewTransaction) { wantEq(t, "phone", n.Phone, "04261234567") }},
		{"concept 500 accented, trimmed", func(r *transaction.CreateRequest) {
			r.Customer.Concept = ptr("  " + strings.Repeat("é", 500) + "  ")
		}, func(t *testing.T, n transaction.NewTransaction) {
			wantEq(t, "concept", *n.Concept, strings.Repeat("é", 500))
		}},
		{"concept kept literally", func(r *transaction.CreateRequest) {
			r.Customer.Concept = ptr(`<script>alert(1)</script>' OR 1=1 --`)
		}, func(t *testing.T, n transaction.NewTransaction) {
			wantEq(t, "concept", *n.Concept, `<script>alert(1)</script>' OR 1=1 --`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.mutate(&r)
			n, fields := r.Validate(validClock)
			if fields != nil {
				t.Fatalf("unexpected fields %v", fields)
			}
			if len(n.Hash) != 32 {
				t.Errorf("hash is %d bytes, want a SHA-256", len(n.Hash))
			}
			tt.check(t, n)
		})
	}
}

// TestValidatePaidOnDefaultFollowsCaracas pins "today" to the Caracas calendar
// around both midnights.
func TestValidatePaidOnDefaultFollowsCaracas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 11, 23, 3, 59, 59, 0, time.UTC), "2026-11-22"},
		{time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC), "2026-11-23"},
		{time.Date(2026, 11, 22, 23, 0, 0, 0, time.FixedZone("CET", 3600)), "2026-11-22"},
		{time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC), "2026-12-31"},
	}
	for _, tt := range tests {
		t.Run(tt.now.String(), func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			r.PaidOn = ""
			n, fields := r.Validate(tt.now)
			if fields != nil {
				t.Fatalf("fields %v", fields)
			}
			wantEq(t, "paid_on", n.PaidOn.Format(time.DateOnly), tt.want)

			// The same day sent explicitly is accepted; the next one is the future.
			r.PaidOn = tt.want
			if _, fields := r.Validate(tt.now); fields != nil {
				t.Errorf("paid_on %s (today) refused: %v", tt.want, fields)
			}
			d, _ := time.Parse(time.DateOnly, tt.want)
			r.PaidOn = d.AddDate(0, 0, 1).Format(time.DateOnly)
			if _, fields := r.Validate(tt.now); fields["paid_on"] == "" {
				t.Errorf("paid_on %s (tomorrow) accepted", r.PaidOn)
			}
		})
	}
}

// TestValidateHash: the idempotency hash is equal for requests that normalise
// alike and differs when any stored field differs.
func TestValidateHash(t *testing.T) {
	t.Parallel()
	base, _ := validRequest().Validate(validClock)
	tests := []struct {
		name   string
		mutate func(r *transaction.CreateRequest)
		same   bool
	}{
		{"identical", func(r *transaction.CreateRequest) {}, true},
		{"amount written differently", func(r *transaction.CreateRequest) { r.Amount = ptr("1240") }, true},
		{"name case and spacing", func(r *transaction.CreateRequest) { r.Customer.FullName = " ana  pérez " }, true},
		{"national_id case", func(r *transaction.CreateRequest) { r.Customer.NationalID = "v12345678" }, true},
		{"other amount", func(r *transaction.CreateRequest) { r.Amount = ptr("1240.01") }, false},
		{"no amount", func(r *transaction.CreateRequest) { r.Amount = nil }, false},
		{"other reference", func(r *transaction.CreateRequest) { r.Reference = "000123456780" }, false},
		{"other phone", func(r *transaction.CreateRequest) { r.Customer.Phone = "04121234567" }, false},
		{"other concept", func(r *transaction.CreateRequest) { r.Customer.Concept = ptr("Otro") }, false},
		{"no concept", func(r *transaction.CreateRequest) { r.Customer.Concept = nil }, false},
		{"other type", func(r *transaction.CreateRequest) { r.TransactionType = "OTHER" }, false},
		{"other bank", func(r *transaction.CreateRequest) { r.Bank = "BANESCO" }, false},
		{"other paid_on", func(r *transaction.CreateRequest) { r.PaidOn = "2026-11-21" }, false},
		{"other transaction_id", func(r *transaction.CreateRequest) { r.TransactionID = "ORD-1002" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := validRequest()
			tt.mutate(&r)
			n, fields := r.Validate(validClock)
			if fields != nil {
				t.Fatalf("fields %v", fields)
			}
			if same := string(n.Hash) == string(base.Hash); same != tt.same {
				t.Errorf("same hash = %v, want %v", same, tt.same)
			}
		})
	}
}

func wantEq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// TestDefuseCell: cells a spreadsheet would evaluate get a leading
// apostrophe; every other cell is left exactly as it is.
func TestDefuseCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+58": "'+58", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"": "", "1240.00": "1240.00", "Ana": "Ana", "'quoted": "'quoted", "a=b": "a=b", " =x": " =x",
	} {
		if got := transaction.DefuseCell(in); got != want {
			t.Errorf("DefuseCell(%q) = %q, want %q", in, got, want)
		}
	}
}
