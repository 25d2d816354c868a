//go:build faults

package systest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// TestFaultLimitsThroughRedisLoss: the worst cases of the per-reference limit.
// Payments settle late, so every reference is checked again and again; pairs
// of transactions share the 6-digit tail the bank counts for pago móvil; the
// retry schedule (1 s) is far shorter than the bank's spacing, so only the
// limiter stands between the workers and a third check within 60 s. Once every
// reference has had two checks, Redis is wiped (FLUSHALL); once they have had
// more, a worker is killed with checks in flight and Redis is restarted empty.
// Then the payments appear and everything must complete.
//
// The invariant comes from the sandbox's own arrival log, not from our
// records: no reference ever arrived more than twice in any 60 s.
func TestFaultLimitsThroughRedisLoss(t *testing.T) {
	const pairs = 20
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, Options{Workers: 3, MaxRPS: 25, Concurrency: 10, Schedule: "1s", Sweep: "2s"})

	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	var bodies []client.CreateTransaction
	var payments []banksandbox.Payment
	tails := map[string]bool{}
	for i := range pairs {
		tail := fmt.Sprintf("%06d", 731000+i)
		tails[tail] = true
		for k, lead := range []string{"1000", "2000"} {
			ref := lead + tail // two full references, one tail: one limit at the bank
			phone := fmt.Sprintf("0414%07d", 1000000+2*i+k)
			bodies = append(bodies, client.CreateTransaction{
				TransactionID: fmt.Sprintf("limits-%02d-%d", i, k), Bank: client.BankMobileTransfer, Reference: ref,
				Amount: "1240.00", PayerBankCode: "0102", PaidOn: date,
				Customer: client.Customer{FullName: "Ana Pérez", Phone: phone, NationalID: "V12345678"},
			})
			payments = append(payments, banksandbox.Payment{Reference: ref, Amount: "1240.00", Phone: phone,
				BankID: "0102", Date: date, Mode: banksandbox.ModeMobile})
		}
	}
	if _, err := c.CreateAll(ctx, bodies, 8); err != nil {
		t.Fatalf("create: %v", err)
	}

	// Every tail checked twice: the next check of each is the one a lost
	// limiter would send too early.
	waitArrivals(t, ctx, c, tails, 2)
	rdb := c.Redis.Client()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("flushall: %v", err)
	}
	rdb.Close()
	t.Log("FLUSHALL after every reference had two checks")

	waitArrivals(t, ctx, c, tails, 3)
	c.Workers[0].Kill() // kill -9 with checks granted and in flight
	if err := c.Redis.Restart(); err != nil {
		t.Fatalf("restart redis: %v", err)
	}
	t.Log("worker-0 killed, Redis restarted empty, after every reference had three checks")

	waitArrivals(t, ctx, c, tails, 4)
	if err := c.AddPayments(ctx, payments); err != nil {
		t.Fatal(err)
	}
	counts, waitErr := c.WaitSettled(ctx, len(bodies))
	if waitErr != nil || counts["COMPLETED"] != len(bodies) {
		t.Errorf("counts %v (%v): want all %d COMPLETED", counts, waitErr, len(bodies))
	}

	arrivals, err := c.Arrivals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	worst, over := perReferenceWorst(arrivals, time.Minute)
	t.Logf("%d arrivals; the most any reference saw in 60 s: %d; references over the limit: %v", len(arrivals), worst, over)
	if len(over) != 0 {
		t.Errorf("the bank saw %d references more than twice within 60 s: %v", len(over), over)
	}
	r, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.Sandbox.Violations; v.PerReference+v.Global+v.Token != 0 {
		t.Errorf("the sandbox counted violations: %+v", v)
	}
	if unseen, err := completedWithoutARow(ctx, c); err != nil || len(unseen) != 0 {
		t.Errorf("%d COMPLETED transactions whose payment the bank never showed (%v): %v", len(unseen), err, unseen)
	}
	if r.DuplicateTransitions != 0 {
		t.Errorf("%d status transitions were recorded twice", r.DuplicateTransitions)
	}
}

// waitArrivals blocks until every tail has arrived at the bank at least k
// times (authorized or not).
func waitArrivals(t *testing.T, ctx context.Context, c *Cluster, tails map[string]bool, k int) {
	t.Helper()
	for {
		arr, err := c.Arrivals(ctx)
		if err == nil {
			seen := map[string]int{}
			for _, a := range arr {
				seen[a.Reference]++
			}
			done := true
			for tail := range tails {
				if seen[tail] < k {
					done = false
					break
				}
			}
			if done {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the bank never saw every reference %d times", k)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// perReferenceWorst computes, from arrivals alone, the most arrivals of one
// reference within any window, and the references that had more than two.
func perReferenceWorst(arrivals []banksandbox.Arrival, window time.Duration) (worst int, over []string) {
	byRef := map[string][]time.Time{}
	for _, a := range arrivals {
		if a.Reference != "" {
			byRef[a.Reference] = append(byRef[a.Reference], a.At)
		}
	}
	for ref, ts := range byRef {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		most := 0
		for i := range ts {
			j := i
			for j < len(ts) && ts[j].Sub(ts[i]) < window {
				j++
			}
			most = max(most, j-i)
		}
		worst = max(worst, most)
		if most > 2 {
			over = append(over, ref)
		}
	}
	sort.Strings(over)
	return worst, over
}
