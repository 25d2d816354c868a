package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/banesco-verifier/verifier/internal/auth"
)

// The auth routes over real HTTP, as a client sees them.

type userBody struct {
	ID          string   `json:"id"`
	Email       string   `json:"email"`
	FullName    string   `json:"full_name"`
	IsActive    bool     `json:"is_active"`
	Permissions []string `json:"permissions"`
	CreatedAt   string   `json:"created_at"`
}

type pairBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func wantNoSecrets(t *testing.T, r reply) {
	t.Helper()
	if strings.Contains(string(r.body), "password") || strings.Contains(string(r.body), "$2a$") {
		t.Errorf("body %s shows a password or its hash", r.body)
	}
}

func TestHTTPRegister(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})

	t.Run("creates a user with the default permissions", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/api/v1/auth/register", "", map[string]string{
			"email": "  New.User@Example.test ", "password": "new-password-1", "full_name": "  Ada \t  Lovelace  "})
		wantStatus(t, r, http.StatusCreated)
		wantNoSecrets(t, r)
		var u userBody
		r.decode(t, &u)
		if u.ID == "" || u.Email != "new.user@example.test" || u.FullName != "Ada Lovelace" || !u.IsActive ||
			!reflect.DeepEqual(u.Permissions, auth.DefaultPermissions) {
			t.Errorf("user = %+v", u)
		}
		login := s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "new.user@example.test", "password": "new-password-1"})
		wantStatus(t, login, http.StatusOK)
	})

	t.Run("a taken email, in any case, is 409 and creates nothing", func(t *testing.T) {
		before := s.countUsers(t)
		r := s.do(t, http.MethodPost, "/api/v1/auth/register", "", map[string]string{
			"email": "NEW.USER@example.test", "password": "other-password-1", "full_name": "Someone Else"})
		e := wantError(t, r, http.StatusConflict, "email_taken")
		if e.Error.Fields["email"] == "" {
			t.Errorf("fields = %v, want email named", e.Error.Fields)
		}
		if s.countUsers(t) != before {
			t.Error("a user was created")
		}
		// The first owner's password still works, the newcomer's does not.
		wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "new.user@example.test", "password": "other-password-1"}),
			http.StatusUnauthorized, "invalid_credentials")
	})

	ok := map[string]string{"email": "edge@example.test", "password": "edge-password-1", "full_name": "Edge Case"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		m[k] = v
		return m
	}

	t.Run("invalid fields are 422 naming each and create nothing", func(t *testing.T) {
		before := s.countUsers(t)
		for _, tc := range []struct {
			name   string
			body   any
			fields []string
		}{
			{"not an email", with("email", "not-an-email"), []string{"email"}},
			{"empty email", with("email", "   "), []string{"email"}},
			{"a display name", with("email", "Bob <bob@example.test>"), []string{"email"}},
			{"255-byte email", with("email", emailOf("x", 255)), []string{"email"}},
			{"9-character password", with("password", "123456789"), []string{"password"}},
			{"73-byte password", with("password", strings.Repeat("p", 73)), []string{"password"}},
			{"37 two-byte runes (74 bytes)", with("password", strings.Repeat("é", 37)), []string{"password"}},
			{"1-character name", with("full_name", "A"), []string{"full_name"}},
			{"a name of blanks around one letter", with("full_name", "   A   "), []string{"full_name"}},
			{"256-character name", with("full_name", strings.Repeat("n", 256)), []string{"full_name"}},
			{"everything", map[string]string{"email": "x", "password": "short", "full_name": ""}, []string{"email", "password", "full_name"}},
			{"an unknown field", map[string]string{"email": "a@example.test", "password": "edge-password-1", "full_name": "Edge", "is_admin": "true"}, []string{"is_admin"}},
			{"a wrong type", map[string]any{"email": 7, "password": "edge-password-1", "full_name": "Edge"}, []string{"email"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantFields(t, s.do(t, http.MethodPost, "/api/v1/auth/register", "", tc.body), tc.fields...)
			})
		}
		wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/register", "", `{"email":`), http.StatusBadRequest, "malformed_json")
		if n := s.countUsers(t); n != before {
			t.Errorf("%d users created by invalid requests", n-before)
		}
	})

	t.Run("the limits themselves are accepted", func(t *testing.T) {
		for i, body := range []map[string]string{
			with("email", emailOf("y", 254)),
			{"email": "ten@example.test", "password": "1234567890", "full_name": "Ten Chars"},
			{"email": "runes@example.test", "password": strings.Repeat("é", 10), "full_name": "Ten Runes"},
			{"email": "max@example.test", "password": strings.Repeat("p", 72), "full_name": "Max Bytes"},
			{"email": "two@example.test", "password": "two-password-1", "full_name": "Jo"},
			{"email": "long@example.test", "password": "long-password-1", "full_name": strings.Repeat("ñ", 255)},
		} {
			r := s.do(t, http.MethodPost, "/api/v1/auth/register", "", body)
			if r.status != http.StatusCreated {
				t.Errorf("case %d %v: status %d, want 201 (body %s)", i, body["email"], r.status, r.body)
			}
		}
		// The 72-byte password is the whole password: one byte less is wrong.
		wantStatus(t, s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "max@example.test", "password": strings.Repeat("p", 72)}), http.StatusOK)
		wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "max@example.test", "password": strings.Repeat("p", 71)}),
			http.StatusUnauthorized, "invalid_credentials")
	})

	t.Run("closed registration is 403 and creates nothing", func(t *testing.T) {
		closed := startServer(t, serverOptions{registrationClosed: true})
		wantError(t, closed.do(t, http.MethodPost, "/api/v1/auth/register", "", ok), http.StatusForbidden, "registration_closed")
		if n := closed.countUsers(t); n != 0 {
			t.Errorf("%d users after a closed registration", n)
		}
	})
}

func TestHTTPLogin(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	u := s.register(t, "login@example.test", "login-password-1")
	login := func(email, password string) reply {
		return s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	}

	t.Run("a pair that works", func(t *testing.T) {
		r := login("  LOGIN@example.test ", "login-password-1")
		wantStatus(t, r, http.StatusOK)
		var p pairBody
		r.decode(t, &p)
		if p.TokenType != "Bearer" || p.ExpiresIn != int(harnessTTL.Seconds()) || p.RefreshToken == "" {
			t.Errorf("pair = %+v", p)
		}
		me := s.do(t, http.MethodGet, "/api/v1/auth/me", p.AccessToken, nil)
		wantStatus(t, me, http.StatusOK)
		var got userBody
		me.decode(t, &got)
		if got.ID != u.ID {
			t.Errorf("me = %+v, want %s", got, u.ID)
		}
	})

	t.Run("wrong password and unknown email look the same", func(t *testing.T) {
		a := wantError(t, login("login@example.test", "login-password-2"), http.StatusUnauthorized, "invalid_credentials")
		b := wantError(t, login("nobody@example.test", "login-password-1"), http.StatusUnauthorized, "invalid_credentials")
		if a.Error.Message != b.Error.Message {
			t.Errorf("messages differ: %q vs %q", a.Error.Message, b.Error.Message)
		}
	})

	t.Run("missing fields are 422", func(t *testing.T) {
		wantFields(t, login("", "login-password-1"), "email")
		wantFields(t, login("   ", "login-password-1"), "email")
		wantFields(t, login("login@example.test", ""), "password")
		wantFields(t, login("", ""), "email", "password")
		wantFields(t, s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]any{"email": "login@example.test", "password": 12}), "password")
		wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/login", "", "[]"), http.StatusBadRequest, "malformed_json")
	})

	t.Run("a deactivated user cannot log in", func(t *testing.T) {
		d := s.register(t, "gone@example.test", "gone-password-1")
		if _, err := s.store.SetActive(context.Background(), d.ID, false); err != nil {
			t.Fatal(err)
		}
		wantError(t, login("gone@example.test", "gone-password-1"), http.StatusUnauthorized, "invalid_credentials")
	})
}

func TestHTTPLoginLockout(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{adjust: func(o *auth.Options) { o.LoginMaxFailures = 2 }})
	s.register(t, "lock@example.test", "lock-password-1")
	s.register(t, "free@example.test", "free-password-1")
	login := func(email, password string) reply {
		return s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	}
	wantError(t, login("lock@example.test", "guess-1"), http.StatusUnauthorized, "invalid_credentials")
	wantError(t, login("lock@example.test", "guess-2"), http.StatusUnauthorized, "invalid_credentials")
	r := login("lock@example.test", "guess-3")
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, r, 60)
	// While the limit holds even the right password is refused, without tokens.
	r = login("lock@example.test", "lock-password-1")
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if strings.Contains(string(r.body), "access_token") {
		t.Errorf("a locked login returned tokens: %s", r.body)
	}
	// Another account from the same address is not locked.
	wantStatus(t, login("free@example.test", "free-password-1"), http.StatusOK)
}

func TestHTTPRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOptions{})
	refresh := func(token string) reply {
		return s.do(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
	}
	pairOf := func(r reply) pairBody {
		t.Helper()
		wantStatus(t, r, http.StatusOK)
		var p pairBody
		r.decode(t, &p)
		if p.AccessToken == "" || p.RefreshToken == "" || p.TokenType != "Bearer" {
			t.Fatalf("pair = %+v", p)
		}
		return p
	}
	me := func(token string) int { return s.do(t, http.MethodGet, "/api/v1/auth/me", token, nil).status }

	t.Run("rotation", func(t *testing.T) {
		u := s.register(t, "rot@example.test", "rot-password-1")
		first := s.login(t, "rot@example.test", "rot-password-1")
		second := pairOf(refresh(first.RefreshToken))
		third := pairOf(refresh(second.RefreshToken))
		if second.RefreshToken == first.RefreshToken || third.RefreshToken == second.RefreshToken {
			t.Error("the refresh token was not rotated")
		}
		for _, tok := range []string{first.AccessToken, second.AccessToken, third.AccessToken} {
			if got := me(tok); got != http.StatusOK {
				t.Errorf("/auth/me with a token of the live family = %d", got)
			}
		}
		var got userBody
		s.do(t, http.MethodGet, "/api/v1/auth/me", third.AccessToken, nil).decode(t, &got)
		if got.ID != u.ID {
			t.Errorf("refreshed token is for %s, want %s", got.ID, u.ID)
		}
	})

	t.Run("reuse revokes the family, not the user", func(t *testing.T) {
		s.register(t, "reuse@example.test", "reuse-password-1")
		first := s.login(t, "reuse@example.test", "reuse-password-1")
		other := s.login(t, "reuse@example.test", "reuse-password-1") // another device
		second := pairOf(refresh(first.RefreshToken))

		wantError(t, refresh(first.RefreshToken), http.StatusUnauthorized, "unauthorized")
		// The successor, and every access token of the family, are dead too.
		wantError(t, refresh(second.RefreshToken), http.StatusUnauthorized, "unauthorized")
		for _, tok := range []string{first.AccessToken, second.AccessToken} {
			wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", tok, nil), http.StatusUnauthorized, "unauthorized")
		}
		// The other login is untouched.
		if got := me(other.AccessToken); got != http.StatusOK {
			t.Errorf("/auth/me of another login = %d, want 200", got)
		}
		pairOf(refresh(other.RefreshToken))
		if w := s.logs.entries(t, "refresh token reused: its family is revoked"); len(w) != 2 || w[0]["level"] != "warn" || w[1]["level"] != "warn" {
			// One per reused token: the first, then its already revoked successor.
			t.Errorf("reuse log = %v, want two warnings", w)
		}
		// The revocation outlives every access token of the family.
		keys, err := s.rdb.Keys(ctx, "auth:revoked_family:*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("revoked families = %v, %v; want one", keys, err)
		}
		if ttl := s.rdb.PTTL(ctx, keys[0]).Val(); ttl <= harnessTTL {
			t.Errorf("family revocation lives %v, shorter than an access token (%v)", ttl, harnessTTL)
		}
	})

	t.Run("unknown, missing and malformed", func(t *testing.T) {
		wantError(t, refresh("no-such-token"), http.StatusUnauthorized, "unauthorized")
		wantFields(t, refresh(""), "refresh_token")
		wantFields(t, s.do(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]any{"refresh_token": 1}), "refresh_token")
		wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/refresh", "", "{"), http.StatusBadRequest, "malformed_json")
	})

	t.Run("a deactivated user cannot refresh", func(t *testing.T) {
		u := s.register(t, "inactive@example.test", "inactive-password-1")
		pair := s.login(t, "inactive@example.test", "inactive-password-1")
		// Deactivated behind the service's back: its refresh tokens stay live.
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET is_active = false WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, refresh(pair.RefreshToken), http.StatusUnauthorized, "unauthorized")
		wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", pair.AccessToken, nil), http.StatusUnauthorized, "unauthorized")
	})
}

func TestHTTPLogout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOptions{})
	s.register(t, "out@example.test", "out-password-1")
	s.register(t, "bystander@example.test", "bystander-password-1")
	logout := func(token string, body any) reply {
		return s.do(t, http.MethodPost, "/api/v1/auth/logout", token, body)
	}
	refresh := func(token string) reply {
		return s.do(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": token})
	}
	me := func(token string) int { return s.do(t, http.MethodGet, "/api/v1/auth/me", token, nil).status }

	t.Run("with the refresh token: both are revoked", func(t *testing.T) {
		pair := s.login(t, "out@example.test", "out-password-1")
		other := s.login(t, "out@example.test", "out-password-1")
		wantStatus(t, logout(pair.AccessToken, map[string]string{"refresh_token": pair.RefreshToken}), http.StatusNoContent)
		wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", pair.AccessToken, nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, refresh(pair.RefreshToken), http.StatusUnauthorized, "unauthorized")
		// Another session of the same user goes on.
		if got := me(other.AccessToken); got != http.StatusOK {
			t.Errorf("another session after logout = %d, want 200", got)
		}
	})

	t.Run("an empty body revokes the access token only", func(t *testing.T) {
		pair := s.login(t, "out@example.test", "out-password-1")
		wantStatus(t, logout(pair.AccessToken, nil), http.StatusNoContent)
		if got := me(pair.AccessToken); got != http.StatusUnauthorized {
			t.Errorf("/auth/me after logout = %d, want 401", got)
		}
		wantStatus(t, refresh(pair.RefreshToken), http.StatusOK)
		// The revocation outlives the token.
		keys, err := s.rdb.Keys(ctx, "auth:revoked:*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("revoked tokens = %v, %v", keys, err)
		}
		for _, k := range keys {
			if ttl := s.rdb.PTTL(ctx, k).Val(); ttl <= harnessTTL {
				t.Errorf("revocation %s lives %v, less than the token's %v", k, ttl, harnessTTL)
			}
		}
	})

	t.Run("someone else's refresh token is not revoked", func(t *testing.T) {
		mine := s.login(t, "out@example.test", "out-password-1")
		theirs := s.login(t, "bystander@example.test", "bystander-password-1")
		wantStatus(t, logout(mine.AccessToken, map[string]string{"refresh_token": theirs.RefreshToken}), http.StatusNoContent)
		wantStatus(t, refresh(theirs.RefreshToken), http.StatusOK)
	})

	t.Run("refused requests revoke nothing", func(t *testing.T) {
		pair := s.login(t, "out@example.test", "out-password-1")
		wantError(t, logout("", nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, logout(pair.AccessToken, "{not json"), http.StatusBadRequest, "malformed_json")
		wantFields(t, logout(pair.AccessToken, map[string]string{"token": pair.RefreshToken}), "token")
		if got := me(pair.AccessToken); got != http.StatusOK {
			t.Errorf("/auth/me after refused logouts = %d, want 200", got)
		}
		wantStatus(t, refresh(pair.RefreshToken), http.StatusOK)
	})
}

func TestHTTPMe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOptions{})
	u := s.register(t, "Me@Example.test", "me-password-12")
	tok := s.login(t, "me@example.test", "me-password-12").AccessToken
	r := s.do(t, http.MethodGet, "/api/v1/auth/me", tok, nil)
	wantStatus(t, r, http.StatusOK)
	wantNoSecrets(t, r)
	var got userBody
	r.decode(t, &got)
	if got.ID != u.ID || got.Email != "me@example.test" || got.FullName != "Test User" || !got.IsActive ||
		!reflect.DeepEqual(got.Permissions, auth.DefaultPermissions) || got.CreatedAt == "" {
		t.Errorf("me = %+v", got)
	}
	// Permissions come from the database, not the token.
	if _, err := s.store.SetPermissions(ctx, u.ID, []string{auth.PermWebhookManage}); err != nil {
		t.Fatal(err)
	}
	s.do(t, http.MethodGet, "/api/v1/auth/me", tok, nil).decode(t, &got)
	if !reflect.DeepEqual(got.Permissions, []string{auth.PermWebhookManage}) {
		t.Errorf("me permissions = %v, want the current ones", got.Permissions)
	}
}

// The bearer middleware and Require: 401 for anything but a valid token of an
// active user, 403 without the permission, both decided on every request.
func TestHTTPRequireAuthAndPermission(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := startServer(t, serverOptions{})
	u := s.register(t, "perm@example.test", "perm-password-1")
	tok := s.login(t, "perm@example.test", "perm-password-1").AccessToken

	r := s.do(t, http.MethodGet, probePath, tok, nil)
	wantStatus(t, r, http.StatusOK)
	var p struct {
		UserID      string   `json:"user_id"`
		Email       string   `json:"email"`
		Permissions []string `json:"permissions"`
	}
	r.decode(t, &p)
	if p.UserID != u.ID || p.Email != u.Email || !reflect.DeepEqual(p.Permissions, auth.DefaultPermissions) {
		t.Errorf("principal = %+v", p)
	}

	now := time.Now()
	user := auth.User{ID: u.ID, Email: u.Email, Permissions: pq.StringArray(auth.AllPermissions)}
	forged, _, _ := auth.NewTokens("some-other-secret-0123456789abcdef", harnessTTL, nil).Issue(user, "")
	expired, _, _ := auth.NewTokens(harnessSecret, harnessTTL, func() time.Time { return now.Add(-time.Hour) }).Issue(user, "")
	ghost, _, _ := auth.NewTokens(harnessSecret, harnessTTL, nil).Issue(auth.User{ID: uuid.NewString(), Email: "ghost@example.test"}, "")
	notUUID, _, _ := auth.NewTokens(harnessSecret, harnessTTL, nil).Issue(auth.User{ID: "not-a-uuid", Email: "x@example.test"}, "")
	for name, header := range map[string]string{
		"no header": "", "basic": "Basic cGVybUBleGFtcGxlLnRlc3Q6cGVybS1wYXNzd29yZC0x", "garbage": "Bearer garbage",
		"other secret": "Bearer " + forged, "expired": "Bearer " + expired, "unknown user": "Bearer " + ghost,
		"subject not a uuid": "Bearer " + notUUID, "two tokens": "Bearer " + tok + " " + tok,
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, s.url+probePath, nil)
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", resp.StatusCode)
			}
		})
	}

	// A token forged with the right claims but another secret cannot reach the admin routes.
	wantError(t, s.do(t, http.MethodGet, "/api/v1/users", forged, nil), http.StatusUnauthorized, "unauthorized")
	// The user's own token lacks admin:access.
	wantError(t, s.do(t, http.MethodGet, "/api/v1/users", tok, nil), http.StatusForbidden, "forbidden")

	// Revoking the permission takes effect on the next request, same token.
	if _, err := s.store.SetPermissions(ctx, u.ID, []string{auth.PermTransactionCreate}); err != nil {
		t.Fatal(err)
	}
	wantError(t, s.do(t, http.MethodGet, probePath, tok, nil), http.StatusForbidden, "forbidden")
	// Granting admin:access does too.
	if _, err := s.store.SetPermissions(ctx, u.ID, []string{auth.PermAdmin, auth.PermTransactionRead}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, s.do(t, http.MethodGet, "/api/v1/users", tok, nil), http.StatusOK)
	// Deactivation ends the unexpired token at once.
	if _, err := s.store.SetActive(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	wantError(t, s.do(t, http.MethodGet, probePath, tok, nil), http.StatusUnauthorized, "unauthorized")
}

// With Redis down a valid token cannot be checked for revocation: 503, never
// a pass; an invalid one is still 401.
func TestHTTPRequireAuthRedisDown(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	s.register(t, "down@example.test", "down-password-1")
	tok := s.login(t, "down@example.test", "down-password-1").AccessToken
	s.redis.Stop()
	r := s.do(t, http.MethodGet, "/api/v1/auth/me", tok, nil)
	wantError(t, r, http.StatusServiceUnavailable, "unavailable")
	wantRetryAfter(t, r, 60)
	wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", "garbage", nil), http.StatusUnauthorized, "unauthorized")
}

// The API limit is per user once authenticated, per address before: one
// user's exhausted budget does not throttle another user behind the same IP.
func TestHTTPRateLimitKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{rateLimit: 6}) // a burst of 1, one more every 10s
	s.register(t, "one@example.test", "one-password-12")
	s.register(t, "two@example.test", "two-password-12")
	one := s.login(t, "one@example.test", "one-password-12").AccessToken
	two := s.login(t, "two@example.test", "two-password-12").AccessToken

	wantStatus(t, s.do(t, http.MethodGet, "/api/v1/auth/me", one, nil), http.StatusOK)
	r := s.do(t, http.MethodGet, "/api/v1/auth/me", one, nil)
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	wantRetryAfter(t, r, 10)
	wantStatus(t, s.do(t, http.MethodGet, "/api/v1/auth/me", two, nil), http.StatusOK)

	anon := func() reply { return s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{}) }
	wantFields(t, anon(), "email", "password")
	wantError(t, anon(), http.StatusTooManyRequests, "rate_limited")
}

func TestHTTPListUsers(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	_, admin := s.adminToken(t)
	for i := range 4 {
		s.register(t, fmt.Sprintf("list%d@example.test", i), "list-password-1")
	}
	type page struct {
		Items []userBody `json:"items"`
		Total int        `json:"total"`
		Page  int        `json:"page"`
		Size  int        `json:"size"`
		Pages int        `json:"pages"`
	}
	get := func(query string) page {
		t.Helper()
		r := s.do(t, http.MethodGet, "/api/v1/users"+query, admin, nil)
		wantStatus(t, r, http.StatusOK)
		wantNoSecrets(t, r)
		var p page
		r.decode(t, &p)
		return p
	}
	all := get("")
	if all.Total != 5 || len(all.Items) != 5 || all.Page != 1 || all.Size != 20 || all.Pages != 1 {
		t.Fatalf("default page = %+v", all)
	}
	if all.Items[0].Email != "list3@example.test" || all.Items[4].Email != adminEmail {
		t.Errorf("order = %v..%v, want newest first", all.Items[0].Email, all.Items[4].Email)
	}
	p2 := get("?page=2&size=2")
	if p2.Total != 5 || p2.Page != 2 || p2.Size != 2 || p2.Pages != 3 || len(p2.Items) != 2 ||
		p2.Items[0].ID != all.Items[2].ID || p2.Items[1].ID != all.Items[3].ID {
		t.Errorf("page 2 of 2 = %+v, want items 3 and 4", p2)
	}
	p3 := get("?page=3&size=2")
	if len(p3.Items) != 1 || p3.Items[0].ID != all.Items[4].ID {
		t.Errorf("page 3 of 2 = %+v, want the oldest", p3)
	}
	if p := get("?page=4&size=2"); len(p.Items) != 0 || p.Items == nil || p.Total != 5 {
		t.Errorf("page past the end = %+v, want an empty list", p)
	}
	wantFields(t, s.do(t, http.MethodGet, "/api/v1/users?page=0", admin, nil), "page")
	wantFields(t, s.do(t, http.MethodGet, "/api/v1/users?size=101&page=x", admin, nil), "page", "size")
}

func TestHTTPSetPermissions(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	adminUser, admin := s.adminToken(t)
	u := s.register(t, "subject@example.test", "subject-password-1")
	userTok := s.login(t, "subject@example.test", "subject-password-1").AccessToken
	put := func(token, id string, body any) reply {
		return s.do(t, http.MethodPut, "/api/v1/users/"+id+"/permissions", token, body)
	}
	perms := func(id string) []string { return []string(s.user(t, id).Permissions) }

	r := put(admin, u.ID, map[string][]string{"permissions": {auth.PermWebhookManage, auth.PermTransactionRead}})
	wantStatus(t, r, http.StatusOK)
	var got userBody
	r.decode(t, &got)
	want := []string{auth.PermTransactionRead, auth.PermWebhookManage} // stable order
	if got.ID != u.ID || !reflect.DeepEqual(got.Permissions, want) {
		t.Errorf("reply = %+v, want permissions %v", got, want)
	}
	wantStatus(t, s.do(t, http.MethodGet, probePath, userTok, nil), http.StatusOK)

	// Refusals leave the permissions as they were.
	for name, tc := range map[string]struct {
		token, id string
		body      any
		status    int
		code      string
		field     string
	}{
		"missing":          {admin, u.ID, map[string]any{}, 422, "validation_failed", "permissions"},
		"null":             {admin, u.ID, map[string]any{"permissions": nil}, 422, "validation_failed", "permissions"},
		"unknown":          {admin, u.ID, map[string][]string{"permissions": {auth.PermTransactionRead, "root"}}, 422, "validation_failed", "permissions"},
		"not an array":     {admin, u.ID, map[string]any{"permissions": "admin:access"}, 422, "validation_failed", "permissions"},
		"not an admin":     {userTok, u.ID, map[string][]string{"permissions": auth.AllPermissions}, 403, "forbidden", ""},
		"no token":         {"", u.ID, map[string][]string{"permissions": auth.AllPermissions}, 401, "unauthorized", ""},
		"malformed":        {admin, u.ID, `{"permissions":[`, 400, "malformed_json", ""},
		"unknown user":     {admin, uuid.NewString(), map[string][]string{"permissions": {}}, 404, "not_found", ""},
		"id not a uuid":    {admin, "not-a-uuid", map[string][]string{"permissions": {}}, 404, "not_found", ""},
		"self, drop admin": {admin, adminUser.ID, map[string][]string{"permissions": {auth.PermTransactionRead}}, 409, "invalid_transition", ""},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, put(tc.token, tc.id, tc.body), tc.status, tc.code)
			if tc.field != "" && e.Error.Fields[tc.field] == "" {
				t.Errorf("fields = %v, want %q named", e.Error.Fields, tc.field)
			}
		})
	}
	if p := perms(u.ID); !reflect.DeepEqual(p, want) {
		t.Errorf("permissions after refusals = %v, want %v", p, want)
	}
	if p := perms(adminUser.ID); !reflect.DeepEqual(p, auth.AllPermissions) {
		t.Errorf("admin permissions after refusals = %v", p)
	}
	wantStatus(t, s.do(t, http.MethodGet, "/api/v1/users", admin, nil), http.StatusOK)

	// An admin may change their own permissions while keeping admin:access.
	wantStatus(t, put(admin, adminUser.ID, map[string][]string{"permissions": {auth.PermAdmin}}), http.StatusOK)
	// An empty list is allowed and takes effect on the user's next request.
	r = put(admin, u.ID, map[string][]string{"permissions": {}})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if len(got.Permissions) != 0 {
		t.Errorf("permissions = %v, want none", got.Permissions)
	}
	wantError(t, s.do(t, http.MethodGet, probePath, userTok, nil), http.StatusForbidden, "forbidden")
}

func TestHTTPPatchUser(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	adminUser, admin := s.adminToken(t)
	u := s.register(t, "patch@example.test", "patch-password-1")
	pair := s.login(t, "patch@example.test", "patch-password-1")
	patch := func(token, id string, body any) reply {
		return s.do(t, http.MethodPatch, "/api/v1/users/"+id, token, body)
	}
	login := func() reply {
		return s.do(t, http.MethodPost, "/api/v1/auth/login", "", map[string]string{"email": "patch@example.test", "password": "patch-password-1"})
	}

	// Refusals change nothing.
	for name, tc := range map[string]struct {
		token, id string
		body      any
		status    int
		code      string
	}{
		"missing":       {admin, u.ID, map[string]any{}, 422, "validation_failed"},
		"null":          {admin, u.ID, map[string]any{"is_active": nil}, 422, "validation_failed"},
		"a string":      {admin, u.ID, map[string]any{"is_active": "false"}, 422, "validation_failed"},
		"not an admin":  {pair.AccessToken, u.ID, map[string]bool{"is_active": false}, 403, "forbidden"},
		"unknown user":  {admin, uuid.NewString(), map[string]bool{"is_active": false}, 404, "not_found"},
		"id not a uuid": {admin, "not-a-uuid", map[string]bool{"is_active": false}, 404, "not_found"},
		"self":          {admin, adminUser.ID, map[string]bool{"is_active": false}, 409, "invalid_transition"},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantError(t, patch(tc.token, tc.id, tc.body), tc.status, tc.code)
			if tc.status == 422 && e.Error.Fields["is_active"] == "" {
				t.Errorf("fields = %v, want is_active named", e.Error.Fields)
			}
		})
	}
	if !s.user(t, u.ID).IsActive || !s.user(t, adminUser.ID).IsActive {
		t.Fatal("a refused PATCH deactivated someone")
	}
	wantStatus(t, s.do(t, http.MethodGet, "/api/v1/auth/me", pair.AccessToken, nil), http.StatusOK)
	// Re-activating oneself is harmless.
	wantStatus(t, patch(admin, adminUser.ID, map[string]bool{"is_active": true}), http.StatusOK)

	// Deactivation: the reply says so, and every credential stops at once.
	r := patch(admin, u.ID, map[string]bool{"is_active": false})
	wantStatus(t, r, http.StatusOK)
	var got userBody
	r.decode(t, &got)
	if got.ID != u.ID || got.IsActive {
		t.Errorf("reply = %+v, want inactive", got)
	}
	wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", pair.AccessToken, nil), http.StatusUnauthorized, "unauthorized")
	wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	wantError(t, login(), http.StatusUnauthorized, "invalid_credentials")

	// Reactivation lets the user log in again; the old refresh token stays revoked.
	r = patch(admin, u.ID, map[string]bool{"is_active": true})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &got)
	if !got.IsActive {
		t.Errorf("reply = %+v, want active", got)
	}
	wantStatus(t, login(), http.StatusOK)
	wantError(t, s.do(t, http.MethodPost, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": pair.RefreshToken}), http.StatusUnauthorized, "unauthorized")
}
