package banesco

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestTransportFailuresAreTransient(t *testing.T) {
	t.Parallel()
	t.Run("slow check beyond Timeout", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		// The bank would answer after a minute; only the Timeout can end the
		// call before ctxT's 10 s.
		bank.check = func(int64, capturedCheck) reply { return reply{status: 200, delay: time.Minute, body: noResults} }
		reg := prometheus.NewRegistry()
		cfg := bank.config()
		cfg.Timeout = 150 * time.Millisecond
		cfg.Metrics = NewMetrics(reg)
		c := newTestClient(t, cfg)
		start := time.Now()
		_, err := c.Verify(ctxT(t), mobileQuery())
		wantKind(t, err, KindTransient)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Verify took %s with a 150ms timeout", d)
		}
		if got := metricValue(t, reg, "bank_requests_total", map[string]string{"outcome": "timeout"}); got != 1 {
			t.Errorf("bank_requests_total{timeout} = %v, want 1", got)
		}
		if got := metricValue(t, reg, "bank_request_duration_seconds", nil); got != 1 {
			t.Errorf("duration samples = %v, want 1", got)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		dead := httptest.NewServer(nil)
		dead.Close()
		reg := prometheus.NewRegistry()
		cfg := bank.config()
		cfg.CheckURL = dead.URL + qaCheckPath
		cfg.Metrics = NewMetrics(reg)
		cfg.ConnectRetries = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
		c := newTestClient(t, cfg)
		_, err := c.Verify(ctxT(t), mobileQuery())
		wantKind(t, err, KindTransient)
		if !IsTransient(err) {
			t.Error("IsTransient = false")
		}
		// Nothing reached the bank: tried three times, counted as one failed check.
		if got := metricValue(t, reg, "bank_requests_total", map[string]string{"outcome": "network"}); got != 1 {
			t.Errorf("bank_requests_total{network} = %v, want 1", got)
		}
		if got := metricValue(t, reg, "bank_connect_retries_total", nil); got != 2 {
			t.Errorf("bank_connect_retries_total = %v, want 2", got)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		bank.check = func(int64, capturedCheck) reply { return reply{status: 200, delay: 2 * time.Second, body: noResults} }
		c := newTestClient(t, bank.config())
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Verify(ctx, mobileQuery())
		wantKind(t, err, KindTransient)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("errors.Is(err, DeadlineExceeded) = false: %v", err)
		}
	})
	t.Run("already cancelled context", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		c := newTestClient(t, bank.config())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Verify(ctx, mobileQuery())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n := bank.tokenCalls.Load() + bank.checkCalls.Load(); n != 0 {
			t.Errorf("bank saw %d requests", n)
		}
	})
}

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNoSecretsInLogsOrErrors drives every path that logs or fails at trace
// level and checks that no secret, token or customer datum comes out.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name  string
		token func(int64) reply
		check func(int64, capturedCheck) reply
		query Query
	}{
		{name: "hit"},
		{name: "refresh after 401", check: func(n int64, _ capturedCheck) reply {
			if n == 1 {
				return reply{status: 401}
			}
			return reply{status: 200, body: hitBody(testRow)}
		}},
		{name: "persistent 403", check: func(int64, capturedCheck) reply { return reply{status: 403} }},
		{name: "token refused echoing secret", token: func(int64) reply {
			return reply{status: 401, body: `{"error":"invalid_client","error_description":"secret ` + testSecret + ` is wrong"}`}
		}},
		{name: "token endpoint garbage", token: func(int64) reply { return reply{status: 200, body: testSecret} }},
		{name: "VDE01", check: func(int64, capturedCheck) reply { return reply{status: 400, body: envelopeBody("VDE01", "x")} }},
		{name: "70005", check: func(int64, capturedCheck) reply { return reply{status: 200, body: envelopeBody("70005", "x")} }},
		{name: "rate limited", check: func(int64, capturedCheck) reply { return reply{status: 429} }},
		{name: "malformed", check: func(int64, capturedCheck) reply { return reply{status: 200, body: "{"} }},
		{name: "timeout", check: func(int64, capturedCheck) reply { return reply{status: 200, delay: time.Second} }},
		{name: "bad phone", query: Query{Mode: ModeMobile, Reference: "987650", Phone: testPhone + "9", BankID: "0102", Date: "2026-08-06"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.token, bank.check = sc.token, sc.check
			var logs syncBuffer
			cfg := bank.config()
			cfg.Timeout = 200 * time.Millisecond
			cfg.Logger = zerolog.New(&logs).Level(zerolog.TraceLevel)
			c := newTestClient(t, cfg)
			q := sc.query
			if q.Mode == 0 {
				q = mobileQuery()
			}
			_, err := c.Verify(ctxT(t), q)
			out := logs.String()
			if err != nil {
				out += "\n" + err.Error() + "\n" + fmt.Sprintf("%+v", err)
			}
			for _, secret := range []string{testSecret, "tok-1", "tok-2", "Bearer", testPhone, "584143125566", "4143125566", "V-12345678", q.Reference} {
				if strings.Contains(out, secret) {
					t.Errorf("output contains %q:\n%s", secret, out)
				}
			}
		})
	}
}

func TestMetricsNilSafeAndShared(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.observeCheck("200", time.Second)
	m.observeToken(nil)
	m.observeAuthRejection(401)

	reg := prometheus.NewRegistry()
	a, b := NewMetrics(reg), NewMetrics(reg) // second registration reuses the first
	a.observeToken(nil)
	b.observeToken(errors.New("x"))
	if got := metricValue(t, reg, "bank_token_requests_total", map[string]string{"result": "ok"}); got != 1 {
		t.Errorf("ok = %v", got)
	}
	if got := metricValue(t, reg, "bank_token_requests_total", map[string]string{"result": "error"}); got != 1 {
		t.Errorf("error = %v", got)
	}
	_ = NewMetrics(nil) // unregistered metrics are fine too
}

func TestErrorHelpers(t *testing.T) {
	t.Parallel()
	cause := context.DeadlineExceeded
	tests := []struct {
		err       error
		transient bool
		retry     time.Duration
		limited   bool
		text      string
	}{
		{err: &Error{Kind: KindTransient, HTTPStatus: 503, StatusCode: "VRN04", Err: cause}, transient: true, text: "banesco: transient (HTTP 503 VRN04): context deadline exceeded"},
		{err: &Error{Kind: KindRateLimited, HTTPStatus: 429, StatusCode: "VRN05", RetryAfter: 3 * time.Second}, retry: 3 * time.Second, limited: true, text: "banesco: rate_limited (HTTP 429 VRN05) retry after 3s"},
		{err: &Error{Kind: KindAuth, StatusCode: "invalid_client"}, transient: true, text: "banesco: auth (invalid_client)"},
		{err: &Error{Kind: KindConfig}, text: "banesco: config"},
		{err: fmt.Errorf("wrapped: %w", &Error{Kind: KindRateLimited, RetryAfter: time.Second}), retry: time.Second, limited: true, text: "wrapped: banesco: rate_limited retry after 1s"},
		{err: errors.New("plain"), text: "plain"},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.transient {
			t.Errorf("IsTransient(%v) = %v", tt.err, got)
		}
		if d, ok := RetryAfter(tt.err); d != tt.retry || ok != tt.limited {
			t.Errorf("RetryAfter(%v) = %s, %v", tt.err, d, ok)
		}
		if tt.err.Error() != tt.text {
			t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.text)
		}
	}
	if !errors.Is(tests[0].err, context.DeadlineExceeded) {
		t.Error("Unwrap does not expose the cause")
	}
}
