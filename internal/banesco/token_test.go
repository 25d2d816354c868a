package banesco

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestConcurrentVerifySharesOneToken(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	// A slow token endpoint makes all 50 callers pile up on the first fetch.
	bank.token = func(n int64) reply {
		return reply{status: 200, delay: 100 * time.Millisecond, body: fmt.Sprintf(`{"access_token":"tok-%d","expires_in":300,"token_type":"Bearer"}`, n)}
	}
	c := newTestClient(t, bank.config())
	runConcurrently(t, 50, func() error {
		v, err := c.Verify(ctxT(t), mobileQuery())
		if err == nil && v.Outcome != Confirmed {
			err = fmt.Errorf("outcome %s", v.Outcome)
		}
		return err
	})
	if n := bank.tokenCalls.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if n := bank.checkCalls.Load(); n != 50 {
		t.Errorf("checks = %d, want 50", n)
	}
}

// TestAuthRejectionDropsTheTokenAndSendsNothingMore: a rejected token is
// dropped and the check fails as an auth error, with nothing re-sent (the
// bank counted the rejected request toward the reference's limit); the next
// check fetches a new token.
func TestAuthRejectionDropsTheTokenAndSendsNothingMore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    string
		reject reply
	}{
		{name: "VRN01 envelope on 401", env: EnvironmentQA, reject: reply{status: 401, body: envelopeBody("VRN01", "Credenciales invalidas")}},
		{name: "expired token 401 without envelope (QA)", env: EnvironmentQA, reject: reply{status: 401}},
		{name: "expired token 403 without envelope (production)", env: EnvironmentProduction, reject: reply{status: 403, body: "Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.check = func(_ int64, c capturedCheck) reply {
				if c.authorization == "Bearer tok-1" {
					return tt.reject
				}
				return reply{status: 200, body: hitBody(testRow)}
			}
			reg := prometheus.NewRegistry()
			cfg := bank.config()
			cfg.Environment = tt.env
			cfg.Metrics = NewMetrics(reg)
			c := newTestClient(t, cfg)
			v, err := c.Verify(ctxT(t), mobileQuery())
			wantKind(t, err, KindAuth)
			if NoCheckSent(err) || v.Outcome == Confirmed {
				t.Errorf("Verify = %s, %v: want an auth error for a check that was sent", v.Outcome, err)
			}
			if n := bank.checkCalls.Load(); n != 1 {
				t.Errorf("checks = %d, want 1: nothing re-sent", n)
			}
			status := fmt.Sprint(tt.reject.status)
			if got := metricValue(t, reg, "bank_auth_rejections_total", map[string]string{"http_status": status}); got != 1 {
				t.Errorf("bank_auth_rejections_total{%s} = %v, want 1", status, got)
			}
			// The next check fetches a new token, which is then cached.
			for range 2 {
				if v, err := c.Verify(ctxT(t), mobileQuery()); err != nil || v.Outcome != Confirmed {
					t.Fatalf("next Verify = %s, %v; want Confirmed", v.Outcome, err)
				}
			}
			if got := bank.lastCheck(t).authorization; got != "Bearer tok-2" {
				t.Errorf("next check used %q, want Bearer tok-2", got)
			}
			if n := bank.tokenCalls.Load(); n != 2 {
				t.Errorf("token requests = %d, want 2", n)
			}
		})
	}
}

func TestPersistentAuthRejectionFailsEachCheckOnce(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	bank.check = func(int64, capturedCheck) reply {
		return reply{status: 401, body: envelopeBody("VRN01", "Credenciales invalidas")}
	}
	c := newTestClient(t, bank.config())
	v, err := c.Verify(ctxT(t), mobileQuery())
	e := wantKind(t, err, KindAuth)
	if e.HTTPStatus != 401 || e.StatusCode != "VRN01" {
		t.Errorf("error = HTTP %d %q, want 401 VRN01", e.HTTPStatus, e.StatusCode)
	}
	if !IsTransient(err) {
		t.Error("IsTransient = false; the contract treats a repeated VRN01 as transient")
	}
	if v.Outcome == Confirmed {
		t.Error("Confirmed on error")
	}
	if n := bank.checkCalls.Load(); n != 1 {
		t.Errorf("checks = %d, want 1 (no re-send)", n)
	}
	// The next check asks with a new token, and fails alike.
	if _, err := c.Verify(ctxT(t), mobileQuery()); !IsTransient(err) {
		t.Errorf("second Verify: %v, want the same transient auth error", err)
	}
	if n, tk := bank.checkCalls.Load(), bank.tokenCalls.Load(); n != 2 || tk != 2 {
		t.Errorf("checks %d, token requests %d; want 2 and 2", n, tk)
	}
}

// TestCrowdOfAuthRejectionsRefreshesOnce: 50 checks rejected together with
// the same token must cause one refresh, not 50, when the next ones go out.
func TestCrowdOfAuthRejectionsRefreshesOnce(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	var arrived sync.WaitGroup
	arrived.Add(50)
	bank.check = func(_ int64, c capturedCheck) reply {
		if c.authorization == "Bearer tok-1" {
			arrived.Done()
			arrived.Wait() // every caller holds tok-1 before any is rejected
			return reply{status: 401}
		}
		return reply{status: 200, body: hitBody(testRow)}
	}
	c := newTestClient(t, bank.config())
	runConcurrently(t, 50, func() error {
		if _, err := c.Verify(ctxT(t), mobileQuery()); KindOf(err) != KindAuth {
			return fmt.Errorf("first check: %v, want an auth error", err)
		}
		v, err := c.Verify(ctxT(t), mobileQuery())
		if err == nil && v.Outcome != Confirmed {
			err = fmt.Errorf("outcome %s", v.Outcome)
		}
		return err
	})
	if n := bank.tokenCalls.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
	if n := bank.checkCalls.Load(); n != 100 {
		t.Errorf("checks = %d, want 100", n)
	}
}

func TestTokenFormFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		grant string
		scope string
		want  map[string]string
	}{
		{grant: GrantClientCredentials, scope: "CONSULTA DE TRANSACCIONES", want: map[string]string{
			"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testSecret, "scope": "CONSULTA DE TRANSACCIONES",
		}},
		{grant: GrantPassword, scope: "CONSULTA DE TRANSACCIONES", want: map[string]string{
			"grant_type": "password", "username": testClientID, "password": testSecret,
			"client_id": testClientID, "client_secret": testSecret, "scope": "CONSULTA DE TRANSACCIONES",
		}},
		{grant: GrantPassword, want: map[string]string{
			"grant_type": "password", "username": testClientID, "password": testSecret,
			"client_id": testClientID, "client_secret": testSecret,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.grant+"/"+tt.scope, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			cfg := bank.config()
			cfg.GrantType, cfg.Scope = tt.grant, tt.scope
			c := newTestClient(t, cfg)
			if _, err := c.Verify(ctxT(t), mobileQuery()); err != nil {
				t.Fatal(err)
			}
			bank.mu.Lock()
			form := bank.tokenForms[0]
			bank.mu.Unlock()
			got := map[string]string{}
			for k := range form {
				got[k] = form.Get(k)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("form\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rep       reply
		wantKind  Kind
		wantCode  string
		wantRetry time.Duration
	}{
		{name: "client_credentials refused", rep: reply{status: 400, body: `{"error":"unauthorized_client","error_description":"Client not enabled to retrieve service account"}`},
			wantKind: KindAuth, wantCode: "unauthorized_client"},
		{name: "wrong credentials", rep: reply{status: 401, body: `{"error":"invalid_client","error_description":"Invalid client credentials"}`},
			wantKind: KindAuth, wantCode: "invalid_client"},
		{name: "description echoing the secret", rep: reply{status: 401, body: `{"error":"invalid_client","error_description":"bad secret ` + testSecret + `"}`},
			wantKind: KindAuth, wantCode: "invalid_client"},
		{name: "token endpoint down", rep: reply{status: 503, body: "down"}, wantKind: KindTransient},
		{name: "token endpoint rate limited", rep: reply{status: 429, body: `{"error":"slow_down"}`, header: map[string]string{"Retry-After": "12"}},
			wantKind: KindRateLimited, wantCode: "slow_down", wantRetry: 12 * time.Second},
		{name: "200 without access_token", rep: reply{status: 200, body: `{"token_type":"Bearer"}`}, wantKind: KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.token = func(int64) reply { return tt.rep }
			reg := prometheus.NewRegistry()
			cfg := bank.config()
			cfg.Metrics = NewMetrics(reg)
			c := newTestClient(t, cfg)
			_, err := c.Verify(ctxT(t), mobileQuery())
			e := wantKind(t, err, tt.wantKind)
			if e.StatusCode != tt.wantCode {
				t.Errorf("StatusCode = %q, want %q", e.StatusCode, tt.wantCode)
			}
			if tt.wantCode != "" && !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("error %q does not name %s", err, tt.wantCode)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %q", err)
			}
			if d, _ := RetryAfter(err); d != tt.wantRetry {
				t.Errorf("RetryAfter = %s, want %s", d, tt.wantRetry)
			}
			if n := bank.checkCalls.Load(); n != 0 {
				t.Errorf("checks = %d, want 0 without a token", n)
			}
			if n := bank.tokenCalls.Load(); n != 1 {
				t.Errorf("token requests = %d, want 1 (no auth-style probing)", n)
			}
			if got := metricValue(t, reg, "bank_token_requests_total", map[string]string{"result": "error"}); got != 1 {
				t.Errorf("bank_token_requests_total{error} = %v, want 1", got)
			}
		})
	}
}

// TestTokenEarlyRefresh: a token is reused for its lifetime but replaced 30 s
// before it expires.
func TestTokenEarlyRefresh(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expiresIn  int
		wantTokens int64
	}{
		{expiresIn: 300, wantTokens: 1},
		{expiresIn: 25, wantTokens: 3}, // inside the early-refresh margin: always stale
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.expiresIn), func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.token = func(n int64) reply {
				return reply{status: 200, body: fmt.Sprintf(`{"access_token":"tok-%d","expires_in":%d,"token_type":"Bearer"}`, n, tt.expiresIn)}
			}
			c := newTestClient(t, bank.config())
			for range 3 {
				if _, err := c.Verify(ctxT(t), mobileQuery()); err != nil {
					t.Fatal(err)
				}
			}
			if n := bank.tokenCalls.Load(); n != tt.wantTokens {
				t.Errorf("token requests = %d, want %d", n, tt.wantTokens)
			}
		})
	}
}

func TestSlowTokenEndpointTimesOut(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	bank.token = func(int64) reply {
		return reply{status: 200, delay: time.Minute, body: `{"access_token":"late","expires_in":300}`}
	}
	cfg := bank.config()
	cfg.Timeout = 100 * time.Millisecond
	c := newTestClient(t, cfg)
	start := time.Now()
	_, err := c.Verify(ctxT(t), mobileQuery())
	wantKind(t, err, KindTransient)
	if d := time.Since(start); d > 5*time.Second { // the endpoint would answer after a minute
		t.Errorf("Verify took %s with a 100ms timeout", d)
	}
}

// runConcurrently starts n goroutines at once and fails on any error.
func runConcurrently(t *testing.T, n int, f func() error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			<-start
			errs <- f()
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestTokenFailuresBackOff: while the token endpoint refuses us, checks fail at
// once without asking it again, so one refusal never becomes a storm against
// the bank's 10-per-minute token budget; after the back-off one request goes out.
func TestTokenFailuresBackOff(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	bank.token = func(int64) reply {
		return reply{status: 401, body: `{"error":"invalid_client"}`}
	}
	c := newTestClient(t, bank.config())
	now := time.Now()
	c.tokens.now = func() time.Time { return now }
	for i := 0; i < 20; i++ {
		_, err := c.Verify(ctxT(t), mobileQuery())
		wantKind(t, err, KindAuth)
	}
	if n := bank.tokenCalls.Load(); n != 1 {
		t.Fatalf("token requests during the back-off = %d, want 1", n)
	}
	now = now.Add(1100 * time.Millisecond) // past the first back-off (1 s)
	if _, err := c.Verify(ctxT(t), mobileQuery()); err == nil {
		t.Fatal("Verify succeeded against a refusing token endpoint")
	}
	if n := bank.tokenCalls.Load(); n != 2 {
		t.Fatalf("token requests after the back-off = %d, want 2", n)
	}
	// The second failure doubles the wait: 1.5 s later still nothing goes out.
	now = now.Add(1500 * time.Millisecond)
	c.Verify(ctxT(t), mobileQuery())
	if n := bank.tokenCalls.Load(); n != 2 {
		t.Fatalf("token requests inside the doubled back-off = %d, want 2", n)
	}
}

// TestFreshTokensRejectedBackOff: a bank that rejects every token it just
// issued gets one immediate refresh (an early-expired token is normal), then
// token requests back off instead of one per check.
func TestFreshTokensRejectedBackOff(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	bank.check = func(int64, capturedCheck) reply { return reply{status: 401} }
	c := newTestClient(t, bank.config())
	for i := 0; i < 10; i++ {
		if _, err := c.Verify(ctxT(t), mobileQuery()); err == nil {
			t.Fatal("Verify succeeded while the bank rejects every token")
		}
	}
	if n := bank.tokenCalls.Load(); n > 3 {
		t.Fatalf("token requests = %d for 10 checks against a bank rejecting fresh tokens, want ≤ 3", n)
	}
}
