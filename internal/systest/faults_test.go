//go:build faults

package systest

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// The fault suite (make test-faults): each scenario pushes n transactions through
// real worker processes and breaks something in the middle, plus `reuses`
// transactions that claim a payment another one already claims (same
// reference, another transaction_type). At the end one transaction per payment
// is COMPLETED (every payment exists at the bank) and every other claim of it
// TO_REVIEW payment_already_claimed, no bank movement confirmed two
// transactions, no status transition was recorded twice, and the bank saw zero
// limit violations.
const (
	n      = 500
	reuses = n / 20
)

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func bins(t *testing.T) string {
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "verifier-bin-")
		if binErr == nil {
			binErr = Build(binDir)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

type scenario struct {
	opts   Options
	setup  func(t *testing.T, ctx context.Context, c *Cluster) // optional: before the first transaction
	inject func(t *testing.T, ctx context.Context, c *Cluster) // runs while transactions are being checked
	wait   time.Duration
	// after, optional, checks more once every transaction settled.
	after func(t *testing.T, ctx context.Context, c *Cluster)
	// n is how many payments (default the suite's n); n/20 more claims reuse one.
	n int
}

func run(t *testing.T, s scenario) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, s.opts)
	n := n
	if s.n > 0 {
		n = s.n
	}
	reuses := n / 20
	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	bodies := make([]client.CreateTransaction, n, n+reuses)
	payments := make([]banksandbox.Payment, n)
	for i := range bodies[:n] {
		bodies[i], payments[i] = Payment(t.Name()[len("TestFault"):], i, date)
	}
	for i := 0; i < n; i += n / reuses {
		// Interleaved with the others, so which claim of a payment is checked
		// first is up to the workers.
		reuse := bodies[i]
		reuse.TransactionID += "-reuse"
		reuse.TransactionType = client.TypeCommission
		bodies = append(bodies, reuse)
	}
	rand.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
	if err := c.AddPayments(ctx, payments); err != nil {
		t.Fatal(err)
	}
	if s.setup != nil {
		s.setup(t, ctx, c)
	}
	start := time.Now()
	injected := make(chan struct{})
	go func() {
		defer close(injected)
		s.inject(t, ctx, c)
	}()
	// 8 clients at ~5 creates/s each: the load lasts ~12 s and the fault,
	// injected after a quarter of the checks, lands in the middle of it.
	unavailable, err := c.CreateAll(ctx, bodies, 8, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	<-injected
	waitCtx, cancelWait := context.WithTimeout(ctx, s.wait)
	defer cancelWait()
	_, waitErr := c.WaitSettled(waitCtx, n)
	r, err := c.Inspect(ctx)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	t.Logf("after %s (503s seen by clients: %d): %s", time.Since(start).Round(time.Second), unavailable, r)
	if waitErr != nil {
		t.Errorf("not every transaction settled: %v", waitErr)
	}
	if r.Counts["COMPLETED"] != n || r.Counts["TO_REVIEW"] != reuses {
		t.Errorf("counts %v: want one COMPLETED per payment (%d) and every other claim TO_REVIEW (%d)", r.Counts, n, reuses)
	}
	var wrongReason int
	if err := c.DB.GetContext(ctx, &wrongReason, `SELECT count(*) FROM transactions WHERE status = 'TO_REVIEW'
		AND status_reason IS DISTINCT FROM 'payment_already_claimed'`); err != nil || wrongReason != 0 {
		t.Errorf("%d TO_REVIEW transactions for another reason than payment_already_claimed (%v)", wrongReason, err)
	}
	if r.MovementsConfirmedTwice != 0 {
		t.Errorf("%d bank movements confirmed two transactions", r.MovementsConfirmedTwice)
	}
	if r.DuplicateTransitions != 0 {
		t.Errorf("%d status transitions were recorded twice", r.DuplicateTransitions)
	}
	if r.InProgressNoTask != 0 {
		t.Errorf("%d IN_PROGRESS transactions have no live task", r.InProgressNoTask)
	}
	if v := r.Sandbox.Violations; v.PerReference+v.Global+v.Token != 0 {
		t.Errorf("the bank saw limit violations: %+v", v)
	}
	// The transitions against the bank's own account, not only our events:
	// every COMPLETED transaction's payment was shown by the sandbox in a
	// reply (its arrival log records the rows each reply carried).
	if unseen, err := completedWithoutARow(ctx, c); err != nil || len(unseen) != 0 {
		t.Errorf("%d COMPLETED transactions whose payment the bank never showed (%v): %v", len(unseen), err, unseen[:min(len(unseen), 10)])
	}
	if s.after != nil {
		s.after(t, ctx, c)
	}
	return r
}

// completedWithoutARow lists the references of COMPLETED transactions that
// no reply of the sandbox carried.
func completedWithoutARow(ctx context.Context, c *Cluster) ([]string, error) {
	arrivals, err := c.Arrivals(ctx)
	if err != nil {
		return nil, err
	}
	shown := map[string]bool{}
	for _, a := range arrivals {
		for _, ref := range a.Rows {
			shown[ref] = true
		}
	}
	var completed []string
	if err := c.DB.SelectContext(ctx, &completed, `SELECT reference FROM transactions WHERE status = 'COMPLETED'`); err != nil {
		return nil, err
	}
	var unseen []string
	for _, ref := range completed {
		if !shown[ref] {
			unseen = append(unseen, ref)
		}
	}
	return unseen, nil
}

// startCluster starts the cluster of a fault scenario in a scratch directory
// with the suite's binaries; it is closed, and its logs' tail printed if the
// test failed, when the test ends.
func startCluster(t *testing.T, ctx context.Context, opts Options) *Cluster {
	t.Helper()
	opts.Dir = t.TempDir()
	opts.BinDir = bins(t)
	// The margin covers the time from a check's send slot to its arrival at
	// the bank (docs/bank.md): size it for the machine. Here every process
	// of the system, a load generator and the bank share 2 cores, often with
	// other tests: arrivals were seen more than the default 40 ms late, and
	// the sandbox, counting at arrival, booked it as over the global limit.
	// Every limit is still enforced exactly by the sandbox.
	opts.ExtraEnv = append([]string{"BANESCO_LIMIT_MARGIN=100ms"}, opts.ExtraEnv...)
	c, err := Start(ctx, opts)
	if c != nil {
		t.Cleanup(c.Close)
	}
	if err != nil {
		t.Fatalf("start cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := c.Logs()
			t.Logf("logs (tail):\n%s", logs[max(0, len(logs)-20000):])
		}
	})
	return c
}

// waitChecks blocks until the bank has answered at least k checks.
func waitChecks(t *testing.T, ctx context.Context, c *Cluster, k int) {
	for {
		s, err := c.Stats(ctx)
		if err == nil && s.Checks >= k {
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("bank never reached %d checks", k)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestFaultKillWorker(t *testing.T) {
	run(t, scenario{
		opts: Options{Workers: 3, MaxRPS: 25, Concurrency: 10, SandboxEnv: []string{"SANDBOX_FAULT_SLOW=0.2", "SANDBOX_FAULT_SLOW_DELAY=1s"}},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, n/4)
			c.Workers[0].Kill() // kill -9: its active tasks come back through asynq's lease recovery
			t.Logf("killed worker-0 (pid gone) at %d checks", n/4)
		},
		wait: 6 * time.Minute,
	})
}

func TestFaultRedisFlushAll(t *testing.T) {
	run(t, scenario{
		opts: Options{Workers: 2, MaxRPS: 25},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, n/3)
			rdb := c.Redis.Client()
			defer rdb.Close()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Errorf("flushall: %v", err)
			}
			t.Log("FLUSHALL done; the sweeper must bring the lost checks back")
		},
		wait: 4 * time.Minute,
	})
}

func TestFaultRedisRestart(t *testing.T) {
	run(t, scenario{
		opts: Options{Workers: 2, MaxRPS: 25},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, n/3)
			if err := c.Redis.Restart(); err != nil {
				t.Errorf("restart redis: %v", err)
			}
			t.Log("Redis restarted empty")
		},
		wait: 4 * time.Minute,
	})
}

func TestFaultPostgresRestart(t *testing.T) {
	run(t, scenario{
		opts: Options{Workers: 2, MaxRPS: 25},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, n/4)
			if err := c.PG.Stop(); err != nil {
				t.Errorf("stop postgres: %v", err)
				return
			}
			code, body, err := c.Do(ctx, "GET", "/api/v1/transactions?size=1", nil)
			if err != nil || code != 503 {
				t.Errorf("with Postgres down the API answered %d %s %v, want 503 unavailable", code, body, err)
			}
			time.Sleep(5 * time.Second)
			if err := c.PG.Start(); err != nil {
				t.Errorf("start postgres: %v", err)
			}
			t.Log("Postgres restarted after 5s down")
		},
		wait: 5 * time.Minute,
	})
}

func TestFaultBankChaos(t *testing.T) {
	r := run(t, scenario{
		opts: Options{Workers: 3, MaxRPS: 30, SandboxEnv: []string{
			"SANDBOX_FAULT_RATE_LIMITED=0.1", "SANDBOX_FAULT_RETRY_AFTER=2s",
			"SANDBOX_FAULT_SERVER_ERROR=0.1", "SANDBOX_FAULT_MAINTENANCE=0.05",
			"SANDBOX_FAULT_SLOW=0.05", "SANDBOX_FAULT_SLOW_DELAY=7s", // past BANESCO_TIMEOUT=5s
			"SANDBOX_FAULT_MALFORMED=0.05", "SANDBOX_FAULT_TOKEN_TTL=40s", // tokens die long before expires_in (300 s) says
		}},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {},
		wait:   8 * time.Minute,
	})
	if r.Sandbox.TokenRequests < 2 {
		t.Errorf("tokens expiring after 40s should have caused refreshes, saw %d token requests", r.Sandbox.TokenRequests)
	}
}

func TestFaultSigtermWorkers(t *testing.T) {
	run(t, scenario{
		opts: Options{Workers: 2, MaxRPS: 25, SandboxEnv: []string{"SANDBOX_FAULT_SLOW=0.5", "SANDBOX_FAULT_SLOW_DELAY=2s"}},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, n/4)
			for i, w := range c.Workers {
				if err := w.Signal(syscall.SIGTERM, 30*time.Second); err != nil {
					t.Errorf("worker-%d: %v", i, err)
				}
			}
			logs, _ := os.ReadFile(filepath.Join(c.Opts.Dir, "worker-0.log"))
			t.Logf("both workers stopped gracefully (%d bytes of logs); starting them again", len(logs))
			for _, w := range c.Workers {
				if err := w.Start(); err != nil {
					t.Errorf("restart worker: %v", err)
				}
			}
		},
		wait: 4 * time.Minute,
	})
}
