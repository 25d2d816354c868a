package systest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// TestNoSecretsInLogs runs the whole flow through the real binaries with
// LOG_LEVEL=debug and greps every process's log for the passwords, tokens,
// client secret and customer data it used: none may appear.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin, err := os.MkdirTemp("", "verifier-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	if err := Build(bin); err != nil {
		t.Fatal(err)
	}
	const clientSecret = "bank-client-secret-7f3a9c"
	c, err := Start(ctx, Options{
		Dir: t.TempDir(), BinDir: bin, Workers: 1, Schedule: "1s", SandboxDemo: true,
		SandboxEnv: []string{"SANDBOX_CLIENT_SECRET=" + clientSecret, "LOG_LEVEL=debug"},
		ExtraEnv:   []string{"LOG_LEVEL=debug", "BANESCO_QA_CLIENT_SECRET=" + clientSecret},
	})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{AdminPassword, clientSecret, c.Token()}

	const userPassword = "user-password-5b1e77"
	if code, b, err := c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/register",
		map[string]string{"email": "secret-user@example.com", "password": userPassword, "full_name": "Secret User"}); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %s %v", code, b, err)
	}
	code, b, err := c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": "secret-user@example.com", "password": userPassword})
	if err != nil || code != http.StatusOK {
		t.Fatalf("login: %d %s %v", code, b, err)
	}
	var pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &pair); err != nil {
		t.Fatal(err)
	}
	// A failed login carries a password too.
	c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": "secret-user@example.com", "password": "wrong-password-99x"})
	code, b, err = c.DoAs(ctx, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": pair.RefreshToken})
	if err != nil || code != http.StatusOK {
		t.Fatalf("refresh: %d %s %v", code, b, err)
	}
	var rotated struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(b, &rotated); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, userPassword, "wrong-password-99x", pair.AccessToken, pair.RefreshToken, rotated.AccessToken, rotated.RefreshToken)

	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	nationalIDs := []string{"V27182818", "E31415926", "V16180339"}
	for i, nid := range nationalIDs {
		body, p := Payment("SECRET", i, date)
		body.Customer.NationalID = nid
		body.Customer.Phone = "0424765432" + string(rune('1'+i))
		p.Phone = body.Customer.Phone
		if err := c.AddPayments(ctx, []banksandbox.Payment{p}); err != nil {
			t.Fatal(err)
		}
		if code, b, err := c.DoAs(ctx, rotated.AccessToken, http.MethodPost, "/api/v1/transactions", body); err != nil || code != http.StatusCreated {
			t.Fatalf("create: %d %s %v", code, b, err)
		}
		secrets = append(secrets, nid, p.Phone)
	}
	if _, err := c.WaitAll(ctx, len(nationalIDs)); err != nil {
		t.Fatal(err)
	}
	if code, b, err := c.DoAs(ctx, rotated.AccessToken, http.MethodPost, "/api/v1/auth/logout", map[string]string{"refresh_token": rotated.RefreshToken}); err != nil || code != http.StatusNoContent {
		t.Fatalf("logout: %d %s %v", code, b, err)
	}
	time.Sleep(500 * time.Millisecond) // let the last log lines reach the files

	logs := c.Logs()
	if !strings.Contains(logs, `"level":"debug"`) {
		t.Fatalf("expected debug-level lines in the logs; is LOG_LEVEL=debug applied? (%d bytes)", len(logs))
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			i := strings.Index(logs, s)
			t.Errorf("a secret or customer datum appears in the logs: …%s…", logs[max(0, i-120):min(len(logs), i+40)])
		}
	}
	t.Logf("scanned %d bytes of logs from api, worker and sandbox for %d secrets", len(logs), len(secrets))
}
