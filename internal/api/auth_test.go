package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAuthRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	const password = "round-trip-password-1"

	r := b.post(t, "/api/v1/auth/register", "", map[string]string{
		"email": "Ana.Perez@Example.test", "password": password, "full_name": "  Ana   Pérez "})
	wantStatus(t, r, http.StatusCreated)
	var fields map[string]any
	r.decode(t, &fields)
	for _, k := range []string{"id", "email", "full_name", "is_active", "permissions", "created_at"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("registered user lacks %q: %s", k, r.body)
		}
	}
	if len(fields) != 6 {
		t.Errorf("registered user has fields beyond the contract (a password hash?): %s", r.body)
	}
	var u user
	r.decode(t, &u)
	if u.Email != "ana.perez@example.test" || u.FullName != "Ana Pérez" || !u.IsActive ||
		!reflect.DeepEqual(u.Permissions, []string{"transaction:create", "transaction:read", "webhook:manage"}) {
		t.Errorf("registered user = %+v", u)
	}
	if time.Since(u.CreatedAt) > time.Minute || u.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v, want now in UTC", u.CreatedAt)
	}

	// Login is case-insensitive on the email.
	lr := b.post(t, "/api/v1/auth/login", "", map[string]string{"email": "ANA.PEREZ@example.test", "password": password})
	wantStatus(t, lr, http.StatusOK)
	if cc := lr.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login Cache-Control = %q, want no-store", cc)
	}
	var pair tokenPair
	lr.decode(t, &pair)
	if pair.TokenType != "Bearer" || pair.ExpiresIn != int(accessTTL.Seconds()) || pair.AccessToken == "" || pair.RefreshToken == "" {
		t.Errorf("login reply = %s", lr.body)
	}
	checkClaims(t, pair.AccessToken, u)

	me := b.get(t, "/api/v1/auth/me", pair.AccessToken)
	wantStatus(t, me, http.StatusOK)
	var got user
	me.decode(t, &got)
	if got.ID != u.ID || got.Email != u.Email {
		t.Errorf("/auth/me = %+v, want %+v", got, u)
	}

	rr := b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken})
	wantStatus(t, rr, http.StatusOK)
	var next tokenPair
	rr.decode(t, &next)
	if next.RefreshToken == pair.RefreshToken || next.AccessToken == pair.AccessToken || next.TokenType != "Bearer" {
		t.Errorf("refresh did not rotate: %s", rr.body)
	}
	wantStatus(t, b.get(t, "/api/v1/auth/me", next.AccessToken), http.StatusOK)

	lo := b.post(t, "/api/v1/auth/logout", next.AccessToken, map[string]string{"refresh_token": next.RefreshToken})
	wantStatus(t, lo, http.StatusNoContent)
	if len(lo.body) != 0 {
		t.Errorf("logout body = %q, want none", lo.body)
	}
	wantError(t, b.get(t, "/api/v1/auth/me", next.AccessToken), http.StatusUnauthorized, "unauthorized")
	// The first access token was not logged out and is still good until it expires…
	wantStatus(t, b.get(t, "/api/v1/auth/me", pair.AccessToken), http.StatusOK)
	// …until a revoked refresh token of its family comes back (the logged-out
	// one, or the rotated one): reuse revokes the whole family, its access
	// tokens included.
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": next.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.get(t, "/api/v1/auth/me", pair.AccessToken), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}), http.StatusUnauthorized, "unauthorized")
}

// checkClaims decodes the token (without verifying: that is the server's job)
// and checks the contract's header and claims.
func checkClaims(t *testing.T, token string, u user) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWS", token)
	}
	var header map[string]any
	var claims struct {
		Sub   string   `json:"sub"`
		Email string   `json:"email"`
		Perms []string `json:"perms"`
		Iat   int64    `json:"iat"`
		Exp   int64    `json:"exp"`
		Jti   string   `json:"jti"`
	}
	for i, dst := range []any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
	}
	if header["alg"] != "HS256" {
		t.Errorf("alg = %v, want HS256", header["alg"])
	}
	if claims.Sub != u.ID || claims.Email != u.Email || !reflect.DeepEqual(claims.Perms, u.Permissions) || claims.Jti == "" {
		t.Errorf("claims = %+v, want sub %s email %s perms %v and a jti", claims, u.ID, u.Email, u.Permissions)
	}
	if got := time.Duration(claims.Exp-claims.Iat) * time.Second; got != accessTTL {
		t.Errorf("exp - iat = %v, want %v", got, accessTTL)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	first := a.tokens.RefreshToken

	r := b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first})
	wantStatus(t, r, http.StatusOK)
	var second tokenPair
	r.decode(t, &second)

	// A copy of the rotated token comes back: refused, and the family is revoked.
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": first}), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken}), http.StatusUnauthorized, "unauthorized")

	// Another login is another family, untouched.
	other := b.login(t, a.Email, a.password)
	wantStatus(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": other.RefreshToken}), http.StatusOK)
}

func TestRefreshRejectsBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"unknown token", map[string]string{"refresh_token": "bm90LWEtcmVhbC10b2tlbg"}, http.StatusUnauthorized, "unauthorized", ""},
		{"missing token", map[string]string{}, http.StatusUnprocessableEntity, "validation_failed", "refresh_token"},
		{"token not a string", `{"refresh_token":42}`, http.StatusUnprocessableEntity, "validation_failed", "refresh_token"},
		{"empty body", "", http.StatusBadRequest, "malformed_json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := wantError(t, b.post(t, "/api/v1/auth/refresh", "", tt.body), tt.status, tt.code)
			if tt.field != "" && e.Error.Fields[tt.field] == "" {
				t.Errorf("error.fields = %v, want %q named", e.Error.Fields, tt.field)
			}
		})
	}
}

func TestLogoutWithoutBodyRevokesAccessToken(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	wantStatus(t, b.post(t, "/api/v1/auth/logout", a.tokens.AccessToken, nil), http.StatusNoContent)
	wantError(t, b.get(t, "/api/v1/auth/me", a.tokens.AccessToken), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.post(t, "/api/v1/auth/logout", a.tokens.AccessToken, nil), http.StatusUnauthorized, "unauthorized")
	// The refresh token was not given, so it still works and yields a usable token.
	r := b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.tokens.RefreshToken})
	wantStatus(t, r, http.StatusOK)
	var p tokenPair
	r.decode(t, &p)
	wantStatus(t, b.get(t, "/api/v1/auth/me", p.AccessToken), http.StatusOK)
}

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	taken := b.newUser(t, nil)
	tests := []struct {
		name   string
		body   map[string]string
		status int
		code   string
		fields []string
	}{
		{"bad email", map[string]string{"email": "not-an-email", "password": "long-enough-pw", "full_name": "Ana"},
			http.StatusUnprocessableEntity, "validation_failed", []string{"email"}},
		{"display-name email", map[string]string{"email": "Ana <ana@example.test>", "password": "long-enough-pw", "full_name": "Ana"},
			http.StatusUnprocessableEntity, "validation_failed", []string{"email"}},
		{"short password", map[string]string{"email": "a@example.test", "password": "123456789", "full_name": "Ana"},
			http.StatusUnprocessableEntity, "validation_failed", []string{"password"}},
		{"password over bcrypt's 72 bytes", map[string]string{"email": "a@example.test", "password": strings.Repeat("p", 73), "full_name": "Ana"},
			http.StatusUnprocessableEntity, "validation_failed", []string{"password"}},
		{"name too short", map[string]string{"email": "a@example.test", "password": "long-enough-pw", "full_name": " A "},
			http.StatusUnprocessableEntity, "validation_failed", []string{"full_name"}},
		{"everything wrong", map[string]string{"email": "", "password": "", "full_name": ""},
			http.StatusUnprocessableEntity, "validation_failed", []string{"email", "password", "full_name"}},
		{"email taken, other case", map[string]string{"email": strings.ToUpper(taken.Email), "password": "long-enough-pw", "full_name": "Ana"},
			http.StatusConflict, "email_taken", []string{"email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := wantError(t, b.post(t, "/api/v1/auth/register", "", tt.body), tt.status, tt.code)
			if len(e.Error.Fields) != len(tt.fields) {
				t.Errorf("error.fields = %v, want exactly %v", e.Error.Fields, tt.fields)
			}
			for _, f := range tt.fields {
				if e.Error.Fields[f] == "" {
					t.Errorf("error.fields = %v, want %q named", e.Error.Fields, f)
				}
			}
		})
	}
	// A 10-character password is the documented minimum and is accepted.
	wantStatus(t, b.post(t, "/api/v1/auth/register", "", map[string]string{
		"email": "ten@example.test", "password": "0123456789", "full_name": "Ten Chars"}), http.StatusCreated)
}

func TestRegisterClosed(t *testing.T) {
	t.Parallel()
	b := setup(t, options{registrationClosed: true})
	r := b.post(t, "/api/v1/auth/register", "", map[string]string{
		"email": "new@example.test", "password": "long-enough-pw", "full_name": "New User"})
	if r.status != http.StatusForbidden {
		t.Fatalf("register with AUTH_REGISTRATION=closed: %d %s, want 403", r.status, r.body)
	}
	wantError(t, r, http.StatusForbidden, "registration_closed")
	// Nothing was created: the email cannot log in.
	wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": "new@example.test", "password": "long-enough-pw"}),
		http.StatusUnauthorized, "invalid_credentials")
	// The bootstrapped admin still can.
	b.login(t, adminEmail, adminPassword)
}

func TestLoginFailures(t *testing.T) {
	t.Parallel()
	const maxFailures = 3
	b := setup(t, options{loginMaxFailures: maxFailures})
	victim := b.newUser(t, nil)
	bystander := b.newUser(t, nil)
	login := func(email, password string) response {
		return b.post(t, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	}

	// Wrong password and unknown email look the same.
	unknown := wantError(t, login("nobody@example.test", "whatever-password"), http.StatusUnauthorized, "invalid_credentials")
	for i := range maxFailures {
		e := wantError(t, login(victim.Email, "wrong-password-"+strconv.Itoa(i)), http.StatusUnauthorized, "invalid_credentials")
		if e.Error.Message != unknown.Error.Message {
			t.Errorf("wrong password says %q, unknown email %q: they must not differ", e.Error.Message, unknown.Error.Message)
		}
	}
	// Now even the right password is refused for this IP+email, with Retry-After.
	r := login(victim.Email, victim.password)
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds (the failure window)", r.header.Get("Retry-After"))
	}
	// Another email from the same IP is unaffected, right or wrong.
	wantError(t, login(bystander.Email, "wrong-password"), http.StatusUnauthorized, "invalid_credentials")
	b.login(t, bystander.Email, bystander.password)
}

func TestLoginSuccessClearsFailures(t *testing.T) {
	t.Parallel()
	const maxFailures = 3
	b := setup(t, options{loginMaxFailures: maxFailures})
	a := b.newUser(t, nil)
	for range maxFailures - 1 {
		wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": a.Email, "password": "wrong-password"}),
			http.StatusUnauthorized, "invalid_credentials")
	}
	b.login(t, a.Email, a.password)
	// The counter restarted: maxFailures-1 more failures are still below the limit.
	for range maxFailures - 1 {
		wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": a.Email, "password": "wrong-password"}),
			http.StatusUnauthorized, "invalid_credentials")
	}
	b.login(t, a.Email, a.password)
}

func TestLoginValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	e := wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": " ", "password": ""}),
		http.StatusUnprocessableEntity, "validation_failed")
	if e.Error.Fields["email"] == "" || e.Error.Fields["password"] == "" {
		t.Errorf("error.fields = %v, want email and password named", e.Error.Fields)
	}
}
