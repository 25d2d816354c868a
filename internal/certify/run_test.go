package certify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// sandboxRun starts a sandbox, a private Redis and a migrated database and
// returns the options of a run against them with the built-in cases.
func sandboxRun(t *testing.T) (Options, *Sandbox) {
	t.Helper()
	sb, err := StartSandbox()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	cfg, err := banesco.ConfigFromEnv(sb.Getenv(func(string) string { return "" }))
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.New(t)
	rdb := redistest.Start(t).Client()
	cases, err := LoadCases(SandboxCases)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Environment: "sandbox", Bank: cfg, Limiter: verify.NewLimiter(rdb, db.DB, 50, 2, nil),
		Cases: cases, CasesName: SandboxCases, Sandbox: sb.Admin()}, sb
}

// TestCertificationAgainstTheSandbox is `make certify` in the test suite:
// every built-in case must pass against the sandbox, over real HTTP, with the
// shared limiter on real Redis and Postgres, and the report must carry no
// secret, token or full account number.
func TestCertificationAgainstTheSandbox(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts, _ := sandboxRun(t)
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	md := string(rep.Markdown())
	for _, c := range rep.Cases {
		if !c.Passed() {
			t.Errorf("case %s failed: %v %+v", c.Case.ID, c.Err, c.Steps)
		}
	}
	if !rep.Passed() || len(rep.Cases) != 8 {
		t.Fatalf("want 8 passing cases, got %d (passed=%v):\n%s", len(rep.Cases), rep.Passed(), md)
	}
	for _, want := range []string{"found_mobile", "found_transfer", "not_found", "amount_mismatch", "invalid_data",
		"wrong_credentials", "token_expiry", "rate_limited", "| Latency |", "every case passed"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	assertMasked(t, md, rep.mask)

	dir := t.TempDir()
	path, err := rep.WriteFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != filepath.Join(dir, rep.Started.Format(time.DateOnly)) {
		t.Errorf("report at %s, want it in a dated folder", path)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != md {
		t.Errorf("written report differs (%v)", err)
	}
}

// assertMasked fails if text carries the sandbox's secret, a token the
// sandbox issued, or the full merchant account.
func assertMasked(t *testing.T, text string, m *Masker) {
	t.Helper()
	m.mu.Lock()
	secrets := append([]string(nil), m.secrets...)
	m.mu.Unlock()
	if len(secrets) < 2 {
		t.Fatalf("the masker saw %d secrets: the tokens were not recorded", len(secrets))
	}
	for _, s := range append(secrets, "sandbox-secret", "01340000000000000000") {
		if strings.Contains(text, s) {
			t.Errorf("output contains a secret or a full account: %.12s…", s)
		}
	}
}

// TestAFailingCaseFailsTheRun: a case whose expectation the sandbox does not
// meet fails the report.
func TestAFailingCaseFailsTheRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts, _ := sandboxRun(t)
	opts.Cases = CaseFile{Cases: []Case{{ID: "wrong_expectation", Steps: []Step{{
		Query:  QueryJSON{Mode: "transfer", Reference: "31415926"},
		Expect: Expect{Status: "COMPLETED"}}}}}}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed() {
		t.Fatal("a case that found nothing passed as COMPLETED")
	}
	if md := string(rep.Markdown()); !strings.Contains(md, "FAIL") || !strings.Contains(md, "want COMPLETED, got NOT_FOUND_YET") {
		t.Errorf("report does not say why:\n%s", md)
	}
}

// TestCaseFiles: the shipped files load; broken ones are refused naming the fault.
func TestCaseFiles(t *testing.T) {
	t.Parallel()
	for _, name := range []string{SandboxCases, "cases/qa.example.json", "cases/sandbox.json"} {
		if _, err := LoadCases(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	dir := t.TempDir()
	for body, want := range map[string]string{
		`{"cases":[]}`: "no cases",
		`{"cases":[{"id":"a","steps":[{"query":{"mode":"x","reference":"1"},"expect":{"status":"COMPLETED"}}]}]}`: "mode",
		`{"cases":[{"id":"a","steps":[{"query":{"mode":"mobile"},"expect":{"status":"DONE"}}]}]}`:                 "expect.status",
		`{"cases":[{"id":"a","steps":[]}]}`: "no steps",
		`{"cases":[{"id":"a","credentials":"x","steps":[{"query":{"mode":"mobile"},"expect":{"status":"COMPLETED"}}]}]}`: "credentials",
		`{"cases":[{"id":"a","steps":[{"before":"x","query":{"mode":"mobile"},"expect":{"status":"COMPLETED"}}]}]}`:      "before",
		`{"cases":[{"id":"a","steps":[{"query":{"mode":"mobile"},"expect":{"status":"COMPLETED"}}]},{"id":"a"}]}`:        "repeated",
		`nope`: "case file",
	} {
		path := filepath.Join(dir, "c.json")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCases(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error about %s", body, err, want)
		}
	}
	if _, err := LoadCases(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing file loaded")
	}
}
