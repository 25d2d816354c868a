package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// TestSweeperLeavesRecentChecksAlone: the sweeper repairs a check only once it
// is 10 s overdue (the API enqueues a moment after its commit, and a worker
// that just handed over enqueues right after writing Postgres), never one
// that is due soon; it logs what it repaired, and nothing when it repaired
// nothing.
func TestSweeperLeavesRecentChecksAlone(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1})
	logs := &syncBuffer{}
	s := verify.NewSweeper(b.store, b.scheduler, b.queue, time.Hour, nil, zerolog.New(logs))
	ctx := context.Background()
	at := func(d time.Duration) transaction.Transaction {
		tx := b.newTx(t, transaction.BankMobileTransfer) // committed, never enqueued
		if err := b.store.SetNextCheck(ctx, tx.ID, time.Now().Add(d)); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	justDue, dueSoon, lost := at(-5*time.Second), at(5*time.Second), at(-30*time.Second)
	if err := s.ProcessTask(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for name, tx := range map[string]transaction.Transaction{"5 s overdue": justDue, "due in 5 s": dueSoon} {
		if info := b.taskOf(t, tx.ID); info != nil {
			t.Errorf("%s: the sweeper enqueued %s, want it left alone", name, info.ID)
		}
	}
	if b.taskOf(t, lost.ID) == nil {
		t.Errorf("30 s overdue: not repaired")
	}
	count := func() int { return strings.Count(logs.tail(100_000), "sweeper re-enqueued lost checks") }
	if n, l := count(), logs.tail(100_000); n != 1 || !strings.Contains(l, `"reenqueued":1`) {
		t.Errorf("log after repairing one check: %s", l)
	}
	if err := s.ProcessTask(ctx, nil); err != nil { // nothing left to repair
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("a sweep that repaired nothing logged it (%d lines)", n)
	}
}

// TestSweepEnqueueWarnsOnlyOnFailure: every replica enqueues each period's
// sweep and all but the first get a conflict, which is normal; a Redis that
// refuses the enqueue is worth a warning.
func TestSweepEnqueueWarnsOnlyOnFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1})
	warned := func(l *syncBuffer) bool { return strings.Contains(l.tail(100_000), "enqueue sweep") }

	// Scripts Redis has run: asynq enqueues with one; nothing else talks to
	// this Redis meanwhile (no worker runs here).
	scripts := func() int {
		info, err := b.rdb.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(info, "\n") {
			if strings.HasPrefix(line, "cmdstat_evalsha:") || strings.HasPrefix(line, "cmdstat_eval:") {
				var calls int
				fmt.Sscanf(line[strings.Index(line, "calls=")+len("calls="):], "%d", &calls)
				n += calls
			}
		}
		return n
	}
	ok := &syncBuffer{}
	for range 2 { // two replicas in the same period: the second conflicts
		before := scripts()
		s := verify.NewSweeper(b.store, b.scheduler, b.queue, time.Hour, nil, zerolog.New(ok))
		s.Start()
		eventually(t, 5*time.Second, func() (bool, string) { return scripts() > before, "the sweep was not enqueued yet" })
		s.Shutdown()
	}
	if warned(ok) {
		t.Errorf("a conflicting sweep (another replica's) was warned about: %s", ok.tail(2000))
	}

	gone := redistest.Start(t)
	dead := asynq.NewClientFromRedisClient(gone.Client())
	t.Cleanup(func() { dead.Close() })
	gone.Stop()
	bad := &syncBuffer{}
	s := verify.NewSweeper(b.store, b.scheduler, dead, time.Hour, nil, zerolog.New(bad))
	s.Start()
	eventually(t, 15*time.Second, func() (bool, string) { return warned(bad), "no warning with Redis down" })
	s.Shutdown()
}
