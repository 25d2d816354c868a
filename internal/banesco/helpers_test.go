package banesco

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

const (
	testClientID = "merchant-client"
	testSecret   = "s3cr3t-never-logged"
	testAccount  = "01340000000000008514"
	testPhone    = "04143125566"
)

// reply is one scripted bank answer.
type reply struct {
	status int
	body   string
	header map[string]string
	delay  time.Duration
}

// fakeBank is an httptest server speaking the bank contract from scripts:
// tokens are "tok-1", "tok-2", ... and checks answer whatever check returns.
type fakeBank struct {
	srv        *httptest.Server
	tokenCalls atomic.Int64
	checkCalls atomic.Int64

	mu         sync.Mutex
	tokenForms []url.Values
	checks     []capturedCheck

	// token answers the n-th token request (1-based); nil issues tok-n for 300 s.
	token func(n int64) reply
	// check answers the n-th check (1-based); nil answers a 200 hit for testRow.
	check func(n int64, c capturedCheck) reply
}

// capturedCheck is what the client sent on one check.
type capturedCheck struct {
	body          string
	authorization string
	contentType   string
}

func newFakeBank(t *testing.T) *fakeBank {
	t.Helper()
	b := &fakeBank{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		n := b.tokenCalls.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		b.mu.Lock()
		b.tokenForms = append(b.tokenForms, r.PostForm)
		b.mu.Unlock()
		rep := reply{status: 200, body: fmt.Sprintf(`{"access_token":"tok-%d","expires_in":300,"token_type":"Bearer","scope":"profile"}`, n)}
		if b.token != nil {
			rep = b.token(n)
		}
		b.write(w, r, rep)
	})
	mux.HandleFunc("POST /transactions/financial-account/transactions", func(w http.ResponseWriter, r *http.Request) {
		n := b.checkCalls.Add(1)
		body, _ := io.ReadAll(r.Body)
		c := capturedCheck{body: string(body), authorization: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		b.mu.Lock()
		b.checks = append(b.checks, c)
		b.mu.Unlock()
		rep := reply{status: 200, body: hitBody(testRow)}
		if b.check != nil {
			rep = b.check(n, c)
		}
		b.write(w, r, rep)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *fakeBank) write(w http.ResponseWriter, r *http.Request, rep reply) {
	if rep.delay > 0 {
		select {
		case <-time.After(rep.delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != "" && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (b *fakeBank) lastCheck(t *testing.T) capturedCheck {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.checks) == 0 {
		t.Fatal("no check reached the bank")
	}
	return b.checks[len(b.checks)-1]
}

// config returns a valid Config pointing at the fake bank.
func (b *fakeBank) config() Config {
	return Config{
		Environment:  EnvironmentQA,
		TokenURL:     b.srv.URL + "/token",
		CheckURL:     b.srv.URL + "/transactions/financial-account/transactions",
		ClientID:     testClientID,
		ClientSecret: testSecret,
		AccountID:    testAccount,
		Timeout:      2 * time.Second,
		Logger:       zerolog.Nop(),
	}
}

// testToday is "now" for every test client and sandbox: 2026-08-06 in
// Venezuela, the contract sample's date, so date ranges are deterministic.
var testToday = time.Date(2026, 8, 6, 15, 0, 0, 0, venezuela)

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testToday }
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// testRow is the contract's sample row (bank-api.md §2) with its quirks.
const testRow = `{"referenceNumber":"000123456","amount":"1240.00",
   "currencyCode":"BS ","accountId":"1340************8514","trnDate":"2026-08-06","trnTime":"10:30:00",
   "trnType":"CR","sourceBankId":"102","destBankId":"0134","concept":"  Pago Movil ",
   "customerIdBen":"V-12345678"}`

// hitBody wraps rows in the 200 envelope.
func hitBody(rows ...string) string {
	return `{"httpStatus":{"statusCode":"200","statusDesc":"OK"},"dataResponse":{"transactionDetail":[` +
		strings.Join(rows, ",") + `]}}`
}

// noResults is the 70001 envelope.
const noResults = `{"httpStatus":{"statusCode":"70001","statusDesc":"Consulta sin resultados"},"dataResponse":null}`

// envelopeBody is a status-only envelope.
func envelopeBody(code, desc string) string {
	return fmt.Sprintf(`{"httpStatus":{"statusCode":%q,"statusDesc":%q},"dataResponse":null}`, code, desc)
}

// mobileQuery matches testRow in pago móvil mode.
func mobileQuery() Query {
	return Query{Mode: ModeMobile, Reference: "99000123456", Phone: testPhone, BankID: "0102", Date: "2026-08-06", Amount: "1240.00"}
}

// transferQuery matches testRow in transfer mode.
func transferQuery() Query {
	return Query{Mode: ModeTransfer, Reference: "123456", Amount: "1240.00"}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantKind asserts err is a *Error of kind k and returns it.
func wantKind(t *testing.T, err error, k Kind) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want kind %s", k)
	}
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("err = %T %v, want *Error", err, err)
	}
	if e.Kind != k {
		t.Fatalf("kind = %s, want %s (err: %v)", e.Kind, k, err)
	}
	return e
}

// metricValue reads one counter (or histogram sample count) from reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// compactJSON normalises JSON for comparisons of structure, not spacing.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return buf.String()
}
