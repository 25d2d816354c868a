package transaction_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
)

// TestTransitionIsGuarded: two people settle one transaction at once; one
// wins, the other gets ErrInvalidTransition, and one status change is recorded.
func TestTransitionIsGuarded(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "223456789012", "TRANSACTION")
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, to := range []transaction.Status{transaction.StatusCanceled, transaction.StatusCanceled} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.store.Transition(ctx, transaction.Change{ID: tx.ID, From: []transaction.Status{transaction.StatusInProgress},
				To: to, Reason: "race", ActorType: transaction.ActorUser, ActorID: "u"})
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], transaction.ErrInvalidTransition) || errors.Is(errs[1], transaction.ErrInvalidTransition)) {
		t.Fatalf("errors %v: want one winner and one ErrInvalidTransition", errs)
	}
	events, _ := e.store.Events(ctx, tx.ID)
	if len(events) != 2 || events[1].NewStatus != transaction.StatusCanceled {
		t.Errorf("events %+v, want the creation and one change", events)
	}
}

// TestRecordCheckCounts: real answers count as attempts; checks without one
// are counted apart (bank_failures) and reset by the next real answer; a
// transaction no longer IN_PROGRESS records nothing.
func TestRecordCheckCounts(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "323456789012", "TRANSACTION")
	next := time.Now().Add(time.Minute)
	check := func(counts, unanswered bool) {
		t.Helper()
		if _, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: tx.ID, CheckedAt: time.Now(), NewStatus: transaction.StatusInProgress,
			NextCheckAt: &next, CountsAttempt: counts, Unanswered: unanswered, Metadata: map[string]any{}}); err != nil {
			t.Fatal(err)
		}
	}
	check(false, true)
	check(false, true)
	got, _ := e.store.ByID(ctx, tx.ID)
	if got.Attempts != 0 || got.BankFailures != 2 {
		t.Fatalf("after two unanswered checks: attempts %d, bank_failures %d", got.Attempts, got.BankFailures)
	}
	check(true, false)
	got, _ = e.store.ByID(ctx, tx.ID)
	if got.Attempts != 1 || got.BankFailures != 0 || !got.LastCheckedAt.Valid {
		t.Fatalf("after a real answer: attempts %d, bank_failures %d", got.Attempts, got.BankFailures)
	}
	if err := e.store.SoftDelete(ctx, tx.ID, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: tx.ID, CheckedAt: time.Now(), NewStatus: transaction.StatusCompleted,
		Metadata: map[string]any{}}); !errors.Is(err, transaction.ErrNotFound) {
		t.Errorf("check of a deleted transaction: %v, want ErrNotFound", err)
	}
}

// TestReopen: TO_REVIEW and UNKNOWN go back to IN_PROGRESS with a fresh
// deadline and clean counters; other statuses are refused.
func TestReopen(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "423456789012", "TRANSACTION")
	if _, err := e.store.Reopen(ctx, tx.ID, time.Hour, "u", "r"); !errors.Is(err, transaction.ErrInvalidTransition) {
		t.Fatalf("reopen IN_PROGRESS: %v", err)
	}
	if _, err := e.store.Transition(ctx, transaction.Change{ID: tx.ID, From: []transaction.Status{transaction.StatusInProgress},
		To: transaction.StatusUnknown, ActorType: transaction.ActorSystem, ActorID: "deadline"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Reopen(ctx, tx.ID, 2*time.Hour, "u", "r")
	if err != nil || got.Status != transaction.StatusInProgress || got.DeadlineAt.Before(time.Now().Add(time.Hour)) || got.StatusReason.Valid {
		t.Fatalf("reopen UNKNOWN: %+v %v", got, err)
	}
}
