package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/config"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
)

// tokenSpy serves the sandbox and keeps every access token it issues, so the
// test can look for them in the command's output.
type tokenSpy struct {
	h      http.Handler
	mu     sync.Mutex
	tokens []string
}

func (s *tokenSpy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/token") {
		s.h.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &tok) == nil && tok.AccessToken != "" {
		s.mu.Lock()
		s.tokens = append(s.tokens, tok.AccessToken)
		s.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = io.Copy(w, rec.Body)
}

// TestBankCommandNeverPrintsSecrets runs `worker bank token`, `check` (both
// modes) and `certify` through the command's own entry point, with the
// sandbox over real HTTP and the limiter on real Redis and Postgres, and
// greps everything they print for the client secret, every token the sandbox
// issued and the full merchant account.
func TestBankCommandNeverPrintsSecrets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const (
		secret  = "qa-Secret-7f3e9a1c"
		account = "01340000000012345678"
		phone   = "04141234567"
	)
	sb := banksandbox.New(banksandbox.Config{ClientID: "qa-client", ClientSecret: secret, AccountID: account, RefuseClientCredentials: true})
	today := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	sb.AddPayment(banksandbox.Payment{Mode: banksandbox.ModeMobile, Reference: "20261202777001", Amount: "1240.00", Phone: phone, BankID: "0102", CustomerIDBen: "V-87654321"})
	sb.AddPayment(banksandbox.Payment{Mode: banksandbox.ModeTransfer, Reference: "88001122", Amount: "99.90"})
	spy := &tokenSpy{h: sb.Handler()}
	srv := httptest.NewServer(spy)
	defer srv.Close()

	db := pgtest.New(t)
	rdb := redistest.Start(t)
	env := map[string]string{
		"DATABASE_URL": db.URL, "REDIS_URL": rdb.URL(),
		"JWT_SECRET": "test-jwt-secret-0123456789", "WEBHOOK_SECRET_KEY": "test-webhook-key-0123456789",
		"BANESCO_ENVIRONMENT": "qa", "BANESCO_QA_AUTH_URL": srv.URL + "/token", "BANESCO_QA_API_URL": srv.URL,
		"BANESCO_QA_CLIENT_ID": "qa-client", "BANESCO_QA_CLIENT_SECRET": secret, "BANESCO_ACCOUNT_ID": account,
		"BANESCO_SCOPE": "CONSULTA DE TRANSACCIONES",
	}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := bankCommand(ctx, cfg, getenv, &out, log, args); err != nil {
			t.Fatalf("worker bank %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}

	var all strings.Builder
	tok := run("token")
	all.WriteString(tok)
	for _, want := range []string{"token: obtained (HTTP 200)", "lifetime: 300 s", "grant type: password"} {
		if !strings.Contains(tok, want) {
			t.Errorf("token output lacks %q:\n%s", want, tok)
		}
	}
	mobile := run("check", "-mode", "mobile", "-reference", "20261202777001", "-phone", phone, "-bank-id", "0102", "-date", today, "-amount", "1240.00")
	all.WriteString(mobile)
	for _, want := range []string{"verifier decision: COMPLETED (bank_confirmed)", `"phoneNum": "********4567"`, `"customerIdBen": "******4321"`, "Authorization: Bearer [redacted]", "limiter: slot granted"} {
		if !strings.Contains(mobile, want) {
			t.Errorf("mobile check output lacks %q:\n%s", want, mobile)
		}
	}
	transfer := run("check", "-mode", "transfer", "-reference", "88001122", "-amount", "99.90")
	all.WriteString(transfer)
	for _, want := range []string{"verifier decision: COMPLETED (bank_confirmed)", `"accountId": "****************5678"`} {
		if !strings.Contains(transfer, want) {
			t.Errorf("transfer check output lacks %q:\n%s", want, transfer)
		}
	}
	// The limiter the workers share holds a second check of the reference.
	again := run("check", "-mode", "transfer", "-reference", "88001122", "-wait", "0")
	all.WriteString(again)
	if !strings.Contains(again, "limiter: HELD by per_transaction") || !strings.Contains(again, "verifier decision: NOT_SENT (held)") {
		t.Errorf("second check within the spacing was not held:\n%s", again)
	}

	// certify with BANESCO_ENVIRONMENT=sandbox starts its own sandbox.
	env["BANESCO_ENVIRONMENT"] = "sandbox"
	dir := t.TempDir()
	cert := run("certify", "-out", dir)
	all.WriteString(cert)
	if !strings.Contains(cert, "all 8 cases passed") {
		t.Errorf("certify did not pass:\n%s", cert)
	}
	reports, _ := filepath.Glob(filepath.Join(dir, "*", "certify-sandbox-*.md"))
	if len(reports) != 1 {
		t.Fatalf("want one report, got %v", reports)
	}
	report, err := os.ReadFile(reports[0])
	if err != nil {
		t.Fatal(err)
	}
	all.Write(report)

	spy.mu.Lock()
	tokens := append([]string(nil), spy.tokens...)
	spy.mu.Unlock()
	if len(tokens) == 0 {
		t.Fatal("the sandbox issued no token")
	}
	text := all.String() + logs.String()
	for _, bad := range append(tokens, secret, account, "sandbox-secret", "01340000000000000000", "584141234567", "V-87654321") {
		if strings.Contains(text, bad) {
			t.Errorf("the bank command printed a secret, a token, a full account or a phone: %.10s…", bad)
		}
	}
}
