package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"

	"github.com/banesco-verifier/verifier/internal/redistest"
)

// wantUnavailable checks the retryable outage reply: 503 unavailable with Retry-After.
func wantUnavailable(t *testing.T, r response) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	b.redis.Stop()

	// Revocation cannot be checked: refuse with a retryable 503, never 500 or 401.
	wantUnavailable(t, b.get(t, "/api/v1/auth/me", a.tokens.AccessToken))
	// The brute-force counter cannot be read: login is refused too.
	wantUnavailable(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": a.Email, "password": a.password}))
	// The API rate limit fails open, so registration (Postgres only) still works.
	wantStatus(t, b.post(t, "/api/v1/auth/register", "", map[string]string{
		"email": "during-outage@example.test", "password": "long-enough-pw", "full_name": "During Outage"}), http.StatusCreated)
	// Without a token the answer is still 401: nothing needed Redis.
	wantError(t, b.get(t, "/api/v1/auth/me", ""), http.StatusUnauthorized, "unauthorized")

	// Back up (empty: no persistence), everything works again.
	b.redis.Restart()
	wantStatus(t, b.get(t, "/api/v1/auth/me", a.tokens.AccessToken), http.StatusOK)
	b.login(t, a.Email, a.password)
}

func TestPostgresDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// down breaks the service's Postgres after a user and its token exist.
		down func(t *testing.T, b *testBundle)
	}{
		{"pool closed", func(t *testing.T, b *testBundle) { b.db.Close() }},
		{"database dropped", func(t *testing.T, b *testBundle) {
			// Force-dropping kills the pool's sessions and leaves nothing to reconnect to.
			admin, err := sqlx.Open("postgres", strings.Replace(b.db.URL, "/"+b.db.Name, "/postgres", 1))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.ExecContext(context.Background(), `DROP DATABASE "`+b.db.Name+`" WITH (FORCE)`); err != nil {
				t.Fatalf("drop: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{})
			a := b.newUser(t, nil)
			tt.down(t, b)
			wantUnavailable(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": a.Email, "password": a.password}))
			wantUnavailable(t, b.get(t, "/api/v1/auth/me", a.tokens.AccessToken))
			wantUnavailable(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.tokens.RefreshToken}))
			wantUnavailable(t, b.post(t, "/api/v1/auth/register", "", map[string]string{
				"email": "late@example.test", "password": "long-enough-pw", "full_name": "Late User"}))
			if strings.Contains(b.logs.String(), `"status":500`) {
				t.Errorf("an outage was logged as a 500:\n%s", b.logs.String())
			}
		})
	}
}

func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	// A pool pointing at a port where nothing listens: every connection is refused.
	db, err := sqlx.Open("postgres", "postgres://postgres@"+redistest.ClosedAddr(t)+"/verifier?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b := setup(t, options{db: db})
	wantUnavailable(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}))
	r := b.get(t, "/health/ready", "")
	wantStatus(t, r, http.StatusServiceUnavailable)
	if !strings.Contains(string(r.body), `"postgres":"down"`) || !strings.Contains(string(r.body), `"redis":"ok"`) {
		t.Errorf("/health/ready = %s, want postgres down and redis ok", r.body)
	}
}
