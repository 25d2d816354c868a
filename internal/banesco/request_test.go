package banesco

import (
	"testing"
)

func TestRequestBodyExactShape(t *testing.T) {
	t.Parallel()
	const device = `"device":{"type":"Server","description":"verifier","ipAddress":"10.0.0.1"},"securityAuth":{"sessionId":""}`
	tests := []struct {
		name  string
		query Query
		cfg   func(*Config)
		want  string
	}{
		{
			name:  "mobile sends last 6 digits, 58 phone, bank, date and amount literal, no account",
			query: Query{Mode: ModeMobile, Reference: "0012345123456", Phone: "04143125566", BankID: "0102", Date: "2026-08-06", Amount: "1240"},
			want:  `{"dataRequest":{` + device + `,"transaction":{"referenceNumber":"123456","phoneNum":"584143125566","bankId":"0102","startDt":"2026-08-05","amount":1240.00}}}`,
		},
		{
			name:  "mobile without amount, short bank code padded",
			query: Query{Mode: ModeMobile, Reference: "123456", Phone: "0414 312 5566", BankID: "134", Date: "2026-08-06"},
			want:  `{"dataRequest":{` + device + `,"transaction":{"referenceNumber":"123456","phoneNum":"584143125566","bankId":"0134","startDt":"2026-08-05"}}}`,
		},
		{
			name:  "transfer sends whole reference and account, never a date or phone",
			query: Query{Mode: ModeTransfer, Reference: "000987654321", Phone: "04143125566", BankID: "0134", Date: "2026-08-06", Amount: "1240.1"},
			want:  `{"dataRequest":{` + device + `,"transaction":{"referenceNumber":"000987654321","bankId":"0134","accountId":"` + testAccount + `","amount":1240.10}}}`,
		},
		{
			name:  "transfer without bankId, as older clients",
			query: Query{Mode: ModeTransfer, Reference: "987654"},
			cfg:   func(c *Config) { c.OmitTransferBankID = true },
			want:  `{"dataRequest":{` + device + `,"transaction":{"referenceNumber":"987654","accountId":"` + testAccount + `"}}}`,
		},
		{
			name:  "mobile, exact date match, device IP configured",
			query: Query{Mode: ModeMobile, Reference: "123456", Phone: "04143125566", BankID: "0102", Date: "2026-08-06"},
			cfg:   func(c *Config) { c.DateMatch = DateMatchExact; c.Device.IPAddress = "200.1.2.3" },
			want: `{"dataRequest":{"device":{"type":"Server","description":"verifier","ipAddress":"200.1.2.3"},"securityAuth":{"sessionId":""}` +
				`,"transaction":{"referenceNumber":"123456","phoneNum":"584143125566","bankId":"0102","startDt":"2026-08-06"}}}`,
		},
		{
			name:  "transfer without amount",
			query: Query{Mode: ModeTransfer, Reference: "987654"},
			want:  `{"dataRequest":{` + device + `,"transaction":{"referenceNumber":"987654","bankId":"0134","accountId":"` + testAccount + `"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.check = func(int64, capturedCheck) reply { return reply{status: 200, body: noResults} }
			cfg := bank.config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c := newTestClient(t, cfg)
			if _, err := c.Verify(ctxT(t), tt.query); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			got := bank.lastCheck(t)
			if got.body != tt.want {
				t.Errorf("body\n got: %s\nwant: %s", got.body, tt.want)
			}
			if got.contentType != "application/json" {
				t.Errorf("Content-Type = %q", got.contentType)
			}
			if got.authorization != "Bearer tok-1" {
				t.Errorf("Authorization = %q, want Bearer tok-1", got.authorization)
			}
		})
	}
}

func TestInvalidQueryNeverReachesBank(t *testing.T) {
	t.Parallel()
	good := mobileQuery()
	tests := []struct {
		name    string
		mutate  func(*Query)
		noAcct  bool
		want    Kind
		mention string
	}{
		{name: "short reference", mutate: func(q *Query) { q.Reference = "12345" }, want: KindInvalidQuery},
		{name: "long reference", mutate: func(q *Query) { q.Reference = "123456789012345678901" }, want: KindInvalidQuery},
		{name: "letters in reference", mutate: func(q *Query) { q.Reference = "12345A" }, want: KindInvalidQuery},
		{name: "bad phone", mutate: func(q *Query) { q.Phone = "0414312556" }, want: KindInvalidQuery},
		{name: "bad bank", mutate: func(q *Query) { q.BankID = "01023" }, want: KindInvalidQuery},
		{name: "bad date", mutate: func(q *Query) { q.Date = "06/08/2026" }, want: KindInvalidQuery},
		{name: "float amount", mutate: func(q *Query) { q.Amount = "1.5e3" }, want: KindInvalidQuery},
		{name: "unknown mode", mutate: func(q *Query) { q.Mode = 0 }, want: KindInvalidQuery},
		{name: "transfer without account", mutate: func(q *Query) { q.Mode = ModeTransfer }, noAcct: true, want: KindConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			cfg := bank.config()
			if tt.noAcct {
				cfg.AccountID = ""
			}
			c := newTestClient(t, cfg)
			q := good
			tt.mutate(&q)
			_, err := c.Verify(ctxT(t), q)
			wantKind(t, err, tt.want)
			if IsTransient(err) {
				t.Errorf("IsTransient = true for %v", err)
			}
			if n := bank.tokenCalls.Load() + bank.checkCalls.Load(); n != 0 {
				t.Errorf("bank saw %d requests, want 0", n)
			}
		})
	}
}

func TestIntlPhone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"04141234567", "584141234567", true},
		{"0414-123.4567", "", false},
		{"0414 123 4567", "584141234567", true},
		{"584141234567", "584141234567", true},
		{"+58 414 1234567", "584141234567", true},
		{"4141234567", "584141234567", true},
		{"0414123456", "", false},
		{"", "", false},
		{"041412345678", "", false},
	}
	for _, tt := range tests {
		got, ok := intlPhone(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("intlPhone(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
