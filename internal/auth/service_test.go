package auth_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/redistest"
)

// A successful Login returns a pair that works: the access token verifies and
// names the user, and the refresh token rotates into a new working pair.
func TestLoginReturnsAWorkingPair(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t, nil)
	u := b.register(t, "pair@example.test", "pair-password-1")

	pair, err := b.svc.Login(ctx, "192.0.2.1", "pair@example.test", "pair-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if pair.TokenType != "Bearer" || pair.ExpiresIn != int(harnessTTL.Seconds()) || pair.RefreshToken == "" {
		t.Errorf("pair = %+v, want a Bearer pair expiring in %v", pair, harnessTTL)
	}
	claims, err := auth.NewTokens(harnessSecret, harnessTTL, nil).Verify(pair.AccessToken)
	if err != nil {
		t.Fatalf("the access token of Login does not verify: %v", err)
	}
	if claims.Subject != u.ID || claims.Email != u.Email || !reflect.DeepEqual(claims.Perms, auth.DefaultPermissions) {
		t.Errorf("claims = %+v, want the user %s with the default permissions", claims, u.ID)
	}
	p, err := b.svc.Authenticate(ctx, pair.AccessToken)
	if err != nil || p.UserID != u.ID {
		t.Fatalf("Authenticate(access) = %+v, %v; want the user", p, err)
	}

	next, err := b.svc.Refresh(ctx, pair.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh of a fresh refresh token: %v", err)
	}
	if next.AccessToken == "" || next.RefreshToken == "" || next.RefreshToken == pair.RefreshToken || next.AccessToken == pair.AccessToken {
		t.Errorf("Refresh = %+v, want a new pair", next)
	}
	if p, err := b.svc.Authenticate(ctx, next.AccessToken); err != nil || p.UserID != u.ID {
		t.Errorf("Authenticate(refreshed access) = %+v, %v; want the user", p, err)
	}
	if _, err := b.svc.Refresh(ctx, next.RefreshToken); err != nil {
		t.Errorf("the rotated refresh token does not refresh: %v", err)
	}
}

func wantTooMany(t *testing.T, err error, window time.Duration) {
	t.Helper()
	var tooMany *auth.ErrTooManyFailures
	if !errors.As(err, &tooMany) {
		t.Fatalf("err = %v, want ErrTooManyFailures", err)
	}
	if tooMany.RetryAfter < time.Second || tooMany.RetryAfter > window {
		t.Errorf("RetryAfter = %v, want 1s..%v", tooMany.RetryAfter, window)
	}
}

// The wider login limits default to 4× (per IP, across accounts) and 10× (per
// account, across IPs) the per IP+account limit, and a configured value is kept.
func TestLoginFailureLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("per IP defaults to 4x", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, func(o *auth.Options) { o.LoginMaxFailures = 2 })
		for i := range 8 {
			_, err := b.svc.Login(ctx, "192.0.2.10", fmt.Sprintf("user%d@example.test", i), "wrong-password")
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("failure %d from one IP = %v, want ErrInvalidCredentials", i+1, err)
			}
		}
		_, err := b.svc.Login(ctx, "192.0.2.10", "user8@example.test", "wrong-password")
		wantTooMany(t, err, time.Minute)
		// Another IP is not limited.
		if _, err := b.svc.Login(ctx, "192.0.2.11", "user8@example.test", "wrong-password"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("another IP = %v, want ErrInvalidCredentials", err)
		}
	})

	t.Run("per account defaults to 10x", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, func(o *auth.Options) { o.LoginMaxFailures = 2 })
		b.register(t, "target@example.test", "target-password-1")
		for i := range 20 {
			_, err := b.svc.Login(ctx, fmt.Sprintf("198.51.100.%d", i), "target@example.test", "wrong-password")
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("failure %d on one account = %v, want ErrInvalidCredentials", i+1, err)
			}
		}
		_, err := b.svc.Login(ctx, "198.51.100.20", "target@example.test", "wrong-password")
		wantTooMany(t, err, time.Minute)
		// Another account from that IP is not limited.
		if _, err := b.svc.Login(ctx, "198.51.100.20", "other@example.test", "wrong-password"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("another account = %v, want ErrInvalidCredentials", err)
		}
	})

	t.Run("configured values are kept", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, func(o *auth.Options) {
			o.LoginMaxFailures, o.LoginMaxFailuresPerIP, o.LoginMaxFailuresPerAccount = 2, 3, 5
		})
		for i := range 3 {
			if _, err := b.svc.Login(ctx, "192.0.2.20", fmt.Sprintf("u%d@example.test", i), "x"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("failure %d = %v", i+1, err)
			}
		}
		_, err := b.svc.Login(ctx, "192.0.2.20", "u3@example.test", "x")
		wantTooMany(t, err, time.Minute)
		for i := range 5 {
			if _, err := b.svc.Login(ctx, fmt.Sprintf("203.0.113.%d", i), "acct@example.test", "x"); !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("account failure %d = %v", i+1, err)
			}
		}
		_, err = b.svc.Login(ctx, "203.0.113.99", "acct@example.test", "x")
		wantTooMany(t, err, time.Minute)
	})
}

// A success gives back its slots: the failures before it stop counting.
func TestLoginSuccessClearsFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t, func(o *auth.Options) { o.LoginMaxFailures = 2 })
	b.register(t, "clear@example.test", "clear-password-1")
	for range 3 {
		if _, err := b.svc.Login(ctx, "192.0.2.30", "clear@example.test", "wrong-password"); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Fatalf("wrong password = %v", err)
		}
		if _, err := b.svc.Login(ctx, "192.0.2.30", "clear@example.test", "clear-password-1"); err != nil {
			t.Fatalf("right password after one failure = %v", err)
		}
	}
}

// The bearer-token failure cap: 60 a minute per IP by default, a configured
// value kept; past it the middleware answers 429, and valid tokens still pass.
func TestAuthFailuresPerIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		configured int
		cap        int
	}{{"configured 3", 3, 3}, {"default 60", 0, 60}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, serverOptions{adjust: func(o *auth.Options) { o.AuthFailuresPerIP = tc.configured }})
			s.register(t, "valid@example.test", "valid-password-1")
			good := s.login(t, "valid@example.test", "valid-password-1").AccessToken
			for i := range tc.cap {
				wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", "not-a-token-"+fmt.Sprint(i), nil), http.StatusUnauthorized, "unauthorized")
			}
			r := s.do(t, http.MethodGet, "/api/v1/auth/me", "not-a-token", nil)
			wantError(t, r, http.StatusTooManyRequests, "rate_limited")
			wantRetryAfter(t, r, 60)
			// A missing header counts the same.
			wantError(t, s.do(t, http.MethodGet, "/api/v1/auth/me", "", nil), http.StatusTooManyRequests, "rate_limited")
			wantStatus(t, s.do(t, http.MethodGet, "/api/v1/auth/me", good, nil), http.StatusOK)
		})
	}
}

// stopRedisAtRelease stops the redis-server just before the second script
// call of a Login once armed: the reservation went through, the release of a
// successful attempt does not.
type stopRedisAtRelease struct {
	srv     *redistest.Server
	armed   bool
	scripts int
}

func (h *stopRedisAtRelease) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *stopRedisAtRelease) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *stopRedisAtRelease) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := cmd.Name(); h.armed && (n == "evalsha" || n == "eval") {
			h.scripts++
			if h.scripts == 2 {
				h.srv.Stop()
			}
		}
		return next(ctx, cmd)
	}
}

// Clearing the failure counters after a good login is best effort: when it
// fails, the login still succeeds and a warning is logged; when it works,
// nothing is logged.
func TestLoginWarnsWhenClearingFailuresFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t, nil)
	hook := &stopRedisAtRelease{srv: b.redis}
	b.rdb.AddHook(hook)
	b.register(t, "warn@example.test", "warn-password-1")

	// Also loads both scripts, so the armed login runs exactly two EVALSHAs.
	b.login(t, "warn@example.test", "warn-password-1")
	if w := b.logs.entries(t, "clear login failures"); len(w) != 0 {
		t.Fatalf("a good login with Redis up logged %v", w)
	}

	hook.armed = true
	pair, err := b.svc.Login(ctx, "192.0.2.40", "warn@example.test", "warn-password-1")
	if err != nil || pair.AccessToken == "" {
		t.Fatalf("Login with Redis gone after the reservation = %+v, %v; want a pair", pair, err)
	}
	if hook.scripts != 2 {
		t.Fatalf("%d script calls in the armed login, want 2 (reserve, release)", hook.scripts)
	}
	w := b.logs.entries(t, "clear login failures")
	if len(w) != 1 || w[0]["level"] != "warn" || w[0]["error"] == nil {
		t.Errorf("log entries = %v, want one warning with the error (log %s)", w, b.logs.String())
	}
}

// filler returns s padded with 'x' to n bytes.
func filler(s string, n int) string { return s + strings.Repeat("x", n-len(s)) }

// emailOf returns a syntactically valid address of exactly n bytes.
func emailOf(prefix string, n int) string {
	return filler(prefix, n-len("@example.test")) + "@example.test"
}

// HTTP Basic takes passwords up to 1024 bytes and emails up to 320, and
// refuses longer ones before any bcrypt compare with the user's hash.
func TestBasicCredentialLengthLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t, nil)
	cache := auth.NewBasicCache(b.svc, time.Minute)

	// bcrypt reads 72 bytes: a hash of this prefix matches every longer
	// password that starts with it, so only the length gate can refuse one.
	prefix := strings.Repeat("p", 72)
	hash, err := bcrypt.GenerateFromPassword([]byte(prefix), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	long, tooLong := filler(prefix, 1024), filler(prefix, 1025)
	if bcrypt.CompareHashAndPassword(hash, []byte(tooLong)) != nil {
		t.Fatal("bcrypt no longer truncates: this test needs another way to tell the gate from bcrypt")
	}
	u, err := b.store.CreateUser(ctx, "long@example.test", string(hash), "Long Password", auth.DefaultPermissions)
	if err != nil {
		t.Fatal(err)
	}
	p, res, err := cache.Check(ctx, "192.0.2.50", "long@example.test", long)
	if err != nil || res != auth.BasicVerified || p.UserID != u.ID {
		t.Errorf("Check with a 1024-byte password = %+v, %q, %v; want verified", p, res, err)
	}
	if p, err := b.svc.CheckPassword(ctx, "192.0.2.50", "long@example.test", long); err != nil || p.UserID != u.ID {
		t.Errorf("CheckPassword with a 1024-byte password = %+v, %v; want the user", p, err)
	}
	if _, res, err := cache.Check(ctx, "192.0.2.50", "long@example.test", tooLong); !errors.Is(err, auth.ErrInvalidCredentials) || res != auth.BasicRejected {
		t.Errorf("Check with a 1025-byte password = %q, %v; want rejected, ErrInvalidCredentials", res, err)
	}

	// Emails: exactly 320 bytes is accepted, 321 refused.
	for _, tc := range []struct {
		n  int
		ok bool
	}{{320, true}, {321, false}} {
		email := emailOf(fmt.Sprintf("e%d", tc.n), tc.n)
		hash, _ := bcrypt.GenerateFromPassword([]byte("basic-password-1"), bcrypt.MinCost)
		if _, err := b.store.CreateUser(ctx, email, string(hash), "Long Email", auth.DefaultPermissions); err != nil {
			t.Fatal(err)
		}
		_, res, err := cache.Check(ctx, "192.0.2.51", email, "basic-password-1")
		if tc.ok && (err != nil || res != auth.BasicVerified) {
			t.Errorf("%d-byte email = %q, %v; want verified", tc.n, res, err)
		}
		if !tc.ok && (!errors.Is(err, auth.ErrInvalidCredentials) || res != auth.BasicRejected) {
			t.Errorf("%d-byte email = %q, %v; want rejected", tc.n, res, err)
		}
	}
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// The Basic cache spares bcrypt on repeated good credentials, but every hit is
// re-validated: deactivation, a password change or deletion takes effect at
// once, permissions are read fresh and failures are never cached.
func TestBasicCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ip = "192.0.2.60"

	check := func(t *testing.T, c *auth.BasicCache, email, password string, want auth.BasicResult) *auth.Principal {
		t.Helper()
		p, res, err := c.Check(ctx, ip, email, password)
		if res != want {
			t.Fatalf("Check(%s) = %q, %v; want %q", email, res, err, want)
		}
		if want == auth.BasicRejected {
			if !errors.Is(err, auth.ErrInvalidCredentials) || p != nil {
				t.Fatalf("rejected Check = %+v, %v; want ErrInvalidCredentials", p, err)
			}
			return nil
		}
		if err != nil || p == nil || p.Email != strings.ToLower(email) {
			t.Fatalf("Check(%s) = %+v, %v; want the user", email, p, err)
		}
		return p
	}

	t.Run("hits, misses and re-validation", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, nil)
		c := auth.NewBasicCache(b.svc, time.Minute)
		a := b.register(t, "a@example.test", "a-password-123")
		b.register(t, "b@example.test", "b-password-123")

		check(t, c, "a@example.test", "a-password-123", auth.BasicVerified)
		check(t, c, "a@example.test", "a-password-123", auth.BasicCached)
		check(t, c, "A@Example.test", "a-password-123", auth.BasicCached)
		// A second user does not evict the first.
		check(t, c, "b@example.test", "b-password-123", auth.BasicVerified)
		check(t, c, "a@example.test", "a-password-123", auth.BasicCached)
		check(t, c, "b@example.test", "b-password-123", auth.BasicCached)
		// Wrong passwords are rejected every time, never cached.
		check(t, c, "a@example.test", "a-password-124", auth.BasicRejected)
		check(t, c, "a@example.test", "a-password-124", auth.BasicRejected)

		// Permissions are read on the hit.
		if _, err := b.store.SetPermissions(ctx, a.ID, []string{auth.PermAdmin}); err != nil {
			t.Fatal(err)
		}
		if p := check(t, c, "a@example.test", "a-password-123", auth.BasicCached); !reflect.DeepEqual(p.Permissions, []string{auth.PermAdmin}) {
			t.Errorf("cached principal permissions = %v, want the new ones", p.Permissions)
		}

		// Deactivation takes effect at once, reactivation needs a new bcrypt check.
		if _, err := b.store.SetActive(ctx, a.ID, false); err != nil {
			t.Fatal(err)
		}
		check(t, c, "a@example.test", "a-password-123", auth.BasicRejected)
		if _, err := b.store.SetActive(ctx, a.ID, true); err != nil {
			t.Fatal(err)
		}
		check(t, c, "a@example.test", "a-password-123", auth.BasicVerified)
		check(t, c, "a@example.test", "a-password-123", auth.BasicCached)

		// A password changed in the database ends the old one's cache entry.
		hash, _ := bcrypt.GenerateFromPassword([]byte("a-new-password-1"), bcrypt.MinCost)
		if _, err := b.db.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, a.ID, string(hash)); err != nil {
			t.Fatal(err)
		}
		check(t, c, "a@example.test", "a-password-123", auth.BasicRejected)
		check(t, c, "a@example.test", "a-new-password-1", auth.BasicVerified)

		// A deleted user is rejected like a wrong password.
		if _, err := b.db.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, a.ID); err != nil {
			t.Fatal(err)
		}
		check(t, c, "a@example.test", "a-new-password-1", auth.BasicRejected)
	})

	t.Run("entries expire after the TTL, one minute by default", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		b := newBundle(t, func(o *auth.Options) { o.Now = clk.now })
		b.register(t, "ttl@example.test", "ttl-password-1")
		for _, ttl := range []time.Duration{0, -time.Second, time.Minute} {
			c := auth.NewBasicCache(b.svc, ttl)
			check(t, c, "ttl@example.test", "ttl-password-1", auth.BasicVerified)
			clk.advance(59 * time.Second)
			check(t, c, "ttl@example.test", "ttl-password-1", auth.BasicCached)
			clk.advance(2 * time.Second)
			check(t, c, "ttl@example.test", "ttl-password-1", auth.BasicVerified)
		}
	})

	t.Run("failure limit applies", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, func(o *auth.Options) { o.LoginMaxFailures = 2 })
		c := auth.NewBasicCache(b.svc, time.Minute)
		b.register(t, "lim@example.test", "lim-password-1")
		check(t, c, "lim@example.test", "wrong-1", auth.BasicRejected)
		check(t, c, "lim@example.test", "wrong-2", auth.BasicRejected)
		_, res, err := c.Check(ctx, ip, "lim@example.test", "lim-password-1")
		if res != auth.BasicRejected {
			t.Errorf("Check past the limit = %q, want rejected", res)
		}
		wantTooMany(t, err, time.Minute)
	})
}

// Passwords are hashed at the configured bcrypt cost (DefaultCost when 0):
// a cost set above the default must not be silently lowered.
func TestBcryptCost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ configured, want int }{{bcrypt.MinCost, bcrypt.MinCost}, {0, bcrypt.DefaultCost}} {
		b := newBundle(t, func(o *auth.Options) { o.BcryptCost = tc.configured })
		u := b.register(t, fmt.Sprintf("cost%d@example.test", tc.configured), "cost-password-1")
		if cost, err := bcrypt.Cost([]byte(b.user(t, u.ID).PasswordHash)); err != nil || cost != tc.want {
			t.Errorf("BcryptCost %d: stored hash cost = %d, %v; want %d", tc.configured, cost, err, tc.want)
		}
	}
}
