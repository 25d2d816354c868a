package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/api"
	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/metrics"
	"github.com/banesco-verifier/verifier/tasks"
)

// opsBundle is an API wired as cmd/api wires it: registry, HTTP metrics, the
// queue exporter, the transaction gauges and Asynqmon.
type opsBundle struct {
	*testBundle
	queue *asynq.Client
}

func setupOps(t *testing.T) *opsBundle {
	t.Helper()
	b := &testBundle{logs: &syncBuffer{}}
	srv := apitest.Start(t, apitest.Options{Metrics: true, Log: b.logs, LoginMaxFailures: defaultFailMax,
		RateLimit: defaultLimit, CORSOrigins: []string{allowedOrigin}, Deadline: time.Hour})
	b.db, b.redis, b.svc, b.url, b.client = srv.DB, srv.Redis, srv.Auth, srv.URL, srv.HTTP
	return &opsBundle{testBundle: b, queue: srv.Queue}
}

func basic(email, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))}
}

func (b *opsBundle) scrape(t *testing.T) metrics.Families {
	t.Helper()
	f, err := metrics.Scrape(b.client, b.url+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMonitoringAuthByRole(t *testing.T) {
	t.Parallel()
	b := setupOps(t)
	reader := b.newUser(t, nil)
	admin := b.adminToken(t)
	get := func(header map[string]string) response {
		return b.do(t, request{method: http.MethodGet, path: "/monitoring", header: header})
	}

	for name, header := range map[string]map[string]string{
		"no credentials":  nil,
		"wrong password":  basic(adminEmail, "not-the-password"),
		"unknown email":   basic("nobody@example.test", adminPassword),
		"malformed basic": {"Authorization": "Basic !!!"},
		"bad bearer":      {"Authorization": "Bearer not-a-token"},
	} {
		r := get(header)
		wantError(t, r, http.StatusUnauthorized, "unauthorized")
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="monitoring"`) {
			t.Errorf("%s: WWW-Authenticate = %q, want a Basic challenge", name, got)
		}
	}
	wantError(t, get(basic(reader.Email, reader.password)), http.StatusForbidden, "forbidden")
	wantError(t, get(map[string]string{"Authorization": "Bearer " + reader.tokens.AccessToken}), http.StatusForbidden, "forbidden")

	for name, header := range map[string]map[string]string{
		"basic":  basic(adminEmail, adminPassword),
		"bearer": {"Authorization": "Bearer " + admin},
	} {
		r := get(header)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `<div id="root">`) {
			t.Fatalf("%s: /monitoring = %d %.200s", name, r.status, r.body)
		}
		if strings.Contains(string(r.body), "googleapis") || strings.Contains(string(r.body), "https://") {
			t.Errorf("%s: the page still links to an external host: %s", name, r.body)
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self' 'sha256-") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP = %q, want inline scripts allowed by hash only", name, csp)
		}
	}
	// Other routes keep the strict policy.
	if csp := b.get(t, "/health/live", "").header.Get("Content-Security-Policy"); strings.Contains(csp, "sha256") {
		t.Errorf("/health/live CSP = %q", csp)
	}
}

func TestMonitoringBasicCacheSkipsBcrypt(t *testing.T) {
	t.Parallel()
	b := setupOps(t)
	for range 4 {
		wantStatus(t, b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues", header: basic(adminEmail, adminPassword)}), http.StatusOK)
	}
	f := b.scrape(t)
	if v, c := f.Sum("monitoring_auth_checks_total", "result=verified"), f.Sum("monitoring_auth_checks_total", "result=cache_hit"); v != 1 || c != 3 {
		t.Fatalf("auth checks: verified %v cache_hit %v, want 1 and 3 (one bcrypt for four requests)", v, c)
	}

	// A wrong password is never cached and counts toward the login limit.
	for range defaultFailMax {
		wantStatus(t, b.do(t, request{method: http.MethodGet, path: "/monitoring", header: basic(adminEmail, "wrong-password-1")}), http.StatusUnauthorized)
	}
	r := b.do(t, request{method: http.MethodGet, path: "/monitoring", header: basic(adminEmail, "wrong-password-1")})
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// The cache re-checks the user: losing admin:access is a 403 at once, and
	// a changed password invalidates the cached entry.
	b2 := setupOps(t)
	get := func() response {
		return b2.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues", header: basic(adminEmail, adminPassword)})
	}
	wantStatus(t, get(), http.StatusOK)
	adminUser, err := b2.svc.Store().UserByEmail(context.Background(), adminEmail)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b2.svc.Store().SetPermissions(context.Background(), adminUser.ID, auth.DefaultPermissions); err != nil {
		t.Fatal(err)
	}
	wantError(t, get(), http.StatusForbidden, "forbidden")
	if _, err := b2.svc.Store().SetPermissions(context.Background(), adminUser.ID, auth.AllPermissions); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, get(), http.StatusOK)
	hash, _ := bcrypt.GenerateFromPassword([]byte("a-new-password-123"), bcrypt.MinCost)
	if _, err := b2.db.Exec(`UPDATE users SET password_hash = $1 WHERE id = $2`, string(hash), adminUser.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, get(), http.StatusUnauthorized, "unauthorized")
	f = b2.scrape(t)
	if c := f.Sum("monitoring_auth_checks_total", "result=cache_hit"); c != 2 {
		t.Errorf("cache hits = %v, want 2", c)
	}
}

func TestMonitoringQueuesAndPayloads(t *testing.T) {
	t.Parallel()
	b := setupOps(t)
	ctx := context.Background()
	id := "5f0c8e0e-8f0a-4a57-9a57-6f1d1f1b2c3d"
	for _, q := range tasks.VerifyQueues {
		task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: id + q[:1], RequestID: "req-1"}, q, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.queue.EnqueueContext(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	sweep, _ := tasks.NewSweepTask(time.Now().Add(time.Hour).Truncate(time.Minute), time.Minute)
	if _, err := b.queue.EnqueueContext(ctx, sweep, asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}

	r := b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues", header: basic(adminEmail, adminPassword)})
	wantStatus(t, r, http.StatusOK)
	var queues struct {
		Queues []struct {
			Queue string `json:"queue"`
			Size  int    `json:"size"`
		} `json:"queues"`
	}
	r.decode(t, &queues)
	got := map[string]int{}
	for _, q := range queues.Queues {
		got[q.Queue] = q.Size
	}
	for _, q := range []string{tasks.QueueVerify, tasks.QueueVerifyNow, tasks.QueueSweep} {
		if got[q] != 1 {
			t.Errorf("queue %s size %d, want 1 (queues %v)", q, got[q], got)
		}
	}

	r = b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues/verify/scheduled_tasks", header: basic(adminEmail, adminPassword)})
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Tasks []struct {
			Payload string `json:"payload"`
		} `json:"tasks"`
	}
	r.decode(t, &list)
	if len(list.Tasks) != 1 {
		t.Fatalf("scheduled tasks: %s", r.body)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(list.Tasks[0].Payload), &payload); err != nil {
		t.Fatalf("payload %q is not JSON: %v", list.Tasks[0].Payload, err)
	}
	if payload["transaction_id"] != id+"v" || len(payload) != 2 {
		t.Errorf("payload = %v", payload)
	}

	// The queue exporter is on the API's /metrics.
	f := b.scrape(t)
	for _, q := range []string{tasks.QueueVerify, tasks.QueueVerifyNow, tasks.QueueSweep} {
		if !f.Has("asynq_queue_size", "queue="+q) || f.Sum("asynq_tasks_enqueued_total", "queue="+q, "state=scheduled") != 1 {
			t.Errorf("queue metrics for %s missing: %v", q, f.LabelValues("asynq_queue_size", "queue"))
		}
	}
}

func TestFormatTaskPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, payload string
		want               map[string]any // nil: not JSON
	}{
		{"verify keeps ids", tasks.TypeVerify,
			`{"transaction_id":"abc","request_id":"r1","customer_phone":"04141234567","national_id":"V1"}`,
			map[string]any{"transaction_id": "abc", "request_id": "r1"}},
		{"sweep", tasks.TypeSweep, `{"period":1700000000}`, map[string]any{"period": float64(1700000000)}},
		{"unknown type keeps *_id keys", "webhook:deliver", `{"webhook_id":"w1","id":7,"url":"https://x","secret":"s"}`,
			map[string]any{"webhook_id": "w1", "id": float64(7)}},
		{"not JSON", "other", "\x00\x01binary", nil},
	}
	for _, tt := range tests {
		got := api.FormatTaskPayload(tt.typ, []byte(tt.payload))
		var m map[string]any
		err := json.Unmarshal([]byte(got), &m)
		if tt.want == nil {
			if err == nil {
				t.Errorf("%s: %q parsed as JSON", tt.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %q is not JSON: %v", tt.name, got, err)
			continue
		}
		wantJSON, _ := json.Marshal(tt.want)
		gotJSON, _ := json.Marshal(m)
		if string(wantJSON) != string(gotJSON) {
			t.Errorf("%s: (-want +got)\n- %s\n+ %s", tt.name, wantJSON, gotJSON)
		}
		if !strings.Contains(got, "\n  ") {
			t.Errorf("%s: %q is not indented", tt.name, got)
		}
	}
}

func TestMetricsUseRouteTemplates(t *testing.T) {
	t.Parallel()
	b := setupOps(t)
	admin := b.adminToken(t)
	wantStatus(t, b.get(t, "/api/v1/transactions/ORD-SECRET-123", admin), http.StatusNotFound)
	wantStatus(t, b.get(t, "/api/v1/transactions/ORD-SECRET-123/status", admin), http.StatusNotFound)
	wantStatus(t, b.get(t, "/no/such/route/ORD-SECRET-123", ""), http.StatusNotFound)
	wantStatus(t, b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues", header: basic(adminEmail, adminPassword)}), http.StatusOK)

	r := b.get(t, "/metrics", "")
	wantStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.body), "ORD-SECRET-123") || strings.Contains(string(r.body), "/monitoring/api") {
		t.Fatal("/metrics shows a raw path")
	}
	f, err := metrics.Parse(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{
		{"method=GET", "route=/api/v1/transactions/:transaction_id", "status=404"},
		{"method=GET", "route=/api/v1/transactions/:transaction_id/status", "status=404"},
		{"method=POST", "route=/api/v1/auth/login", "status=200"},
		{"method=GET", "route=/monitoring", "status=200"},
	} {
		if f.Sum("http_requests_total", want...) != 1 {
			t.Errorf("http_requests_total%v = %v; routes %v", want, f.Sum("http_requests_total", want...), f.LabelValues("http_requests_total", "route"))
		}
	}
	if f.Sum("http_request_duration_seconds", "route=/api/v1/auth/login") != 1 {
		t.Error("no latency observation for the login")
	}
	for _, name := range []string{"http_requests_in_flight", "go_goroutines", "process_resident_memory_bytes",
		"go_sql_open_connections", "redis_pool_connections", "transactions_in_status", "transactions_past_deadline",
		"transactions_oldest_overdue_check_seconds", "transactions_overdue_checks"} {
		if _, ok := f[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	// transactions_created_total is registered; it appears once a transaction is created.
	if f.Sum("transactions_in_status", "status=IN_PROGRESS") != 0 {
		t.Error("transactions_in_status{IN_PROGRESS} != 0 on an empty database")
	}
}

// TestMonitoringInChromium loads the dashboard in a real headless Chromium,
// through a Basic-auth login, and checks the queue list renders with no
// Content-Security-Policy violation.
func TestMonitoringInChromium(t *testing.T) {
	t.Parallel()
	chromium := needChromium(t)
	b := setupOps(t)
	task, _ := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: "11111111-2222-3333-4444-555555555555"}, tasks.QueueVerify, time.Now().Add(time.Hour))
	if _, err := b.queue.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	u := strings.Replace(b.url, "http://", "http://"+strings.Replace(adminEmail, "@", "%40", 1)+":"+adminPassword+"@", 1) + "/monitoring/"
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--virtual-time-budget=15000", "--dump-dom", u)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := string(out)
	for _, want := range []string{`aria-label="queues overview table"`, `href="/monitoring/queues/verify">verify</a>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the dashboard DOM lacks %q:\n%.3000s\nstderr:\n%s", want, dom, stderr.String())
		}
	}
	// Console messages reach stderr (INFO:CONSOLE): a CSP violation or a
	// failed fetch would be there.
	for _, bad := range []string{"Content Security Policy", "Refused to", "failed, code"} {
		if strings.Contains(stderr.String(), bad) {
			t.Errorf("browser console reports %q:\n%s", bad, stderr.String())
		}
	}
}
