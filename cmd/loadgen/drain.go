package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// drainCase is one configuration of scenario 2.
type drainCase struct {
	Q, Workers, N int
}

// drainPoint is scenario 2 for one case (medians over runs).
type drainPoint struct {
	drainCase
	Wall         time.Duration
	ChecksPerSec float64                // checks / wall (worker start to the last COMPLETED)
	ShareOfQ     float64                // ArrivalRate / Q
	ArrivalRate  float64                // checks / (last arrival − first arrival), at the bank
	Baseline     float64                // the limiter alone, same Redis, same Q: sends/s
	Violations   banksandbox.Violations // summed over runs: must be zero
	MaxGlobal1s  int
	Gap          gapStats // slot → arrival, pooled over runs
	// PerSecond is the first run's arrivals at the bank in each second
	// from its first arrival: where a drain below Q loses its time.
	PerSecond []int
}

// gapStats is the distribution of the time from a check's booked slot in the
// global limit to its arrival at the bank.
type gapStats struct {
	N                        int
	Min, P50, P99, P999, Max time.Duration
	Negative, OverHalfMargin int
}

func benchDrain(ctx context.Context, s settings, r *report) error {
	for _, dc := range s.drainCases {
		var walls []time.Duration
		var rates, arrivalRates, baselines []float64
		var gaps []time.Duration
		dp := drainPoint{drainCase: dc}
		for run := 0; run < s.runs; run++ {
			c, err := cluster(ctx, s, fmt.Sprintf("drain-q%d-w%d-%d", dc.Q, dc.Workers, run), systest.Options{
				Workers: 0, MaxRPS: dc.Q, Concurrency: 50, Schedule: "30s", PollInterval: "100ms"})
			if err != nil {
				return err
			}
			res, err := drainRun(ctx, s, c, dc, run)
			c.Close()
			if err != nil {
				return err
			}
			walls = append(walls, res.wall)
			rates = append(rates, res.rate)
			arrivalRates = append(arrivalRates, res.arrivalRate)
			baselines = append(baselines, res.baseline)
			gaps = append(gaps, res.gaps...)
			dp.Violations.PerReference += res.stats.Violations.PerReference
			dp.Violations.Global += res.stats.Violations.Global
			dp.Violations.Token += res.stats.Violations.Token
			dp.MaxGlobal1s = max(dp.MaxGlobal1s, res.stats.MaxGlobalIn1s)
			if run == 0 {
				dp.PerSecond = res.perSecond
			}
		}
		dp.Wall = medianDur(walls)
		dp.ChecksPerSec = median(rates)
		dp.ArrivalRate = median(arrivalRates)
		dp.ShareOfQ = dp.ArrivalRate / float64(dc.Q)
		dp.Baseline = median(baselines)
		dp.Gap = summarizeGaps(gaps)
		r.drain = append(r.drain, dp)
	}
	return nil
}

type drainResult struct {
	wall                        time.Duration
	rate, arrivalRate, baseline float64
	stats                       banksandbox.Stats
	gaps                        []time.Duration
	perSecond                   []int
}

func drainRun(ctx context.Context, s settings, c *systest.Cluster, dc drainCase, run int) (drainResult, error) {
	var res drainResult
	// The baseline first, on the same Redis and Postgres, before anything
	// else loads them: the limiter alone (no HTTP, no queue), as many callers
	// as the workers have, draining the same number of sends at the same Q.
	progress(fmt.Sprintf("drain: limiter-only baseline, Q=%d, %d caller(s) of 50, run %d", dc.Q, dc.Workers, run+1))
	b, err := limiterBaseline(ctx, c, dc)
	if err != nil {
		return res, fmt.Errorf("limiter baseline: %w", err)
	}
	res.baseline = b
	// A fresh window: the baseline's slots must not be counted against the drain.
	time.Sleep(2 * time.Second)

	date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	bodies := make([]client.CreateTransaction, dc.N)
	payments := make([]banksandbox.Payment, dc.N)
	for i := range bodies {
		bodies[i], payments[i] = systest.Payment(fmt.Sprintf("D%d-%d", dc.Q, dc.Workers), int(seq.Add(1)), date)
	}
	for i := 0; i < len(payments); i += 2000 {
		if err := c.AddPayments(ctx, payments[i:min(i+2000, len(payments))]); err != nil {
			return res, err
		}
	}
	progress(fmt.Sprintf("drain: creating %d transactions (workers stopped), run %d, Q=%d, %d worker(s)", dc.N, run+1, dc.Q, dc.Workers))
	if _, err := c.CreateAll(ctx, bodies, 32); err != nil {
		return res, err
	}
	start := time.Now()
	for i := 0; i < dc.Workers; i++ {
		if err := c.AddWorker(); err != nil {
			return res, err
		}
	}
	for {
		counts, err := c.Counts(ctx)
		if err != nil {
			return res, err
		}
		bar(fmt.Sprintf("drain Q=%d w=%d run %d", dc.Q, dc.Workers, run+1), counts["COMPLETED"], dc.N)
		if counts["COMPLETED"] >= dc.N {
			break
		}
		if time.Since(start) > 20*time.Minute {
			return res, fmt.Errorf("drain did not finish in 20 minutes: %v", counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.wall = time.Since(start)
	st, err := c.Stats(ctx)
	if err != nil {
		return res, err
	}
	res.stats = st
	res.rate = float64(st.Checks) / res.wall.Seconds()
	arrivals, err := c.Arrivals(ctx)
	if err != nil {
		return res, err
	}
	if len(arrivals) > 1 { // the sandbox's log is in arrival order
		res.arrivalRate = float64(len(arrivals)-1) / arrivals[len(arrivals)-1].At.Sub(arrivals[0].At).Seconds()
		res.perSecond = perSecond(arrivals)
	}
	res.gaps, err = slotGaps(ctx, c, arrivals)
	return res, err
}

// limiterBaseline drains 20 s worth of slots (at most dc.N) through
// dc.Workers limiters of 50 callers each (what the worker processes run), on
// the cluster's Redis and Postgres, and returns sends per second counted at
// the gate.
func limiterBaseline(ctx context.Context, c *systest.Cluster, dc drainCase) (float64, error) {
	n := int64(min(dc.N, 20*dc.Q))
	rdb := c.Redis.Client()
	defer rdb.Close()
	var mu sync.Mutex
	var sends []time.Time
	record := func(si verify.SendInfo) {
		mu.Lock()
		sends = append(sends, si.At)
		mu.Unlock()
	}
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < dc.Workers; w++ {
		l := verify.NewLimiter(rdb, c.DB, dc.Q, 2, nil).OnSend(record)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= n; i = next.Add(1) {
					key := fmt.Sprintf("baseline:%d", i)
					g, err := l.Acquire(ctx, key)
					for err == nil && !g.Granted() {
						time.Sleep(g.Wait)
						g, err = l.Acquire(ctx, key)
					}
					if err == nil {
						err = g.Gate(ctx)
					}
					if err != nil {
						firstErr.CompareAndSwap(nil, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	slices.SortFunc(sends, func(a, b time.Time) int { return a.Compare(b) })
	if len(sends) < 2 {
		return 0, fmt.Errorf("%d sends", len(sends))
	}
	return float64(len(sends)-1) / sends[len(sends)-1].Sub(sends[0]).Seconds(), nil
}

// slotGaps pairs each arrival at the bank with the slot its check was booked
// (the check event's slot_at), by reference: in the drain each reference is
// checked once. Both clocks are this machine's.
func slotGaps(ctx context.Context, c *systest.Cluster, arrivals []banksandbox.Arrival) ([]time.Duration, error) {
	var rows []struct {
		Reference string `db:"reference"`
		SlotAt    string `db:"slot_at"`
	}
	err := c.DB.SelectContext(ctx, &rows, `SELECT t.reference, e.metadata->>'slot_at' AS slot_at
		FROM transaction_events e JOIN transactions t ON t.id = e.transaction_id
		WHERE e.metadata ? 'slot_at'`)
	if err != nil {
		return nil, fmt.Errorf("slot times: %w", err)
	}
	slot := map[string]time.Time{}
	for _, r := range rows {
		at, err := time.Parse(time.RFC3339Nano, r.SlotAt)
		if err != nil || at.IsZero() {
			continue
		}
		slot[tail6(r.Reference)] = at
	}
	seen := map[string]int{}
	for _, a := range arrivals {
		seen[a.Reference]++
	}
	var gaps []time.Duration
	for _, a := range arrivals {
		if at, ok := slot[a.Reference]; ok && seen[a.Reference] == 1 {
			gaps = append(gaps, a.At.Sub(at))
		}
	}
	return gaps, nil
}

// perSecond counts arrivals (in arrival order) in each second from the first.
func perSecond(arrivals []banksandbox.Arrival) []int {
	var out []int
	for _, a := range arrivals {
		i := int(a.At.Sub(arrivals[0].At) / time.Second)
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return out
}

func summarizeGaps(gaps []time.Duration) gapStats {
	g := gapStats{N: len(gaps)}
	if len(gaps) == 0 {
		return g
	}
	slices.Sort(gaps)
	g.Min, g.Max = gaps[0], gaps[len(gaps)-1]
	g.P50, g.P99, g.P999 = pct(gaps, 0.50), pct(gaps, 0.99), pct(gaps, 0.999)
	for _, d := range gaps {
		if d < 0 {
			g.Negative++
		}
		if d > verify.DefaultMargin/2 {
			g.OverHalfMargin++
		}
	}
	return g
}

func tail6(ref string) string {
	if len(ref) > 6 {
		return ref[len(ref)-6:]
	}
	return ref
}
