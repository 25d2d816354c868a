package verify_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// TestBacklogServesOnDemandFirstThenOldestDue: under a backlog (checks fall
// due faster than the one worker slot can make them: the bank takes 300 ms a
// check), the checks a person asked for (POST …/verify) go next, before any
// routine check still waiting, and the routine ones go in the order they fell
// due, whatever order they were enqueued in.
func TestBacklogServesOnDemandFirstThenOldestDue(t *testing.T) {
	t.Parallel()
	b := setup(t, options{concurrency: 1, sandbox: banksandbox.Config{
		Faults: banksandbox.Faults{Slow: 1, SlowDelay: 300 * time.Millisecond}}})
	ctx := context.Background()

	// 16 routine checks due over 4 seconds (4 a second, the worker makes
	// about 3), enqueued in random order.
	base := time.Now().Truncate(time.Second).Add(2 * time.Second)
	type check struct {
		tx  transaction.Transaction
		due time.Time
	}
	var routines []check
	for i := range 16 {
		routines = append(routines, check{b.newTx(t, transaction.BankMobileTransfer), base.Add(time.Duration(i/4) * time.Second)})
	}
	for _, i := range rand.Perm(len(routines)) {
		r := routines[i]
		b.bank.AddPayment(payment(r.tx))
		if err := b.scheduler.Enqueue(ctx, r.tx.ID, "test", r.due); err != nil {
			t.Fatal(err)
		}
	}
	// With a backlog of routine checks pending, five people ask for a check.
	time.Sleep(time.Until(base.Add(3 * time.Second)))
	var onDemand []transaction.Transaction
	for range 5 {
		tx := b.newTx(t, transaction.BankBanesco)
		b.bank.AddPayment(payment(tx))
		onDemand = append(onDemand, tx)
	}
	asked := time.Now()
	for _, tx := range onDemand {
		if _, err := b.scheduler.CheckNow(ctx, tx, "test"); err != nil {
			t.Fatal(err)
		}
	}

	all := slices.Clone(onDemand)
	for _, r := range routines {
		all = append(all, r.tx)
	}
	b.waitAll(t, all, transaction.StatusCompleted, 60*time.Second)

	arrival := func(tx transaction.Transaction) time.Time {
		at := b.arrivals.of(tail(tx))
		if len(at) != 1 {
			t.Fatalf("%s: the bank saw %d checks, want 1", tx.TransactionID, len(at))
		}
		return at[0]
	}
	var lastOnDemand time.Time
	for _, tx := range onDemand {
		if at := arrival(tx); at.After(lastOnDemand) {
			lastOnDemand = at
		}
	}
	// Between the request and the last on-demand check, at most the routine
	// check already in flight reached the bank.
	var between, after int
	for _, r := range routines {
		switch at := arrival(r.tx); {
		case at.After(asked) && at.Before(lastOnDemand):
			between++
		case at.After(lastOnDemand):
			after++
		}
	}
	if between > 1 {
		t.Errorf("%d routine checks reached the bank between the requests for a check and the last of those checks; want at most the one in flight", between)
	}
	if after == 0 {
		t.Errorf("no routine check was left waiting when the checks were asked for: the test made no backlog")
	}
	slices.SortFunc(routines, func(x, y check) int { return arrival(x.tx).Compare(arrival(y.tx)) })
	var order []string
	for _, r := range routines {
		order = append(order, fmt.Sprintf("+%s", r.due.Sub(base)))
	}
	if !slices.IsSortedFunc(routines, func(x, y check) int { return x.due.Compare(y.due) }) {
		t.Errorf("routine checks reached the bank in the order of due times %v: want oldest due first", order)
	}
}
