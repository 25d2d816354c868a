package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/httpserver"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
)

// The harness of service_test.go and handler_test.go: the auth service over a
// private Postgres database and a private redis-server, and, for the HTTP
// tests, this package's handlers and middleware served on a real listener
// with the routes internal/api mounts.

const (
	harnessSecret = "auth-harness-secret-0123456789abcdef"
	harnessTTL    = 10 * time.Minute
	adminEmail    = "admin@example.test"
	adminPassword = "admin-password-0123"
)

// logBuffer is a log sink safe to write from the server's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// entries returns the JSON log lines with the given message.
func (b *logBuffer) entries(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

// bundle is one auth service with its database, Redis and log.
type bundle struct {
	svc   *auth.Service
	store *auth.Store
	db    *pgtest.DB
	redis *redistest.Server
	rdb   *redis.Client
	logs  *logBuffer
}

// newBundle builds a service; adjust changes the options before NewService
// (nil keeps the defaults below).
func newBundle(t *testing.T, adjust func(*auth.Options)) *bundle {
	t.Helper()
	b := &bundle{db: pgtest.New(t), redis: redistest.Start(t), logs: &logBuffer{}}
	b.rdb = b.redis.Client()
	b.store = auth.NewStore(b.db.DB)
	opts := auth.Options{
		JWTSecret: harnessSecret, AccessTokenTTL: harnessTTL, RefreshTokenTTL: time.Hour, BcryptCost: bcrypt.MinCost,
		LoginMaxFailures: 100, LoginFailureWindow: time.Minute, Logger: zerolog.New(b.logs),
	}
	if adjust != nil {
		adjust(&opts)
	}
	b.svc = auth.NewService(b.store, b.rdb, opts)
	return b
}

func (b *bundle) register(t *testing.T, email, password string) auth.User {
	t.Helper()
	u, err := b.svc.Register(context.Background(), email, password, "Test User")
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

func (b *bundle) login(t *testing.T, email, password string) auth.TokenPair {
	t.Helper()
	pair, err := b.svc.Login(context.Background(), "192.0.2.250", email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return pair
}

func (b *bundle) user(t *testing.T, id string) auth.User {
	t.Helper()
	u, err := b.store.UserByID(context.Background(), id)
	if err != nil {
		t.Fatalf("user %s: %v", id, err)
	}
	return u
}

func (b *bundle) countUsers(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.db.GetContext(context.Background(), &n, `SELECT count(*) FROM users`); err != nil {
		t.Fatal(err)
	}
	return n
}

// serverOptions shape one HTTP server; the zero value is permissive.
type serverOptions struct {
	registrationClosed bool
	rateLimit          int // per client a minute, default 1 000 000
	adjust             func(*auth.Options)
}

// server is the auth routes on a real listener.
type server struct {
	*bundle
	url    string
	client *http.Client
}

// probePath is a route outside the auth domain guarded the way internal/api
// guards the transaction routes: RequireAuth, the rate limit, Require(perm).
const probePath = "/api/v1/probe"

func startServer(t *testing.T, o serverOptions) *server {
	t.Helper()
	if o.rateLimit == 0 {
		o.rateLimit = 1_000_000
	}
	b := newBundle(t, o.adjust)
	log := zerolog.New(b.logs)
	app := httpserver.New(httpserver.Options{Logger: log})
	authn := b.svc.RequireAuth()
	limit := httpserver.NewRateLimiter(b.rdb, o.rateLimit, log).Middleware(auth.RateLimitKey)
	ah := auth.NewHandler(b.svc, !o.registrationClosed)

	// As internal/api mounts them.
	v1 := app.Group("/api/v1")
	v1.Post("/auth/register", limit, ah.Register)
	v1.Post("/auth/login", limit, ah.Login)
	v1.Post("/auth/refresh", limit, ah.Refresh)
	v1.Post("/auth/logout", authn, limit, ah.Logout)
	v1.Get("/auth/me", authn, limit, ah.Me)
	admin := auth.Require(auth.PermAdmin)
	v1.Get("/users", authn, limit, admin, ah.ListUsers)
	v1.Put("/users/:id/permissions", authn, limit, admin, ah.SetPermissions)
	v1.Patch("/users/:id", authn, limit, admin, ah.PatchUser)
	v1.Get("/probe", authn, limit, auth.Require(auth.PermTransactionRead), func(c *fiber.Ctx) error {
		p := auth.PrincipalOf(c)
		return c.JSON(fiber.Map{"user_id": p.UserID, "email": p.Email, "permissions": p.Permissions})
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = app.Listener(ln) }()
	s := &server{bundle: b, url: "http://" + ln.Addr().String(),
		client: &http.Client{Timeout: 15 * time.Second}}
	t.Cleanup(func() {
		s.client.CloseIdleConnections()
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// adminToken creates the bootstrap admin and returns its access token.
func (s *server) adminToken(t *testing.T) (auth.User, string) {
	t.Helper()
	if _, err := s.svc.EnsureAdmin(context.Background(), adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	u, err := s.store.UserByEmail(context.Background(), adminEmail)
	if err != nil {
		t.Fatal(err)
	}
	return u, s.login(t, adminEmail, adminPassword).AccessToken
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// do sends one request; body is sent as is when a string, else as JSON.
func (s *server) do(t *testing.T, method, path, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// apiError is the documented error body.
type apiError struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// wantError checks the status and stable code of an error reply and returns it.
func wantError(t *testing.T, r reply, status int, code string) apiError {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var e apiError
	r.decode(t, &e)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error = %+v, want code %q with a message (body %s)", e.Error, code, r.body)
	}
	return e
}

// wantFields checks a 422 validation_failed naming exactly these fields.
func wantFields(t *testing.T, r reply, fields ...string) {
	t.Helper()
	e := wantError(t, r, http.StatusUnprocessableEntity, "validation_failed")
	if len(e.Error.Fields) != len(fields) {
		t.Errorf("fields = %v, want exactly %v", e.Error.Fields, fields)
	}
	for _, f := range fields {
		if e.Error.Fields[f] == "" {
			t.Errorf("fields = %v, want %q named", e.Error.Fields, f)
		}
	}
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
}

// wantRetryAfter checks a Retry-After of 1 to max seconds.
func wantRetryAfter(t *testing.T, r reply, max int) {
	t.Helper()
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > max {
		t.Errorf("Retry-After = %q, want 1..%d seconds", r.header.Get("Retry-After"), max)
	}
}
