package main

import (
	"bytes"
	"context"
	"github.com/banesco-verifier/verifier/client"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/metrics"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestMetricsAfterEndToEndRun drives the real binaries (api, worker,
// bank-sandbox on a private Postgres and Redis) through three verifications,
// scrapes both /metrics endpoints and checks the counters moved by exactly
// what happened; then it runs the ops commands against the same system.
func TestMetricsAfterEndToEndRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := systest.Start(ctx, systest.Options{Dir: dir, Workers: 1, Schedule: "2s,5s", Sweep: "5s"})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := c.Logs()
			if len(logs) > 8000 {
				logs = logs[len(logs)-8000:]
			}
			t.Logf("logs (tail):\n%s", logs)
		}
	})

	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	var payments []banksandbox.Payment
	var bodies []client.CreateTransaction
	for i := range 3 {
		body, p := systest.Payment("OPS", i, date)
		bodies, payments = append(bodies, body), append(payments, p)
	}
	if err := c.AddPayments(ctx, payments); err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		if code, b, err := c.Do(ctx, http.MethodPost, "/api/v1/transactions", body); err != nil || code != http.StatusCreated {
			t.Fatalf("create: %d %s %v", code, b, err)
		}
	}
	if _, err := c.WaitAll(ctx, 3); err != nil {
		t.Fatal(err)
	}

	workerURL := "http://" + workerMetricsAddr(t, filepath.Join(dir, "worker-0.log")) + "/metrics"
	var apiF, workerF metrics.Families
	deadline := time.Now().Add(15 * time.Second)
	for {
		// The worker counts a transition right after its commit: poll briefly.
		if apiF, err = metrics.Scrape(http.DefaultClient, c.APIURL+"/metrics"); err != nil {
			t.Fatal(err)
		}
		if workerF, err = metrics.Scrape(http.DefaultClient, workerURL); err != nil {
			t.Fatal(err)
		}
		if workerF.Sum("transaction_status_transitions_total", "from=IN_PROGRESS", "to=COMPLETED") >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}

	type check struct {
		what string
		got  float64
		ok   func(float64) bool
		want string
	}
	eq := func(n float64) func(float64) bool { return func(v float64) bool { return v == n } }
	ge := func(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
	checks := []check{
		// API
		{"api transactions_created_total{MOBILE_TRANSFER,TRANSACTION}", apiF.Sum("transactions_created_total", "bank=MOBILE_TRANSFER", "transaction_type=TRANSACTION"), eq(3), "3"},
		{"api http_requests_total{POST /api/v1/transactions 201}", apiF.Sum("http_requests_total", "method=POST", "route=/api/v1/transactions", "status=201"), eq(3), "3"},
		{"api http_request_duration_seconds count for creates", apiF.Sum("http_request_duration_seconds", "method=POST", "route=/api/v1/transactions"), eq(3), "3"},
		{"api transactions_in_status{IN_PROGRESS}", apiF.Sum("transactions_in_status", "status=IN_PROGRESS"), eq(0), "0"},
		{"api transactions_past_deadline", apiF.Sum("transactions_past_deadline"), eq(0), "0"},
		{"api asynq_tasks_processed_total{verify}", apiF.Sum("asynq_tasks_processed_total", "queue=verify"), ge(3), ">= 3"},
		{"api go_sql_max_open_connections", apiF.Sum("go_sql_max_open_connections", "db_name=postgres"), ge(1), ">= 1"},
		{"api redis_pool_connections{total}", apiF.Sum("redis_pool_connections", "state=total"), ge(1), ">= 1"},
		// worker
		{"worker transitions IN_PROGRESS→COMPLETED", workerF.Sum("transaction_status_transitions_total", "from=IN_PROGRESS", "to=COMPLETED"), eq(3), "3"},
		{"worker transitions total", workerF.Sum("transaction_status_transitions_total"), eq(3), "3"},
		{"worker transaction_verification_seconds{COMPLETED} count", workerF.Sum("transaction_verification_seconds", "status=COMPLETED"), eq(3), "3"},
		{"worker verify_checks_total{confirmed}", workerF.Sum("verify_checks_total", "outcome=confirmed"), eq(3), "3"},
		{"worker verify_checks_total", workerF.Sum("verify_checks_total"), ge(3), ">= 3"},
		{"worker bank_requests_total{200}", workerF.Sum("bank_requests_total", "outcome=200"), ge(3), ">= 3"},
		{"worker bank_request_duration_seconds count", workerF.Sum("bank_request_duration_seconds"), ge(3), ">= 3"},
		{"worker bank_token_requests_total{ok}", workerF.Sum("bank_token_requests_total", "result=ok"), ge(1), ">= 1"},
		{"worker bank_token_requests_total{error}", workerF.Sum("bank_token_requests_total", "result=error"), eq(0), "0"},
		{"worker bank_auth_rejections_total", workerF.Sum("bank_auth_rejections_total"), eq(0), "0"},
		{"worker transactions_created_total", workerF.Sum("transactions_created_total"), eq(0), "0 (creates are the API's)"},
		{"worker go_sql_open_connections", workerF.Sum("go_sql_open_connections", "db_name=postgres"), ge(1), ">= 1"},
		{"worker redis_pool_connections{total}", workerF.Sum("redis_pool_connections", "state=total"), ge(1), ">= 1"},
		{"worker go_goroutines", workerF.Sum("go_goroutines"), ge(1), ">= 1"},
	}
	for _, ch := range checks {
		if !ch.ok(ch.got) {
			t.Errorf("%s = %v, want %s", ch.what, ch.got, ch.want)
		}
	}
	// Our limiter may hold a check back (that is its job, counted by limit);
	// what must never happen is the bank seeing a violation (below).
	t.Logf("bank_rate_limit_denials_total: global %v, per_transaction %v",
		workerF.Sum("bank_rate_limit_denials_total", "limit=global"), workerF.Sum("bank_rate_limit_denials_total", "limit=per_transaction"))
	for _, name := range []string{"sweeper_reenqueued_total", "process_resident_memory_bytes"} {
		if _, ok := workerF[name]; !ok {
			t.Errorf("worker /metrics lacks %s", name)
		}
	}
	stats, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Violations.Total() != 0 {
		t.Errorf("the sandbox saw limit violations: %+v", stats.Violations)
	}

	testOpsCommands(t, ctx, c, date)
}

// workerMetricsAddr reads WORKER_METRICS_ADDR from the worker's start log line.
func workerMetricsAddr(t *testing.T, logPath string) string {
	t.Helper()
	re := regexp.MustCompile(`"metrics_addr":"([^"]+)"`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if m := re.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	t.Fatalf("no metrics_addr in %s", logPath)
	return ""
}

// testOpsCommands runs `worker ops` on a transaction made to look stuck: its
// check overdue and its task gone (as after a Redis data loss).
func testOpsCommands(t *testing.T, ctx context.Context, c *systest.Cluster, date string) {
	body, _ := systest.Payment("STUCK", 100, date) // never paid: stays IN_PROGRESS
	if code, b, err := c.Do(ctx, http.MethodPost, "/api/v1/transactions", body); err != nil || code != http.StatusCreated {
		t.Fatalf("create: %d %s %v", code, b, err)
	}
	clientID := body.TransactionID
	var id string
	if err := c.DB.GetContext(ctx, &id, `SELECT id FROM transactions WHERE transaction_id = $1`, clientID); err != nil {
		t.Fatal(err)
	}
	rdb := c.Redis.Client()
	defer rdb.Close()
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	// Take the task away (retrying while a worker holds it) and make the check
	// overdue. A worker may already have checked once and handed over to the
	// next task (verify:<id>:1): the live task is the one Postgres's task_seq
	// names, or the one after it while a hand-over is under way.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var seq int
		if err := c.DB.GetContext(ctx, &seq, `SELECT task_seq FROM transactions WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		gone := true
		for _, q := range tasks.VerifyQueues {
			for _, n := range []int{seq, seq + 1} {
				err := inspector.DeleteTask(q, tasks.VerifyTaskID(id, n))
				if err == nil || !strings.Contains(err.Error(), "not found") {
					gone = false // deleted one (look again) or it is running
				}
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("could not remove the task")
		}
	}
	if _, err := c.DB.ExecContext(ctx, `UPDATE transactions SET next_check_at = now() - interval '1 hour' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DB.ExecContext(ctx, `UPDATE transactions SET status = 'TO_REVIEW', status_reason = 'amount_mismatch'
		WHERE transaction_id = $1`, bodies0(date)); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	tool := newOpsTool(c.DB, rdb, queue.Spacing(2), &out)
	run := func(args ...string) string {
		t.Helper()
		out.Reset()
		if err := tool.run(ctx, args); err != nil {
			t.Fatalf("ops %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}

	got := run("stuck", "-grace", "1m")
	for _, want := range []string{"IN_PROGRESS", clientID, "TO_REVIEW", bodies0(date), "amount_mismatch", "2 transaction(s)"} {
		if !strings.Contains(got, want) {
			t.Errorf("ops stuck lacks %q:\n%s", want, got)
		}
	}
	if !regexp.MustCompile(`IN_PROGRESS\s+` + clientID + `.*\snone\s`).MatchString(got) {
		t.Errorf("ops stuck should show the lost task as none:\n%s", got)
	}
	if got := run("requeue", "-all-stuck", "-grace", "1m"); !strings.Contains(got, "1 overdue transaction(s) got a new task") {
		t.Errorf("ops requeue -all-stuck: %s", got)
	}
	if got := run("requeue", "-all-stuck", "-grace", "1m"); !strings.Contains(got, "0 overdue transaction(s) got a new task") {
		t.Errorf("second ops requeue -all-stuck should find the task live: %s", got)
	}
	if got := run("requeue", clientID); !strings.Contains(got, clientID+": check queued for") {
		t.Errorf("ops requeue: %s", got)
	}
	out.Reset()
	if err := tool.run(ctx, []string{"requeue", bodies0(date)}); err == nil || !strings.Contains(err.Error(), "TO_REVIEW") {
		t.Errorf("requeue of a TO_REVIEW transaction: %v", err)
	}
	// The worker may already be running the requeued check (active in verify)
	// or it waits in verify_now: either way the transaction has a live task.
	got = run("show", clientID)
	for _, want := range []string{"status:", "IN_PROGRESS", "task: queue=verify", "events (", "created", id} {
		if !strings.Contains(got, want) {
			t.Errorf("ops show lacks %q:\n%s", want, got)
		}
	}
}

// bodies0 is the client id of the first transaction of the run.
func bodies0(date string) string {
	body, _ := systest.Payment("OPS", 0, date)
	return body.TransactionID
}
