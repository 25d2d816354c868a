package api_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	big := `{"email":"` + strings.Repeat("a", 65*1024) + `@example.test","password":"long-enough-pw","full_name":"Big"}`
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"malformed JSON", http.MethodPost, "/api/v1/auth/login", `{"email":"a@example.test",`, http.StatusBadRequest, "malformed_json", ""},
		{"not JSON at all", http.MethodPost, "/api/v1/auth/login", `email=a@example.test`, http.StatusBadRequest, "malformed_json", ""},
		{"two objects", http.MethodPost, "/api/v1/auth/login", `{"email":"a@example.test"}{}`, http.StatusBadRequest, "malformed_json", ""},
		{"an array, not an object", http.MethodPost, "/api/v1/auth/login", `[]`, http.StatusBadRequest, "malformed_json", ""},
		{"unknown field", http.MethodPost, "/api/v1/auth/register", `{"email":"a@example.test","password":"long-enough-pw","full_name":"Ana","is_admin":true}`,
			http.StatusUnprocessableEntity, "validation_failed", "is_admin"},
		{"wrong type", http.MethodPost, "/api/v1/auth/login", `{"email":["a@example.test"],"password":"x"}`, http.StatusUnprocessableEntity, "validation_failed", "email"},
		{"body over 64 KiB", http.MethodPost, "/api/v1/auth/register", big, http.StatusRequestEntityTooLarge, "body_too_large", ""},
		{"unknown route", http.MethodGet, "/api/v1/nope", nil, http.StatusNotFound, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := wantError(t, b.do(t, request{method: tt.method, path: tt.path, body: tt.body}), tt.status, tt.code)
			if tt.field != "" && e.Error.Fields[tt.field] == "" {
				t.Errorf("error.fields = %v, want %q named", e.Error.Fields, tt.field)
			}
			if tt.field == "" && len(e.Error.Fields) != 0 {
				t.Errorf("error.fields = %v, want none", e.Error.Fields)
			}
		})
	}
	// Just under the limit is read (and judged on its content, not its size).
	under := `{"email":"x","password":"long-enough-pw","full_name":"` + strings.Repeat("a", 63*1024) + `"}`
	e := wantError(t, b.post(t, "/api/v1/auth/register", "", under), http.StatusUnprocessableEntity, "validation_failed")
	if e.Error.Fields["email"] == "" {
		t.Errorf("error.fields = %v, want email named", e.Error.Fields)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	tests := []struct {
		name     string
		incoming string
		echoed   bool
	}{
		{"none given", "", false},
		{"given", "client-req_42.a:b", true},
		{"given with spaces", "not a valid id", false},
		{"given too long", strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{}
			if tt.incoming != "" {
				h["X-Request-ID"] = tt.incoming
			}
			// On an error, the header and the body agree.
			r := b.do(t, request{method: http.MethodGet, path: "/api/v1/auth/me", header: h})
			e := wantError(t, r, http.StatusUnauthorized, "unauthorized")
			if got := r.header.Get("X-Request-ID"); (got == tt.incoming) != tt.echoed || got == "" {
				t.Errorf("X-Request-ID = %q for incoming %q, echoed want %v", got, tt.incoming, tt.echoed)
			}
			if e.RequestID != r.header.Get("X-Request-ID") {
				t.Errorf("request_id %q != header %q", e.RequestID, r.header.Get("X-Request-ID"))
			}
			// On a success too.
			ok := b.do(t, request{method: http.MethodGet, path: "/health/live", header: h})
			wantStatus(t, ok, http.StatusOK)
			if got := ok.header.Get("X-Request-ID"); got == "" || (got == tt.incoming) != tt.echoed {
				t.Errorf("success X-Request-ID = %q for incoming %q", got, tt.incoming)
			}
		})
	}
	// Generated ids differ from one request to the next.
	a, c := b.get(t, "/health/live", ""), b.get(t, "/health/live", "")
	if a.header.Get("X-Request-ID") == c.header.Get("X-Request-ID") {
		t.Errorf("two requests got the same generated id %q", a.header.Get("X-Request-ID"))
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	}
	for _, r := range []response{
		b.get(t, "/health/live", ""),
		b.get(t, "/api/v1/auth/me", ""),
		b.get(t, "/api/v1/auth/me", b.adminToken(t)),
		b.get(t, "/no/such/route", ""),
	} {
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("status %d: %s = %q, want %q", r.status, k, got, v)
			}
		}
		if hsts := r.header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
			t.Errorf("status %d: Strict-Transport-Security = %q", r.status, hsts)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("status %d: Content-Security-Policy = %q", r.status, csp)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	preflight := func(origin string) response {
		return b.do(t, request{method: http.MethodOptions, path: "/api/v1/auth/login", header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Content-Type, Authorization"}})
	}
	r := preflight(allowedOrigin)
	if r.status >= 300 {
		t.Errorf("preflight from allowed origin: status %d", r.status)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
		t.Errorf("preflight from allowed origin: Access-Control-Allow-Origin = %q, want %q", got, allowedOrigin)
	}
	if got := r.header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
		t.Errorf("preflight: Access-Control-Allow-Headers = %q, want Authorization allowed", got)
	}

	r = preflight("https://evil.example")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another origin: Access-Control-Allow-Origin = %q, want none", got)
	}

	// A real request from the allowed origin can read the request id.
	r = b.do(t, request{method: http.MethodGet, path: "/health/live", header: map[string]string{"Origin": allowedOrigin}})
	if got := r.header.Get("Access-Control-Allow-Origin"); got != allowedOrigin {
		t.Errorf("GET from allowed origin: Access-Control-Allow-Origin = %q", got)
	}
	if got := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "X-Request-ID") || !strings.Contains(got, "Retry-After") {
		t.Errorf("Access-Control-Expose-Headers = %q, want X-Request-ID and Retry-After", got)
	}
}

func TestAPIRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, options{rateLimit: 6})
	tok := b.adminToken(t) // login is limited per IP, /auth/me per user: separate budgets

	first := b.get(t, "/api/v1/auth/me", tok)
	wantStatus(t, first, http.StatusOK)
	if got := first.header.Get("X-RateLimit-Limit"); got != "6" {
		t.Errorf("X-RateLimit-Limit = %q, want 6", got)
	}
	var limited response
	for range 6 {
		if r := b.get(t, "/api/v1/auth/me", tok); r.status != http.StatusOK {
			limited = r
			break
		}
	}
	wantError(t, limited, http.StatusTooManyRequests, "rate_limited")
	if secs, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", limited.header.Get("Retry-After"))
	}
	// Health checks are not limited: the orchestrator must always get through.
	wantStatus(t, b.get(t, "/health/live", ""), http.StatusOK)
	// Another user has a budget of its own (made through the service: the
	// anonymous routes share this IP's exhausted budget).
	ctx := context.Background()
	if _, err := b.svc.Register(ctx, "other@example.test", "other-password-1", "Other User"); err != nil {
		t.Fatalf("register: %v", err)
	}
	other, err := b.svc.Login(ctx, "127.0.0.1", "other@example.test", "other-password-1")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	wantStatus(t, b.get(t, "/api/v1/auth/me", other.AccessToken), http.StatusOK)
	// And anonymous routes are limited per IP.
	wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}),
		http.StatusTooManyRequests, "rate_limited")
}
