package banesco

// Edge cases pinned after mutation testing (bench/results/mutation/2026-12-02):
// each test fixes a boundary or a branch a user would notice if it moved.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestEdgeReplySizeLimit: a reply of exactly maxReplyBytes is read and
// interpreted; one byte more is refused as transient, never cut and parsed.
func TestEdgeReplySizeLimit(t *testing.T) {
	t.Parallel()
	padded := func(n int) string {
		body := hitBody(testRow)
		return body + strings.Repeat(" ", n-len(body))
	}
	t.Run("exactly the limit", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		bank.check = func(int64, capturedCheck) reply { return reply{status: 200, body: padded(maxReplyBytes)} }
		v, err := newTestClient(t, bank.config()).Verify(ctxT(t), mobileQuery())
		if err != nil || v.Outcome != Confirmed {
			t.Fatalf("reply of %d bytes: %s, %v; want Confirmed", maxReplyBytes, v.Outcome, err)
		}
	})
	t.Run("one byte over", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		bank.check = func(int64, capturedCheck) reply { return reply{status: 200, body: padded(maxReplyBytes + 1)} }
		v, err := newTestClient(t, bank.config()).Verify(ctxT(t), mobileQuery())
		e := wantKind(t, err, KindTransient)
		if !strings.Contains(e.Error(), "reply larger than") {
			t.Errorf("err = %v, want one saying the reply is too large", e)
		}
		if v.Outcome == Confirmed || v.HTTPStatus != 200 {
			t.Errorf("verdict = %s HTTP %d, want not confirmed with HTTP 200", v.Outcome, v.HTTPStatus)
		}
	})
}

// TestEdgeLogsShowOnlyTheLastFourDigits: every log line of a check carries
// ref_tail with the last 4 digits of the reference sent, never more.
func TestEdgeLogsShowOnlyTheLastFourDigits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		q    Query
	}{
		{name: "pago movil", q: mobileQuery()}, // sends 123456
		{name: "transfer", q: transferQuery()}, // sends 123456
		{name: "long transfer", q: func() Query { q := transferQuery(); q.Reference = "000987123456"; return q }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.check = func(int64, capturedCheck) reply { return reply{status: 429} } // a warn line
			var logs syncBuffer
			cfg := bank.config()
			cfg.Logger = zerolog.New(&logs).Level(zerolog.TraceLevel)
			c := newTestClient(t, cfg)
			if _, err := c.Verify(ctxT(t), tt.q); err == nil {
				t.Fatal("Verify succeeded against a rate-limiting bank")
			}
			lines := 0
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var ev map[string]any
				if err := json.Unmarshal([]byte(line), &ev); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if ev["message"] != "bank check" {
					continue
				}
				lines++
				if ev["ref_tail"] != "3456" {
					t.Errorf("ref_tail = %v, want 3456: %s", ev["ref_tail"], line)
				}
			}
			if lines != 1 {
				t.Errorf("%d \"bank check\" lines, want 1:\n%s", lines, logs.String())
			}
		})
	}
	for ref, want := range map[string]string{"000123456789": "6789", "12345": "2345", "1234": "1234", "12": "12", "": ""} {
		if got := refTail(ref); got != want {
			t.Errorf("refTail(%q) = %q, want %q", ref, got, want)
		}
	}
}

// TestEdgeDefaultConnectRetries: without ConnectRetries a check that never
// reached the bank is re-sent after 300 ms, 900 ms and 2 s.
func TestEdgeDefaultConnectRetries(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	c := newTestClient(t, bank.config())
	want := []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 2 * time.Second}
	if !reflect.DeepEqual(c.cfg.ConnectRetries, want) {
		t.Errorf("ConnectRetries = %v, want %v", c.cfg.ConnectRetries, want)
	}
}

// TestEdgeHTTPClientTimeoutIsBounded: a caller's HTTP client never waits
// longer than Timeout, and a shorter timeout of its own is kept; the caller's
// client is not modified.
func TestEdgeHTTPClientTimeoutIsBounded(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	for _, tt := range []struct{ own, want time.Duration }{
		{own: time.Hour, want: 5 * time.Second},
		{own: time.Second, want: time.Second},
		{own: 0, want: 5 * time.Second},
	} {
		hc := &http.Client{Timeout: tt.own}
		cfg := bank.config()
		cfg.Timeout = 5 * time.Second
		cfg.HTTPClient = hc
		c := newTestClient(t, cfg)
		if c.http.Timeout != tt.want {
			t.Errorf("caller's timeout %s, Timeout 5s: client timeout = %s, want %s", tt.own, c.http.Timeout, tt.want)
		}
		if hc.Timeout != tt.own {
			t.Errorf("caller's client modified: timeout %s, was %s", hc.Timeout, tt.own)
		}
	}
}

// TestEdgeCAFileKeepsSystemRootsAndCallerTLS: with CAFile the client trusts
// the system roots plus the file's CA, and a caller's transport keeps its own
// TLS settings (server name, protocols, minimum version).
func TestEdgeCAFileKeepsSystemRootsAndCallerTLS(t *testing.T) {
	t.Parallel()
	caPEM, _ := privateCA(t)
	file := filepath.Join(t.TempDir(), "qa-ca.pem")
	if err := os.WriteFile(file, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	system, err := x509.SystemCertPool()
	if err != nil {
		t.Skipf("no system roots here: %v", err)
	}
	onlyCA := x509.NewCertPool()
	onlyCA.AppendCertsFromPEM(caPEM)
	if system.Equal(x509.NewCertPool()) {
		t.Skip("the system pool is empty: system roots cannot be told apart from none")
	}
	want := system.Clone()
	want.AppendCertsFromPEM(caPEM)

	pool, err := certPool(file)
	if err != nil {
		t.Fatal(err)
	}
	if pool.Equal(onlyCA) || !pool.Equal(want) {
		t.Error("certPool is not the system roots plus the CA file")
	}

	callerTLS := &tls.Config{ServerName: "qa.bank.example", NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS13}
	callerTransport := &http.Transport{TLSClientConfig: callerTLS}
	bank := newFakeBank(t)
	for name, hc := range map[string]*http.Client{"no client": nil, "caller's transport": {Transport: callerTransport}} {
		cfg := bank.config()
		cfg.CAFile = file
		cfg.HTTPClient = hc
		c := newTestClient(t, cfg)
		tr, ok := c.http.Transport.(*http.Transport)
		if !ok || tr.TLSClientConfig == nil {
			t.Fatalf("%s: transport %T without TLS config", name, c.http.Transport)
		}
		got := tr.TLSClientConfig
		if got.RootCAs == nil || !got.RootCAs.Equal(want) {
			t.Errorf("%s: RootCAs are not the system roots plus the CA file", name)
		}
		if hc == nil {
			continue
		}
		if got.ServerName != "qa.bank.example" || !reflect.DeepEqual(got.NextProtos, []string{"http/1.1"}) || got.MinVersion != tls.VersionTLS13 {
			t.Errorf("%s: caller's TLS settings lost: ServerName %q, NextProtos %v, MinVersion %x", name, got.ServerName, got.NextProtos, got.MinVersion)
		}
		if callerTLS.RootCAs != nil || tr == callerTransport {
			t.Errorf("%s: the caller's transport was modified", name)
		}
	}
}

// TestEdgeEnvBoundaries: the documented ranges of the BANESCO_* variables
// hold at both ends, and a refusal names the variable.
func TestEdgeEnvBoundaries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, value string
		ok         bool
		check      func(Config) bool
	}{
		{key: "BANESCO_DATE_LOOKBACK_DAYS", value: "31", ok: true, check: func(c Config) bool { return c.DateLookbackDays == 31 }},
		{key: "BANESCO_DATE_LOOKBACK_DAYS", value: "32"},
		{key: "BANESCO_TIMEOUT", value: "0s"},
		{key: "BANESCO_TIMEOUT", value: "1ns", ok: true, check: func(c Config) bool { return c.Timeout == time.Nanosecond }},
		{key: "BANESCO_CONNECT_RETRIES", value: "0s"},
		{key: "BANESCO_CONNECT_RETRIES", value: "100ms,0s"},
		{key: "BANESCO_CONNECT_RETRIES", value: "1m", ok: true, check: func(c Config) bool {
			return reflect.DeepEqual(c.ConnectRetries, []time.Duration{time.Minute})
		}},
		{key: "BANESCO_CONNECT_RETRIES", value: "1m1ms"},
		{key: "BANESCO_CURRENCY", value: "BS", ok: true, check: func(c Config) bool { return c.Currency == "BS" }},
		{key: "BANESCO_CURRENCY", value: "usd", ok: true, check: func(c Config) bool { return c.Currency == "USD" }},
		{key: "BANESCO_CURRENCY", value: "AZ", ok: true, check: func(c Config) bool { return c.Currency == "AZ" }},
		{key: "BANESCO_CURRENCY", value: "az", ok: true, check: func(c Config) bool { return c.Currency == "AZ" }},
		{key: "BANESCO_CURRENCY", value: "ABCDEFGH", ok: true, check: func(c Config) bool { return c.Currency == "ABCDEFGH" }},
		{key: "BANESCO_CURRENCY", value: "ABCDEFGHI"},
		{key: "BANESCO_CURRENCY", value: "B$"},
		{key: "BANESCO_CURRENCY", value: "@"},
		{key: "BANESCO_CURRENCY", value: "["},
		{key: "BANESCO_CURRENCY", value: "`"},
		{key: "BANESCO_CURRENCY", value: "{"},
	}
	for _, tt := range tests {
		env := map[string]string{tt.key: tt.value}
		got, err := ConfigFromEnv(func(k string) string { return env[k] })
		if !tt.ok {
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("%s=%q: err = %v, want a refusal naming %s", tt.key, tt.value, err, tt.key)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s=%q refused: %v", tt.key, tt.value, err)
			continue
		}
		c, err := New(got)
		if err != nil {
			t.Errorf("%s=%q: New: %v", tt.key, tt.value, err)
			continue
		}
		if !tt.check(c.cfg) {
			t.Errorf("%s=%q: config %+v", tt.key, tt.value, c.cfg)
		}
	}
}

// TestEdgeRowDateWithSpaceTime: a row dated "2026-08-06 00:00:00" is a row of
// 2026-08-06, as one dated "2026-08-06T00:00:00" is.
func TestEdgeRowDateWithSpaceTime(t *testing.T) {
	t.Parallel()
	for _, date := range []string{"2026-08-06 00:00:00", "2026-08-06T00:00:00"} {
		bank := newFakeBank(t)
		bank.check = func(int64, capturedCheck) reply {
			return reply{status: 200, body: hitBody(row(map[string]string{"trnDate": `"` + date + `"`}))}
		}
		v, err := newTestClient(t, bank.config()).Verify(ctxT(t), mobileQuery())
		if err != nil || v.Outcome != Confirmed {
			t.Errorf("row dated %q: %s, %v; want Confirmed", date, v.Outcome, err)
		}
		if got := dayOf(date); got != "2026-08-06" {
			t.Errorf("dayOf(%q) = %q", date, got)
		}
	}
	if got := dayOf("2026-08-06X00:00:00"); got != "2026-08-06X00:00:00" {
		t.Errorf("dayOf kept only the day of %q", got)
	}
}

// TestEdgeFreshTokenRejectionsBackOff: the bank rejecting two tokens it had
// just issued starts a 1 s back-off: the third check fails at once without a
// token request; after 1 s one token request goes out again.
func TestEdgeFreshTokenRejectionsBackOff(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	bank.check = func(int64, capturedCheck) reply { return reply{status: 401} }
	c := newTestClient(t, bank.config())
	now := time.Now()
	c.tokens.now = func() time.Time { return now }
	counts := func(step string, tokens, checks int64) {
		t.Helper()
		if n, m := bank.tokenCalls.Load(), bank.checkCalls.Load(); n != tokens || m != checks {
			t.Fatalf("%s: token requests %d, checks %d; want %d, %d", step, n, m, tokens, checks)
		}
	}
	for i := int64(1); i <= 2; i++ {
		_, err := c.Verify(ctxT(t), mobileQuery())
		if e := wantKind(t, err, KindAuth); NoCheckSent(e) {
			t.Fatalf("check %d: %v, want a rejection of a sent check", i, e)
		}
		counts("rejected check", i, i)
	}
	_, err := c.Verify(ctxT(t), mobileQuery())
	e := wantKind(t, err, KindAuth)
	if !NoCheckSent(e) || !strings.Contains(e.Error(), "rejects freshly issued tokens") {
		t.Errorf("third check: %v, want the back-off error with no check sent", e)
	}
	counts("after two quick rejections", 2, 2)

	now = now.Add(900 * time.Millisecond)
	_, _ = c.Verify(ctxT(t), mobileQuery())
	counts("0.9 s later", 2, 2)

	now = now.Add(200 * time.Millisecond) // 1.1 s: past the first back-off
	_, err = c.Verify(ctxT(t), mobileQuery())
	wantKind(t, err, KindAuth)
	counts("1.1 s later", 3, 3)
}

// TestEdgeTokenCoolDownRetryAfter: while token requests cool down after a
// 429, each check's error is a rate limit carrying the time left (at least
// 1 s); after any other refusal it carries none.
func TestEdgeTokenCoolDownRetryAfter(t *testing.T) {
	t.Parallel()
	t.Run("429", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		bank.token = func(int64) reply {
			return reply{status: 429, body: `{"error":"slow_down"}`, header: map[string]string{"Retry-After": "30"}}
		}
		c := newTestClient(t, bank.config())
		now := time.Now()
		c.tokens.now = func() time.Time { return now }
		for _, tt := range []struct {
			advance, want time.Duration
		}{
			{advance: 0, want: 30 * time.Second},
			{advance: 10 * time.Second, want: 20 * time.Second},
			{advance: 19500 * time.Millisecond, want: time.Second}, // 0.5 s left
		} {
			now = now.Add(tt.advance)
			_, err := c.Verify(ctxT(t), mobileQuery())
			wantKind(t, err, KindRateLimited)
			if d, ok := RetryAfter(err); !ok || d != tt.want {
				t.Errorf("+%s: RetryAfter = %s, %v; want %s", tt.advance, d, ok, tt.want)
			}
			if !NoCheckSent(err) {
				t.Errorf("+%s: NoCheckSent false", tt.advance)
			}
		}
		if n := bank.tokenCalls.Load(); n != 1 {
			t.Errorf("token requests = %d, want 1 during the cool-down", n)
		}
	})
	t.Run("401", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		bank.token = func(int64) reply { return reply{status: 401, body: `{"error":"invalid_client"}`} }
		c := newTestClient(t, bank.config())
		now := time.Now()
		c.tokens.now = func() time.Time { return now }
		for i := range 2 {
			_, err := c.Verify(ctxT(t), mobileQuery())
			e := wantKind(t, err, KindAuth)
			if e.RetryAfter != 0 {
				t.Errorf("check %d: RetryAfter = %s after a 401, want none", i+1, e.RetryAfter)
			}
		}
		if n := bank.tokenCalls.Load(); n != 1 {
			t.Errorf("token requests = %d, want 1 during the back-off", n)
		}
	})
}

// TestEdgeTokenErrorMessage: a refused token request says the OAuth error
// code and the bank's description, with the secret scrubbed and long text
// clipped at 32 bytes.
func TestEdgeTokenErrorMessage(t *testing.T) {
	t.Parallel()
	const desc32 = "abcdefghijklmnopqrstuvwxyz012345"
	tests := []struct {
		name, body, want string
	}{
		{name: "code and scrubbed description",
			body: `{"error":"invalid_client","error_description":"bad secret ` + testSecret + `"}`,
			want: "banesco: auth (HTTP 400 invalid_client): token request refused: HTTP 400 invalid_client: bad secret [redacted]"},
		{name: "code only", body: `{"error":"invalid_grant"}`,
			want: "banesco: auth (HTTP 400 invalid_grant): token request refused: HTTP 400 invalid_grant"},
		{name: "description of 32 bytes", body: `{"error":"invalid_client","error_description":"` + desc32 + `"}`,
			want: "banesco: auth (HTTP 400 invalid_client): token request refused: HTTP 400 invalid_client: " + desc32},
		{name: "description of 33 bytes", body: `{"error":"invalid_client","error_description":"` + desc32 + `6"}`,
			want: "banesco: auth (HTTP 400 invalid_client): token request refused: HTTP 400 invalid_client: " + desc32 + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.token = func(int64) reply { return reply{status: 400, body: tt.body} }
			_, err := newTestClient(t, bank.config()).Verify(ctxT(t), mobileQuery())
			wantKind(t, err, KindAuth)
			if err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
	for in, want := range map[string]string{desc32: desc32, desc32 + "6": desc32 + "…", "": ""} {
		if got := clip(in); got != want {
			t.Errorf("clip(%q) = %q, want %q", in, got, want)
		}
	}
}
