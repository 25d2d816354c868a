package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestLogsCarryNoSecrets runs every auth route, including failures, with the
// logger at debug level and checks that no password or token reached the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t, options{loginMaxFailures: 2})
	const password = "very-secret-password-77"
	const wrongPassword = "wrong-but-secret-password-88"
	secrets := []string{password, wrongPassword, adminPassword}

	wantStatus(t, b.post(t, "/api/v1/auth/register", "", map[string]string{
		"email": "secret@example.test", "password": password, "full_name": "Secret Keeper"}), http.StatusCreated)
	wantError(t, b.post(t, "/api/v1/auth/register", "", `{"email":"x","password":"`+password+`",`), http.StatusBadRequest, "malformed_json")
	wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": "secret@example.test", "password": wrongPassword}),
		http.StatusUnauthorized, "invalid_credentials")
	p := b.login(t, "secret@example.test", password)
	admin := b.login(t, adminEmail, adminPassword)
	wantStatus(t, b.get(t, "/api/v1/auth/me", p.AccessToken), http.StatusOK)
	r := b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken})
	wantStatus(t, r, http.StatusOK)
	var next tokenPair
	r.decode(t, &next)
	wantStatus(t, b.get(t, "/api/v1/users", admin.AccessToken), http.StatusOK)
	wantStatus(t, b.post(t, "/api/v1/auth/logout", next.AccessToken, map[string]string{"refresh_token": next.RefreshToken}), http.StatusNoContent)
	wantError(t, b.get(t, "/api/v1/auth/me", next.AccessToken), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": p.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	// Failures up to the brute-force limit, and an outage, log their own lines.
	for range 3 {
		b.post(t, "/api/v1/auth/login", "", map[string]string{"email": "secret@example.test", "password": wrongPassword})
	}
	b.redis.Stop()
	wantUnavailable(t, b.get(t, "/api/v1/auth/me", p.AccessToken))
	secrets = append(secrets, p.AccessToken, p.RefreshToken, next.AccessToken, next.RefreshToken, admin.AccessToken, admin.RefreshToken)

	logs := b.logs.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 15 || !strings.Contains(logs, `"route":"/api/v1/auth/login"`) {
		t.Fatalf("the logger captured %d lines; the test expects one per request:\n%s", len(lines), logs)
	}
	for _, line := range lines {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line carries a secret (%.8s…): %s", s, line)
			}
		}
		// A token's signature alone is enough to be a leak.
		for _, tok := range []string{p.AccessToken, next.AccessToken, admin.AccessToken} {
			if sig := tok[strings.LastIndex(tok, ".")+1:]; strings.Contains(line, sig) {
				t.Errorf("log line carries a token signature: %s", line)
			}
		}
		if strings.Contains(line, "Bearer") {
			t.Errorf("log line carries an Authorization header: %s", line)
		}
	}
}
