package banksandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	qaCheckPath   = "/transactions/financial-account/transactions"
	prodCheckPath = "/financial-account/transactions"
	merchant      = "01340000000000008514"
)

// fakeClock is an injectable clock that only moves when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testBundle is one sandbox behind a real HTTP server, with its clock.
type testBundle struct {
	srv   *Server
	url   string
	clock *fakeClock
}

// setup starts a sandbox for cfg with a fake clock (unless cfg brings its own clock).
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 8, 6, 14, 0, 0, 0, time.UTC)}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.AccountID == "" {
		cfg.AccountID = merchant
	}
	srv := New(cfg)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &testBundle{srv: srv, url: ts.URL, clock: clock}
}

// response is a reply read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body keeping numbers as json.Number, so tests see what was on the wire.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode reply %q: %v", r.body, err)
	}
	return m
}

// statusCode is the envelope's httpStatus.statusCode as text, whether sent as string or number.
func (r response) statusCode(t *testing.T) string {
	t.Helper()
	hs, ok := r.json(t)["httpStatus"].(map[string]any)
	if !ok {
		t.Fatalf("no httpStatus in %s", r.body)
	}
	switch v := hs["statusCode"].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	t.Fatalf("statusCode of unexpected type in %s", r.body)
	return ""
}

// rows is the envelope's transactionDetail.
func (r response) rows(t *testing.T) []map[string]any {
	t.Helper()
	dr, ok := r.json(t)["dataResponse"].(map[string]any)
	if !ok {
		t.Fatalf("no dataResponse in %s", r.body)
	}
	var rows []map[string]any
	for _, v := range dr["transactionDetail"].([]any) {
		rows = append(rows, v.(map[string]any))
	}
	return rows
}

// do sends one request and reads the reply.
func (b *testBundle) do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s: %v", req.URL.Path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// postForm posts a token request, with HTTP Basic credentials when user is not empty.
func (b *testBundle) postForm(t *testing.T, path string, form url.Values, user, pass string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	return b.do(t, req)
}

// token gets a token with the default credentials.
func (b *testBundle) token(t *testing.T) string {
	t.Helper()
	res := b.postForm(t, "/token", url.Values{"grant_type": {"client_credentials"}}, "sandbox-client", "sandbox-secret")
	if res.status != http.StatusOK {
		t.Fatalf("token: HTTP %d %s", res.status, res.body)
	}
	tok, _ := res.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("token: no access_token in %s", res.body)
	}
	return tok
}

// send posts raw to a check path with token (none when empty).
func (b *testBundle) send(t *testing.T, path, token, raw string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+path, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return b.do(t, req)
}

// check posts the dataRequest envelope around tx to the QA path.
func (b *testBundle) check(t *testing.T, token string, tx map[string]any) response {
	t.Helper()
	return b.checkAt(t, qaCheckPath, token, tx)
}

func (b *testBundle) checkAt(t *testing.T, path, token string, tx map[string]any) response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"dataRequest": map[string]any{
		"device":       map[string]any{"type": "Server", "description": "verifier", "ipAddress": "10.0.0.1"},
		"securityAuth": map[string]any{"sessionId": ""},
		"transaction":  tx,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b.send(t, path, token, string(body))
}

// mobilePayment is a pago móvil fixture; reference 000123456789 is queried as "456789".
func mobilePayment() Payment {
	return Payment{
		Reference: "000123456789", Amount: "1240.00", Phone: "04141234567",
		BankID: "0102", Date: "2026-08-06", Mode: ModeMobile,
	}
}

// mobileQuery queries mobilePayment.
func mobileQuery() map[string]any {
	return map[string]any{
		"referenceNumber": "456789", "phoneNum": "584141234567", "bankId": "0102",
		"startDt": "2026-08-06", "amount": json.Number("1240.00"),
	}
}

// transferPayment is a Banesco→Banesco transfer fixture.
func transferPayment() Payment {
	return Payment{Reference: "987654321", Amount: "50.5", Mode: ModeTransfer, Date: "2026-08-06"}
}

// transferQuery queries transferPayment with the whole reference, zero-padded.
func transferQuery() map[string]any {
	return map[string]any{"referenceNumber": "0987654321", "bankId": "0134", "accountId": merchant, "amount": "50.50"}
}

// wantStatus fails unless res has HTTP status want.
func wantStatus(t *testing.T, res response, want int) {
	t.Helper()
	if res.status != want {
		t.Fatalf("HTTP %d, want %d; body %s", res.status, want, res.body)
	}
}
