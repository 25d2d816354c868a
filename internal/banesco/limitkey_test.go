package banesco

import (
	"encoding/json"
	"testing"
)

// TestLimitKeyIsWhatTheBankCounts: the key is the referenceNumber the client
// actually sends (read from the request on the wire), with the mode, so two
// transactions share a budget exactly when the bank sees one reference.
func TestLimitKeyIsWhatTheBankCounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"pago móvil: the last 6 digits", Query{Mode: ModeMobile, Reference: "0004455123456", Phone: testPhone, BankID: "0102", Date: "2026-08-06"}, "m:123456"},
		{"pago móvil: other leading digits, same key", Query{Mode: ModeMobile, Reference: "9955123456", Phone: testPhone, BankID: "0102", Date: "2026-08-06"}, "m:123456"},
		{"pago móvil: exactly 6 digits", Query{Mode: ModeMobile, Reference: "123456", Phone: testPhone, BankID: "0102", Date: "2026-08-06"}, "m:123456"},
		{"transfer: without zero padding", Query{Mode: ModeTransfer, Reference: "000987654321"}, "t:987654321"},
		{"transfer: no padding to remove", Query{Mode: ModeTransfer, Reference: "987654321"}, "t:987654321"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := LimitKey(tt.q); got != tt.want {
				t.Fatalf("LimitKey = %q, want %q", got, tt.want)
			}
			bank := newFakeBank(t)
			c := newTestClient(t, bank.config())
			_, _ = c.Verify(ctxT(t), tt.q)
			var body struct {
				DataRequest struct {
					Transaction struct {
						ReferenceNumber string `json:"referenceNumber"`
					} `json:"transaction"`
				} `json:"dataRequest"`
			}
			if err := json.Unmarshal([]byte(bank.lastCheck(t).body), &body); err != nil {
				t.Fatal(err)
			}
			sent := body.DataRequest.Transaction.ReferenceNumber
			if got := LimitKey(tt.q)[2:]; got != sent && tt.q.Mode == ModeMobile {
				t.Errorf("key %q, but the bank was sent referenceNumber %q", got, sent)
			}
			if tt.q.Mode == ModeTransfer && trimZeros(sent) != LimitKey(tt.q)[2:] {
				t.Errorf("key %q, but the bank was sent referenceNumber %q", LimitKey(tt.q), sent)
			}
		})
	}
	if got := LimitKey(Query{Mode: ModeTransfer, Reference: "0000"}); got != "t:0000" {
		t.Errorf("all zeros: %q, want t:0000 (never an empty key)", got)
	}
	if LimitKey(Query{Mode: ModeMobile, Reference: "123456"}) == LimitKey(Query{Mode: ModeTransfer, Reference: "123456"}) {
		t.Error("a pago móvil and a transfer with the same digits share a key; the bank counts them apart")
	}
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
