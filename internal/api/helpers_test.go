package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
)

const (
	testSecret     = "test-only-jwt-secret-0123456789abcdef"
	accessTTL      = 10 * time.Minute
	adminEmail     = "admin@example.test"
	adminPassword  = "admin-password-0123"
	allowedOrigin  = "http://localhost:3000"
	defaultLimit   = 100_000
	defaultFailMax = 5
)

// syncBuffer is a log sink safe to write from the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// options adjust one test's server; the zero value is a permissive default.
type options struct {
	rateLimit          int
	loginMaxFailures   int
	registrationClosed bool
	// db replaces the pool the service uses (an unreachable one for outage tests).
	db *sqlx.DB
	// keyUsageFlush is how often API keys' last_used_at is written (default 30 s).
	keyUsageFlush time.Duration
	// authFailuresPerIP caps failed authentications per IP a minute (default 60).
	authFailuresPerIP int
}

// testBundle is one API served on a real listener over its own database and Redis.
type testBundle struct {
	url    string
	db     *pgtest.DB
	redis  *redistest.Server
	svc    *auth.Service
	logs   *syncBuffer
	client *http.Client
	seq    atomic.Int64
}

func setup(t *testing.T, o options) *testBundle {
	t.Helper()
	if o.rateLimit == 0 {
		o.rateLimit = defaultLimit
	}
	if o.loginMaxFailures == 0 {
		o.loginMaxFailures = defaultFailMax
	}
	b := &testBundle{logs: &syncBuffer{}}
	srv := apitest.Start(t, apitest.Options{Pool: o.db, NoAdmin: o.db != nil, Log: b.logs, RateLimit: o.rateLimit,
		LoginMaxFailures: o.loginMaxFailures, RegistrationClosed: o.registrationClosed, CORSOrigins: []string{allowedOrigin},
		KeyUsageFlush: o.keyUsageFlush, AuthFailuresPerIP: o.authFailuresPerIP})
	b.db, b.redis, b.svc, b.url, b.client = srv.DB, srv.Redis, srv.Auth, srv.URL, srv.HTTP
	return b
}

// response is a reply read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// request is one call; body is sent as is when string or []byte, else as JSON.
type request struct {
	method, path, token string
	body                any
	header              map[string]string
}

func (b *testBundle) do(t *testing.T, r request) response {
	t.Helper()
	var rd io.Reader
	switch v := r.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal %v: %v", v, err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(r.method, b.url+r.path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.method, r.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (b *testBundle) get(t *testing.T, path, token string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodGet, path: path, token: token})
}

func (b *testBundle) post(t *testing.T, path, token string, body any) response {
	t.Helper()
	return b.do(t, request{method: http.MethodPost, path: path, token: token, body: body})
}

// errorBody is the documented error format.
type errorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// wantError checks status, code and the documented shape of an error reply, and
// that the body's request_id is the X-Request-ID header. It returns the body.
func wantError(t *testing.T, r response, status int, code string) errorBody {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	r.decode(t, &top)
	if len(top) != 2 || top["error"] == nil || top["request_id"] == nil {
		t.Errorf("top-level keys of %s: want exactly error and request_id", r.body)
	}
	var e errorBody
	r.decode(t, &e)
	if e.Error.Code != code {
		t.Errorf("error.code = %q, want %q (body %s)", e.Error.Code, code, r.body)
	}
	if e.Error.Message == "" {
		t.Errorf("error.message is empty (body %s)", r.body)
	}
	if e.RequestID == "" || e.RequestID != r.header.Get("X-Request-ID") {
		t.Errorf("request_id %q != X-Request-ID header %q", e.RequestID, r.header.Get("X-Request-ID"))
	}
	return e
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
}

// user is the public user object.
type user struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	FullName    string    `json:"full_name"`
	IsActive    bool      `json:"is_active"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
}

type tokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

func (b *testBundle) login(t *testing.T, email, password string) tokenPair {
	t.Helper()
	r := b.post(t, "/api/v1/auth/login", "", map[string]string{"email": email, "password": password})
	wantStatus(t, r, http.StatusOK)
	var p tokenPair
	r.decode(t, &p)
	if p.AccessToken == "" || p.RefreshToken == "" {
		t.Fatalf("login reply without tokens: %s", r.body)
	}
	return p
}

func (b *testBundle) adminToken(t *testing.T) string {
	t.Helper()
	return b.login(t, adminEmail, adminPassword).AccessToken
}

// account is a registered user with its password and a fresh token pair.
type account struct {
	user
	password string
	tokens   tokenPair
}

// newUser registers a user over HTTP, gives it perms (nil keeps the defaults)
// and logs it in.
func (b *testBundle) newUser(t *testing.T, perms []string) account {
	t.Helper()
	n := b.seq.Add(1)
	a := account{password: fmt.Sprintf("password-%d-%d", n, time.Now().UnixNano())}
	r := b.post(t, "/api/v1/auth/register", "", map[string]string{
		"email": fmt.Sprintf("user%d@example.test", n), "password": a.password, "full_name": fmt.Sprintf("User %d", n)})
	wantStatus(t, r, http.StatusCreated)
	r.decode(t, &a.user)
	if perms != nil {
		if _, err := b.svc.Store().SetPermissions(context.Background(), a.ID, perms); err != nil {
			t.Fatalf("set permissions: %v", err)
		}
		a.Permissions = perms
	}
	a.tokens = b.login(t, a.Email, a.password)
	return a
}

// rdbAt is a client for an address, closed at cleanup.
func rdbAt(t *testing.T, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}
