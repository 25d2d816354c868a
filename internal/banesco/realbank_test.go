package banesco

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// What public integrations that ran against the real bank report (docs/bank.md,
// "What the real bank does"), one test each.

// TestVRN01InAnyEnvelopeRefreshesTheToken: VRN01 may come on HTTP 200 or 400,
// not only 401/403; the client acts on the code.
func TestVRN01InAnyEnvelopeRefreshesTheToken(t *testing.T) {
	t.Parallel()
	for _, status := range []int{200, 400} {
		bank := newFakeBank(t)
		bank.check = func(n int64, _ capturedCheck) reply {
			if n == 1 {
				return reply{status: status, body: `{"httpStatus":{"statusCode":"VRN01","statusDesc":"Credenciales inválidas"},"dataResponse":null}`}
			}
			return reply{status: 200, body: hitBody(testRow)}
		}
		c := newTestClient(t, bank.config())
		if _, err := c.Verify(ctxT(t), mobileQuery()); KindOf(err) != KindAuth {
			t.Fatalf("HTTP %d VRN01: %v, want an auth error", status, err)
		}
		v, err := c.Verify(ctxT(t), mobileQuery())
		if err != nil || v.Outcome != Confirmed {
			t.Fatalf("HTTP %d VRN01: %s, %v; want a refreshed token and the hit", status, v.Outcome, err)
		}
		if got := bank.tokenCalls.Load(); got != 2 {
			t.Errorf("HTTP %d VRN01: %d token requests, want 2 (one refresh)", status, got)
		}
		if got := bank.lastCheck(t).authorization; got != "Bearer tok-2" {
			t.Errorf("retry sent %q, want the new token", got)
		}
	}
}

// TestMaintenanceCodesAreTransient: CRT503 (and VRN04) mean the bank is in its
// maintenance window: a transient error, never a verdict, whatever HTTP status.
func TestMaintenanceCodesAreTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code   string
		status int
	}{{"CRT503", 503}, {"CRT503", 200}, {"VRN04", 503}} {
		bank := newFakeBank(t)
		bank.check = func(int64, capturedCheck) reply {
			return reply{status: tc.status, body: `{"httpStatus":{"statusCode":"` + tc.code + `","statusDesc":"Mantenimiento"},"dataResponse":null}`}
		}
		reg := prometheus.NewRegistry()
		cfg := bank.config()
		cfg.Metrics = NewMetrics(reg)
		c := newTestClient(t, cfg)
		_, err := c.Verify(ctxT(t), mobileQuery())
		if e := wantKind(t, err, KindTransient); e.StatusCode != tc.code {
			t.Errorf("%s on %d: status code %q", tc.code, tc.status, e.StatusCode)
		}
		if got := metricValue(t, reg, "bank_requests_total", map[string]string{"outcome": tc.code}); got != 1 {
			t.Errorf("bank_requests_total{%s} = %v, want 1", tc.code, got)
		}
		if got := metricValue(t, reg, "bank_available", map[string]string{"part": "check"}); got != 0 {
			t.Errorf("bank_available{check} = %v during maintenance, want 0", got)
		}
	}
}

// TestConnectFailureIsRetriedBeforeItCounts: the bank refuses the first
// connections (nothing reached it); the check goes out again after the short
// waits and gets its answer, as one check.
func TestConnectFailureIsRetriedBeforeItCounts(t *testing.T) {
	t.Parallel()
	// A port that refuses connections until the bank starts listening on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	bank := newFakeBank(t)
	var checks atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(hitBody(testRow)))
	})}
	go func() {
		time.Sleep(150 * time.Millisecond) // after the first try and before the last retry
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() { srv.Close() })
	reg := prometheus.NewRegistry()
	cfg := bank.config()
	cfg.CheckURL = "http://" + addr + qaCheckPath
	cfg.ConnectRetries = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}
	cfg.Metrics = NewMetrics(reg)
	c := newTestClient(t, cfg)
	v, err := c.Verify(ctxT(t), mobileQuery())
	if err != nil || v.Outcome != Confirmed {
		t.Fatalf("Verify = %s, %v; want the hit after the retries", v.Outcome, err)
	}
	if n := checks.Load(); n != 1 {
		t.Errorf("the bank saw %d checks, want 1", n)
	}
	if got := metricValue(t, reg, "bank_connect_retries_total", nil); got < 1 {
		t.Errorf("bank_connect_retries_total = %v, want at least 1", got)
	}
	if got := metricValue(t, reg, "bank_requests_total", map[string]string{"outcome": "network"}); got != 0 {
		t.Errorf("bank_requests_total{network} = %v: a retried connect counted as a failed check", got)
	}
}

// TestAnswerAfterTheRequestIsNeverResent: once the request was written, a
// failure (the bank closed the connection without answering) may have been
// seen by the bank: the client does not send it again.
func TestAnswerAfterTheRequestIsNeverResent(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close() // read the request, answer nothing
	}))
	t.Cleanup(srv.Close)
	cfg := bank.config()
	cfg.CheckURL = srv.URL + qaCheckPath
	cfg.ConnectRetries = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}
	c := newTestClient(t, cfg)
	_, err := c.Verify(ctxT(t), mobileQuery())
	wantKind(t, err, KindTransient)
	if n := seen.Load(); n != 1 {
		t.Errorf("the bank saw the check %d times, want 1", n)
	}
}

// TestPrivateCA: the QA host's certificate is signed by a private CA. Without
// BANESCO_CA_FILE the call fails verification; with it, it succeeds. There is
// no switch that turns verification off.
func TestPrivateCA(t *testing.T) {
	t.Parallel()
	caPEM, serverCert := privateCA(t)
	bank := newFakeBank(t)
	tlsSrv := httptest.NewUnstartedServer(bank.srv.Config.Handler)
	tlsSrv.TLS = serverCert
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	base := bank.config()
	base.TokenURL = tlsSrv.URL + "/token"
	base.CheckURL = tlsSrv.URL + qaCheckPath

	_, err := newTestClient(t, base).Verify(ctxT(t), mobileQuery())
	if e := wantKind(t, err, KindTransient); !strings.Contains(e.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a certificate error", e)
	}

	file := filepath.Join(t.TempDir(), "qa-ca.pem")
	if err := os.WriteFile(file, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	withCA := base
	withCA.CAFile = file
	v, err := newTestClient(t, withCA).Verify(ctxT(t), mobileQuery())
	if err != nil || v.Outcome != Confirmed {
		t.Fatalf("with the CA file: %s, %v", v.Outcome, err)
	}

	bad := base
	bad.CAFile = filepath.Join(t.TempDir(), "missing.pem")
	if _, err := New(bad); err == nil {
		t.Error("New accepted a missing CA file")
	}
}

// privateCA makes a CA and a server certificate for 127.0.0.1 signed by it.
func privateCA(t *testing.T) ([]byte, *tlsConfigAlias) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test QA CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cfg, err := serverTLS(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cfg
}

// TestTokenRefusalIsOneClearLineAndAMetric: the bank refuses the grant with
// unauthorized_client. One error line says what to change, the refusal is
// counted, the token is marked unavailable, and a later success says so.
func TestTokenRefusalIsOneClearLineAndAMetric(t *testing.T) {
	t.Parallel()
	bank := newFakeBank(t)
	var refuse atomic.Bool
	refuse.Store(true)
	bank.token = func(n int64) reply {
		if refuse.Load() {
			return reply{status: 400, body: `{"error":"unauthorized_client","error_description":"Client not enabled to retrieve service account"}`}
		}
		return reply{status: 200, body: `{"access_token":"tok-ok","expires_in":300,"token_type":"Bearer"}`}
	}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	cfg := bank.config()
	cfg.GrantType = GrantClientCredentials
	cfg.Logger = zerolog.New(&logs)
	cfg.Metrics = NewMetrics(reg)
	c := newTestClient(t, cfg)
	// A clock that jumps past the token back-off before every try.
	var offset atomic.Int64
	c.tokens.mu.Lock()
	c.tokens.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c.tokens.mu.Unlock()
	for range 3 {
		offset.Add(int64(10 * time.Minute))
		_, err := c.Verify(ctxT(t), mobileQuery())
		wantKind(t, err, KindAuth)
	}
	if n := strings.Count(logs.String(), "set BANESCO_GRANT_TYPE=password"); n != 1 {
		t.Errorf("%d lines name the fix, want exactly 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), testSecret) {
		t.Error("the log shows the client secret")
	}
	if got := metricValue(t, reg, "bank_token_refusals_total", map[string]string{"error": "unauthorized_client"}); got < 1 {
		t.Errorf("bank_token_refusals_total{unauthorized_client} = %v", got)
	}
	if got := metricValue(t, reg, "bank_available", map[string]string{"part": "token"}); got != 0 || !hasSeries(t, reg, "bank_available") {
		t.Errorf("bank_available{token} = %v, want 0", got)
	}
	refuse.Store(false)
	offset.Add(int64(10 * time.Minute))
	if _, err := c.Verify(ctxT(t), mobileQuery()); err != nil {
		t.Fatalf("after the bank enabled the client: %v", err)
	}
	if got := metricValue(t, reg, "bank_available", map[string]string{"part": "token"}); got != 1 {
		t.Errorf("bank_available{token} = %v after a token, want 1", got)
	}
	if !strings.Contains(logs.String(), "checks resume") {
		t.Error("no line says checks resume")
	}
}

// hasSeries reports whether the registry exports the metric at all (a gauge
// at 0 and a missing one read alike).
func hasSeries(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return true
		}
	}
	return false
}
