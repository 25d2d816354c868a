package verify_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestSweeperRepairsAFlushedRedis: Redis loses everything in the middle of a
// run; the sweeper finds every IN_PROGRESS transaction in Postgres again and
// they all finish. A transaction whose enqueue failed after the commit is
// repaired by the same sweep.
func TestSweeperRepairsAFlushedRedis(t *testing.T) {
	t.Parallel()
	const n = 10
	b := setup(t, options{sandbox: banksandbox.Config{Demo: true, SettleAfter: 3 * time.Second}})
	b.sweeper.SetGrace(0)
	ctx := context.Background()
	var txs []transaction.Transaction
	for i := range n {
		bank := transaction.BankMobileTransfer
		if i%2 == 1 {
			bank = transaction.BankBanesco
		}
		txs = append(txs, b.create(t, bank))
	}
	orphan := b.newTx(t, transaction.BankMobileTransfer) // committed, never enqueued
	b.bank.AddPayment(payment(orphan))
	eventually(t, 20*time.Second, func() (bool, string) {
		checked := 0
		for _, tx := range txs {
			if b.get(t, tx.ID).Attempts > 0 {
				checked++
			}
		}
		return checked == n, fmt.Sprintf("%d of %d checked once", checked, n)
	})

	if err := b.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	// Give any check in flight at the flush time to finish: its task is gone.
	time.Sleep(1500 * time.Millisecond)
	for _, tx := range append(txs, orphan) {
		if got := b.get(t, tx.ID); got.Status != transaction.StatusInProgress {
			t.Fatalf("%s is %s before the sweep, want IN_PROGRESS", got.TransactionID, got.Status)
		}
		if info := b.taskOf(t, tx.ID); info != nil {
			t.Fatalf("%s has a task after FLUSHALL: %+v", tx.TransactionID, info)
		}
	}

	repaired, err := b.sweeper.Sweep(ctx)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if repaired != n+1 {
		t.Errorf("Sweep repaired %d, want %d (%d flushed + 1 never enqueued)", repaired, n+1, n)
	}
	b.waitAll(t, append(txs, orphan), transaction.StatusCompleted, 30*time.Second)
	for _, tx := range append(txs, orphan) {
		if got := transitions(b.events(t, tx.ID)); len(got) != 1 {
			t.Errorf("%s transitions %v, want one", tx.TransactionID, got)
		}
	}
	if again, err := b.sweeper.Sweep(ctx); err != nil || again != 0 {
		t.Errorf("a second Sweep repaired %d (%v), want nothing left to repair", again, err)
	}
}

// TestSweeperRunEnqueuesASweepThatRuns: the periodic path — Run enqueues one
// sweep task per period, a worker runs it, and the transaction whose enqueue
// failed gets checked.
func TestSweeperRunEnqueuesASweepThatRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, options{sweepEvery: time.Second})
	w := b.workers[0]
	w.sweeper.SetGrace(0)
	orphan := b.newTx(t, transaction.BankBanesco) // committed, never enqueued
	b.bank.AddPayment(payment(orphan))
	time.Sleep(500 * time.Millisecond)
	if got := b.get(t, orphan.ID); got.Attempts != 0 || b.taskOf(t, orphan.ID) != nil {
		t.Fatalf("attempts %d before any sweep: nothing should check a transaction without a task", got.Attempts)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.sweeper.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	b.waitStatus(t, orphan.ID, transaction.StatusCompleted, 20*time.Second)
	completed, err := b.inspector.ListCompletedTasks(tasks.QueueSweep)
	if err != nil {
		t.Fatalf("list completed sweeps: %v", err)
	}
	if len(completed) == 0 || completed[0].Type != tasks.TypeSweep || !strings.HasPrefix(completed[0].ID, "sweep:") {
		t.Fatalf("completed sweep tasks %v: want the sweeps Run enqueued, run by the worker", completed)
	}
}

// TestWorkerShutdownLosesNothing stops a worker while its checks are at the
// bank and starts another: every transaction completes and no status change is
// recorded twice, whether the shutdown waits for the checks or gives up on them.
func TestWorkerShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		shutdown  time.Duration
		slowDelay time.Duration
	}{
		{"shutdown gives up on the checks in flight", 300 * time.Millisecond, 3 * time.Second},
		{"shutdown waits for the checks in flight", 5 * time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 10
			b := setup(t, options{workers: -1, shutdown: tc.shutdown,
				sandbox: banksandbox.Config{Faults: banksandbox.Faults{Slow: 1, SlowDelay: tc.slowDelay}}})
			first := b.startWorker(t)
			var txs []transaction.Transaction
			for i := range n {
				bank := transaction.BankMobileTransfer
				if i%2 == 1 {
					bank = transaction.BankBanesco
				}
				tx := b.create(t, bank)
				b.bank.AddPayment(payment(tx))
				txs = append(txs, tx)
			}
			eventually(t, 10*time.Second, func() (bool, string) {
				st := b.bank.Stats()
				return st.Checks >= n/2, fmt.Sprintf("%d checks at the bank", st.Checks)
			})
			first.srv.Shutdown()
			b.bank.SetFaults(banksandbox.Faults{})
			b.startWorker(t)

			b.waitAll(t, txs, transaction.StatusCompleted, 30*time.Second)
			for _, tx := range txs {
				ev := b.events(t, tx.ID)
				if got := transitions(ev); len(got) != 1 || got[0] != "IN_PROGRESS→COMPLETED" {
					t.Errorf("%s transitions %v, want IN_PROGRESS→COMPLETED once", tx.TransactionID, got)
				}
			}
			t.Logf("bank checks %d", b.bank.Stats().Checks)
		})
	}
}

// TestDuplicateDeliveryRecordsOnce: asynq delivers at least once, so the same
// task can run twice, at the same time or one after the other.
func TestDuplicateDeliveryRecordsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1, sandbox: banksandbox.Config{Faults: banksandbox.Faults{Slow: 1, SlowDelay: 200 * time.Millisecond}}})
	ctx := context.Background()
	task := func(tx transaction.Transaction) *asynq.Task {
		task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: tx.ID}, tasks.QueueVerify, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	twice := func(h1, h2 *verify.Handler, task *asynq.Task) [2]error {
		var errs [2]error
		var wg sync.WaitGroup
		for i, h := range []*verify.Handler{h1, h2} {
			wg.Go(func() { errs[i] = h.ProcessTask(ctx, task) })
		}
		wg.Wait()
		return errs
	}
	assertOnce := func(t *testing.T, tx transaction.Transaction) {
		t.Helper()
		got := b.get(t, tx.ID)
		ev := b.events(t, tx.ID)
		if got.Status != transaction.StatusCompleted || got.Attempts != 1 || len(checks(ev)) != 1 {
			t.Errorf("status %s, attempts %d, %d check events: want COMPLETED after one recorded check", got.Status, got.Attempts, len(checks(ev)))
		}
		if tr := transitions(ev); len(tr) != 1 || tr[0] != "IN_PROGRESS→COMPLETED" {
			t.Errorf("transitions %v, want IN_PROGRESS→COMPLETED once", tr)
		}
	}

	t.Run("concurrently, one limiter", func(t *testing.T) {
		tx := b.newTx(t, transaction.BankMobileTransfer)
		b.bank.AddPayment(payment(tx))
		tk := task(tx)
		errs := twice(b.handler, b.handler, tk)
		for _, err := range errs {
			if err != nil && verify.IsFailure(err) {
				t.Errorf("ProcessTask: %v: a duplicate must not be a failure", err)
			}
		}
		if n := len(b.arrivals.of(tail(tx))); n != 1 {
			t.Errorf("the bank saw %d checks, want 1 (the limiter holds the duplicate back)", n)
		}
		assertOnce(t, tx)
		if err := b.handler.ProcessTask(ctx, tk); err != nil {
			t.Errorf("a third delivery after COMPLETED: %v, want nil", err)
		}
		assertOnce(t, tx)
		if n := len(b.arrivals.of(tail(tx))); n != 1 {
			t.Errorf("the bank saw %d checks, want 1: a COMPLETED transaction is not asked about", n)
		}
	})

	t.Run("concurrently, both reach the bank", func(t *testing.T) {
		// Two replicas whose limiters do not see each other (the worst case:
		// their own Redis and their own record of sends): the guarded update
		// in Postgres still records the change once.
		other := verify.NewHandler(b.store, b.client, verify.NewLimiter(redistest.Start(t).Client(), pgtest.New(t).DB, 1000, 600, nil),
			b.scheduler, b.o.policy(), nil, b.log)
		tx := b.newTx(t, transaction.BankBanesco)
		b.bank.AddPayment(payment(tx))
		errs := twice(b.handler, other, task(tx))
		if errs[0] != nil || errs[1] != nil {
			t.Errorf("ProcessTask errors %v, want nil twice", errs)
		}
		if n := len(b.arrivals.of(tail(tx))); n != 2 {
			t.Errorf("the bank saw %d checks, want 2", n)
		}
		assertOnce(t, tx)
	})

	t.Run("sequentially", func(t *testing.T) {
		tx := b.newTx(t, transaction.BankMobileTransfer)
		b.bank.AddPayment(payment(tx))
		tk := task(tx)
		for i := range 2 {
			if err := b.handler.ProcessTask(ctx, tk); err != nil {
				t.Fatalf("delivery %d: %v", i+1, err)
			}
		}
		assertOnce(t, tx)
	})

	// A check that found nothing hands over to a successor (Postgres first,
	// then Redis). Delivered again, the old task never asks the bank a second
	// time: it only makes sure the successor exists, which repairs a crash or
	// a failed enqueue between the two writes.
	t.Run("after handing over", func(t *testing.T) {
		tx := b.newTx(t, transaction.BankMobileTransfer) // no payment: not found yet
		tk := task(tx)
		live := func(t *testing.T, want string) {
			t.Helper()
			s := b.tasksOf(t, tx.ID, tasks.QueueVerify, asynq.TaskStateScheduled)
			if len(s) != 1 || s[0].ID != want {
				t.Fatalf("%d scheduled tasks of the transaction (%v), want only %s", len(s), s, want)
			}
		}
		if err := b.handler.ProcessTask(ctx, tk); err != nil {
			t.Fatalf("first delivery: %v", err)
		}
		succ := tasks.VerifyTaskID(tx.ID, 1)
		live(t, succ)
		first := b.get(t, tx.ID)
		if first.TaskSeq != 1 || first.Attempts != 1 || !first.NextCheckAt.Valid {
			t.Fatalf("task_seq %d, attempts %d, next check %v after one check: want 1, 1 and a time", first.TaskSeq, first.Attempts, first.NextCheckAt)
		}
		if err := b.handler.ProcessTask(ctx, tk); err != nil {
			t.Fatalf("second delivery: %v", err)
		}
		live(t, succ)
		// The successor lost (Redis refused the enqueue, or the worker died
		// after writing Postgres): the next delivery of the old task puts it back.
		if err := b.inspector.DeleteTask(tasks.QueueVerify, succ); err != nil {
			t.Fatal(err)
		}
		if err := b.handler.ProcessTask(ctx, tk); err != nil {
			t.Fatalf("third delivery: %v", err)
		}
		live(t, succ)
		if n := len(b.arrivals.of(tail(tx))); n != 1 {
			t.Errorf("the bank saw %d checks, want 1: a task that handed over never checks again", n)
		}
		got, ev := b.get(t, tx.ID), b.events(t, tx.ID)
		if got.Attempts != 1 || len(checks(ev)) != 1 || got.Status != transaction.StatusInProgress {
			t.Errorf("status %s, attempts %d, %d check events: want IN_PROGRESS after one recorded check", got.Status, got.Attempts, len(checks(ev)))
		}
		// Not even the limiter was asked (its refusal would have moved the
		// next check to the reference's next slot).
		if !got.NextCheckAt.Time.Equal(first.NextCheckAt.Time) || got.TaskSeq != 1 {
			t.Errorf("next check %s, task_seq %d after the re-deliveries; want %s and 1, as the check left them",
				got.NextCheckAt.Time, got.TaskSeq, first.NextCheckAt.Time)
		}
	})

	t.Run("concurrently, not found", func(t *testing.T) {
		tx := b.newTx(t, transaction.BankBanesco)
		errs := twice(b.handler, b.handler, task(tx))
		if errs[0] != nil || errs[1] != nil {
			t.Errorf("ProcessTask errors %v, want nil twice", errs)
		}
		if n := len(b.arrivals.of(tail(tx))); n != 1 {
			t.Errorf("the bank saw %d checks, want 1 (the limiter holds the duplicate back)", n)
		}
		// Both runs hand over to the same successor: one live task.
		if s := b.tasksOf(t, tx.ID, tasks.QueueVerify, asynq.TaskStateScheduled); len(s) != 1 || s[0].ID != tasks.VerifyTaskID(tx.ID, 1) {
			t.Errorf("%d scheduled tasks of the transaction (%v), want one, numbered 1", len(s), s)
		}
	})
}

// TestPostgresDownIsARetriedFailure: a check that cannot read or write Postgres
// is a failure asynq retries (counted, with backoff), never a lost task.
func TestPostgresDownIsARetriedFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1})
	closed, err := sqlx.Open("postgres", b.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	down := verify.NewHandler(transaction.NewStore(closed, nil), b.client, b.limiter, b.scheduler, b.o.policy(), nil, b.log)
	tx := b.newTx(t, transaction.BankMobileTransfer)
	b.bank.AddPayment(payment(tx))

	task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: tx.ID}, tasks.QueueVerify, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = down.ProcessTask(context.Background(), task)
	if err == nil || !verify.IsFailure(err) {
		t.Fatalf("ProcessTask with Postgres down = %v, want an error IsFailure counts", err)
	}
	if d := verify.RetryDelay(0, err, task); d <= 0 {
		t.Errorf("RetryDelay = %s, want a backoff", d)
	}
	if n := b.bank.Stats().Checks; n != 0 {
		t.Errorf("the bank was asked %d times without a transaction to record it on", n)
	}

	// Through a real server: the task waits in the Retry list with its failure
	// counted, and a healthy worker finishes it later.
	srv := b.serve(t, b.rdb, down, b.sweeper)
	b.run(t, tx)
	eventually(t, 15*time.Second, func() (bool, string) {
		info := b.taskOf(t, tx.ID)
		if info == nil {
			return false, "no task"
		}
		return info.State == asynq.TaskStateRetry && info.Retried >= 1 && strings.Contains(info.LastErr, "database is closed"),
			fmt.Sprintf("task %s retried %d: %q", info.State, info.Retried, info.LastErr)
	})
	srv.Shutdown()
	b.startWorker(t)
	b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
}

// TestRedisDownIsNotAGrant: when Redis is unreachable the limiter answers with
// an error, never a grant, and the handler fails before asking the bank.
func TestRedisDownIsNotAGrant(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1})
	gone := redistest.Start(t)
	rdb := gone.Client()
	gone.Stop()
	l := verify.NewLimiter(rdb, b.db.DB, 5, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := l.Acquire(ctx, "m:123456")
	if err == nil || g.Granted() || g.Wait != 0 || g.Limit != "" {
		t.Fatalf("Acquire with Redis down = %+v %v, want an error and no grant", g, err)
	}

	h := verify.NewHandler(b.store, b.client, l, b.scheduler, b.o.policy(), nil, b.log)
	tx := b.newTx(t, transaction.BankMobileTransfer)
	task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: tx.ID}, tasks.QueueVerify, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	err = h.ProcessTask(ctx, task)
	var w *verify.WaitError
	if err == nil || errors.As(err, &w) || !verify.IsFailure(err) {
		t.Fatalf("ProcessTask with Redis down = %v, want a failure", err)
	}
	if n := b.bank.Stats().Checks; n != 0 {
		t.Errorf("the bank was asked %d times without the limiter's consent", n)
	}
	if got := b.get(t, tx.ID); got.Attempts != 0 || got.Status != transaction.StatusInProgress {
		t.Errorf("attempts %d status %s: nothing should be recorded", got.Attempts, got.Status)
	}
}
