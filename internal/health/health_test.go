package health_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/health"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
)

// serve starts the health routes on a real listener and returns the base URL.
func serve(t *testing.T, h *health.Checker) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/health/live", health.Live)
	app.Get("/health/ready", h.Ready)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, http.Header, map[string]string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]string
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object of strings: %v", url, raw, err)
	}
	return resp.StatusCode, resp.Header, body
}

// closedPool is a pool whose Close was called: every query fails at once.
func closedPool(t *testing.T) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("postgres", pgtest.URLFor("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return db
}

func TestReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		pgDown     bool
		redisDown  bool
		wantStatus int
		wantBody   map[string]string
	}{
		{"both up", false, false, http.StatusOK, map[string]string{"postgres": "ok", "redis": "ok"}},
		{"redis down", false, true, http.StatusServiceUnavailable, map[string]string{"postgres": "ok", "redis": "down"}},
		{"postgres down", true, false, http.StatusServiceUnavailable, map[string]string{"postgres": "down", "redis": "ok"}},
		{"both down", true, true, http.StatusServiceUnavailable, map[string]string{"postgres": "down", "redis": "down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t).DB
			if tt.pgDown {
				db = closedPool(t)
			}
			addr := redistest.ClosedAddr(t)
			if !tt.redisDown {
				addr = redistest.Start(t).Addr
			}
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { rdb.Close() })

			base := serve(t, health.NewChecker(db, rdb))
			status, header, body := get(t, base+"/health/ready")
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d", status, tt.wantStatus)
			}
			if !reflect.DeepEqual(body, tt.wantBody) {
				t.Errorf("body = %v, want %v", body, tt.wantBody)
			}
			if got := header.Get("Retry-After"); (tt.wantStatus == http.StatusServiceUnavailable) != (got != "") {
				t.Errorf("Retry-After = %q with status %d", got, status)
			}
		})
	}
}

func TestReadyRecoversWhenRedisComesBack(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	base := serve(t, health.NewChecker(pgtest.New(t).DB, srv.Client()))
	srv.Stop()
	if status, _, body := get(t, base+"/health/ready"); status != http.StatusServiceUnavailable || body["redis"] != "down" {
		t.Fatalf("with redis stopped: %d %v, want 503 redis down", status, body)
	}
	srv.Restart()
	if status, _, body := get(t, base+"/health/ready"); status != http.StatusOK {
		t.Errorf("after redis restarted: %d %v, want 200", status, body)
	}
}

func TestLiveNeedsNoBackingService(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.ClosedAddr(t)})
	t.Cleanup(func() { rdb.Close() })
	base := serve(t, health.NewChecker(closedPool(t), rdb))
	status, _, body := get(t, base+"/health/live")
	if status != http.StatusOK || !reflect.DeepEqual(body, map[string]string{"status": "ok"}) {
		t.Errorf("GET /health/live = %d %v, want 200 {status:ok}", status, body)
	}
}
