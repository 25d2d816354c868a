package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/lib/pq"
	"github.com/rs/zerolog"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type observed struct {
	method, route string
	status        int
}

// serve runs an app built by New with test routes on a real listener.
func serve(t *testing.T) (base string, logs *lockedBuffer, seen func() []observed) {
	t.Helper()
	logs = &lockedBuffer{}
	var mu sync.Mutex
	var obs []observed
	app := New(Options{Logger: zerolog.New(logs), CORSOrigins: []string{"http://localhost:3000"},
		Observe: func(method, route string, status int, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			obs = append(obs, observed{method, route, status})
		}})
	app.Get("/unavailable", func(c *fiber.Ctx) error { return Unavailable("enqueue", errors.New("redis: down")) })
	app.Get("/pq-restart", func(c *fiber.Ctx) error { return fmt.Errorf("insert: %w", &pq.Error{Code: "57P01"}) })
	app.Get("/slow-down", func(c *fiber.Ctx) error {
		return &Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited", Message: "m", RetryAfter: 1500 * time.Millisecond}
	})
	app.Get("/bug", func(c *fiber.Ctx) error { return errors.New("nil pointer somewhere") })
	app.Get("/panic", func(c *fiber.Ctx) error { panic("boom") })
	app.Get("/items/:id", func(c *fiber.Ctx) error { return ErrNotFound })
	app.Get("/page", func(c *fiber.Ctx) error {
		page, size, err := PageParams(c)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"page": page, "size": size})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String(), logs, func() []observed {
		mu.Lock()
		defer mu.Unlock()
		return append([]observed(nil), obs...)
	}
}

func TestErrorHandler(t *testing.T) {
	t.Parallel()
	base, logs, seen := serve(t)
	tests := []struct {
		path       string
		status     int
		code       string
		retryAfter string
	}{
		{"/unavailable", 503, "unavailable", "5"},
		{"/pq-restart", 503, "unavailable", "5"},
		{"/slow-down", 429, "rate_limited", "2"},
		{"/bug", 500, "internal", ""},
		{"/panic", 500, "internal", ""},
		{"/items/123", 404, "not_found", ""},
		{"/no-such-route", 404, "not_found", ""},
		{"/page?size=101", 422, "validation_failed", ""},
	}
	for _, tt := range tests {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body struct {
			Error struct {
				Code, Message string
			} `json:"error"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("GET %s: body %q: %v", tt.path, raw, err)
		}
		if resp.StatusCode != tt.status || body.Error.Code != tt.code {
			t.Errorf("GET %s = %d %s, want %d %s", tt.path, resp.StatusCode, body.Error.Code, tt.status, tt.code)
		}
		if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
			t.Errorf("GET %s: Retry-After = %q, want %q", tt.path, got, tt.retryAfter)
		}
		if body.RequestID == "" || body.RequestID != resp.Header.Get("X-Request-ID") {
			t.Errorf("GET %s: request_id %q, header %q", tt.path, body.RequestID, resp.Header.Get("X-Request-ID"))
		}
		if tt.status == 500 && strings.Contains(string(raw), "nil pointer") {
			t.Errorf("GET %s: a 500 leaks the internal error: %s", tt.path, raw)
		}
	}
	// The bug is logged loudly, with its cause; the outage as a warning.
	if l := logs.String(); !strings.Contains(l, `"level":"error"`) || !strings.Contains(l, "nil pointer somewhere") ||
		!strings.Contains(l, "backing service unavailable") {
		t.Errorf("logs lack the expected lines:\n%s", l)
	}
	// Metrics see route templates, never raw paths carrying ids.
	for _, o := range seen() {
		if strings.Contains(o.route, "123") {
			t.Errorf("observed route %q carries an id", o.route)
		}
		if o.route == "/items/:id" && o.status != 404 {
			t.Errorf("observed %v, want status 404 for /items/:id", o)
		}
	}
}

func TestPageParams(t *testing.T) {
	t.Parallel()
	base, _, _ := serve(t)
	tests := []struct {
		query  string
		status int
		page   int
		size   int
	}{
		{"", 200, 1, 20},
		{"?page=3&size=100", 200, 3, 100},
		{"?size=101", 422, 0, 0},
		{"?size=0", 422, 0, 0},
		{"?page=0", 422, 0, 0},
		{"?page=-1", 422, 0, 0},
		{"?page=abc", 422, 0, 0},
	}
	for _, tt := range tests {
		resp, err := http.Get(base + "/page" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Page, Size int }
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != tt.status || (tt.status == 200 && (got.Page != tt.page || got.Size != tt.size)) {
			t.Errorf("/page%s = %d %+v, want %d page %d size %d", tt.query, resp.StatusCode, got, tt.status, tt.page, tt.size)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"":                       false,
		"abc-123_x.y:z":          true,
		strings.Repeat("a", 128): true,
		strings.Repeat("a", 129): false,
		"has space":              false,
		"new\nline":              false,
		"ünïcode":                false,
		"<script>":               false,
	}
	for id, want := range tests {
		if got := validRequestID(id); got != want {
			t.Errorf("validRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
