package transaction

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// FuzzCreateBody feeds arbitrary bodies through the API's strict decoder and the
// validator: they must never panic, and whatever they accept must obey every
// rule of docs/api.md after normalisation.
func FuzzCreateBody(f *testing.F) {
	seeds := []string{
		`{"transaction_id":"ORD-1001","bank":"MOBILE_TRANSFER","transaction_type":"TRANSACTION","reference":"000123456789","amount":"1240.00","payer_bank_code":"0102","paid_on":"2026-11-22","customer":{"full_name":"Ana Pérez","phone":"04141234567","national_id":"V12345678","concept":"Consulta"}}`,
		`{"transaction_id":"a","bank":"BANESCO","reference":"123456","customer":{"full_name":"o'neil-smith","phone":"04241234567","national_id":"e1234"}}`,
		`{"transaction_id":"x","bank":"BANESCO","reference":"123456","amount":"0.01","customer":{"full_name":"Jo","phone":"04121234567","national_id":"V1234"}}`,
		`{"transaction_id":"x","bank":"BANESCO","reference":"123456","amount":1240,"customer":{}}`,
		`{"transaction_id":"' OR 1=1 --","bank":"<script>","reference":"1e6","customer":{"full_name":"\u0000"}}`,
		`{"amount":"9999999999999.99"}`, `[]`, `null`, `{"customer":[]}`, `{"transaction_id":"ÿ"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	amount := regexp.MustCompile(`^(0|[1-9]\d{0,12})\.\d{2}$`)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CreateRequest
		if err := httpserver.Decode(body, &req); err != nil {
			return
		}
		n, fields := req.Validate(now)
		if fields != nil {
			if len(fields) == 0 {
				t.Fatal("an empty field map means accepted")
			}
			return
		}
		switch {
		case !reTransactionID.MatchString(n.TransactionID):
			t.Fatalf("accepted transaction_id %q", n.TransactionID)
		case n.Bank != BankBanesco && n.Bank != BankMobileTransfer:
			t.Fatalf("accepted bank %q", n.Bank)
		case !reReference.MatchString(n.Reference):
			t.Fatalf("accepted reference %q", n.Reference)
		case n.Amount != "" && (!amount.MatchString(n.Amount) || n.Amount == "0.00"):
			t.Fatalf("accepted amount %q", n.Amount)
		case !reBankCode.MatchString(n.PayerBankCode):
			t.Fatalf("accepted payer_bank_code %q", n.PayerBankCode)
		case n.PaidOn.After(dateIn(now, Caracas)):
			t.Fatalf("accepted a future paid_on %s", n.PaidOn)
		case !rePhone.MatchString(n.Phone):
			t.Fatalf("accepted phone %q", n.Phone)
		case !reNationalID.MatchString(n.NationalID):
			t.Fatalf("accepted national_id %q", n.NationalID)
		case n.Concept != nil && utf8.RuneCountInString(*n.Concept) > 500:
			t.Fatalf("accepted a concept of %d characters", utf8.RuneCountInString(*n.Concept))
		case len(n.Hash) != 32:
			t.Fatal("accepted without a request hash")
		}
		name := []rune(n.FullName)
		if len(name) < 2 || len(name) > 255 || strings.Contains(n.FullName, "  ") || strings.TrimSpace(n.FullName) != n.FullName {
			t.Fatalf("accepted full_name %q", n.FullName)
		}
		for i, r := range name {
			if !(unicode.IsLetter(r) || r == ' ' || r == '\'' || r == '’' || r == '-') {
				t.Fatalf("accepted full_name %q with %q", n.FullName, r)
			}
			if unicode.IsLetter(r) && (i == 0 || strings.ContainsRune(" '’-", name[i-1])) && unicode.IsLower(r) {
				t.Fatalf("full_name %q is not title case", n.FullName)
			}
		}
	})
}
