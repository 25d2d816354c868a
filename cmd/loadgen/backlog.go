package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// backlogResult is scenario 7: a backlog far larger than the quota, with
// checks asked for (POST …/verify) in the middle of it.
type backlogResult struct {
	N, OnDemand, Q, Workers int
	Wall                    time.Duration // workers start → last COMPLETED
	ArrivalRate             float64       // at the bank, first to last arrival
	Routine                 latStats      // arrival − due (the transaction's creation)
	Asked                   latStats      // arrival − the POST …/verify
	// Overtaken counts routine checks that reached the bank after one due
	// more than 1 s later (asynq moves due tasks every second, and several
	// workers interleave); MaxOvertake is the largest such difference.
	Overtaken   int
	MaxOvertake time.Duration
	Unchecked   int // transactions the bank never saw: starved
	Violations  banksandbox.Violations
}

type latStats struct {
	N             int
	P50, P99, Max time.Duration
}

func summarizeLat(ds []time.Duration) latStats {
	l := latStats{N: len(ds)}
	if len(ds) == 0 {
		return l
	}
	slices.Sort(ds)
	l.P50, l.P99, l.Max = pct(ds, 0.50), pct(ds, 0.99), ds[len(ds)-1]
	return l
}

// benchBacklog creates N transactions with the workers stopped, so that all
// their first checks are due before any runs, starts the workers, and 20 s
// later asks for a check of the M transactions created last (those a FIFO
// would serve last). Each check's lateness is measured at the bank's arrival
// log: routine ones against their due time, asked-for ones against the
// request.
func benchBacklog(ctx context.Context, s settings, r *report) error {
	const q, workers = 100, 2
	n, m, askAfter := 20_000, 50, 20*time.Second
	if s.quick {
		n, m, askAfter = 1_500, 10, 3*time.Second
	}
	res := backlogResult{N: n, OnDemand: m, Q: q, Workers: workers}
	c, err := cluster(ctx, s, "backlog", systest.Options{Workers: 0, MaxRPS: q, Concurrency: 50, Schedule: "30s", PollInterval: "100ms"})
	if err != nil {
		return err
	}
	defer c.Close()

	date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	bodies := make([]client.CreateTransaction, n)
	payments := make([]banksandbox.Payment, n)
	for i := range bodies {
		bodies[i], payments[i] = systest.Payment("BL", int(seq.Add(1)), date)
	}
	for i := 0; i < n; i += 2000 {
		if err := c.AddPayments(ctx, payments[i:min(i+2000, n)]); err != nil {
			return err
		}
	}
	progress(fmt.Sprintf("backlog: creating %d transactions (workers stopped)", n))
	if _, err := c.CreateAll(ctx, bodies, 32); err != nil {
		return err
	}
	start := time.Now()
	for range workers {
		if err := c.AddWorker(); err != nil {
			return err
		}
	}
	time.Sleep(askAfter)
	asked := map[string]time.Time{} // by the reference's 6-digit tail
	for _, b := range bodies[n-m:] {
		at := time.Now()
		status, body, err := c.Do(ctx, http.MethodPost, "/api/v1/transactions/"+b.TransactionID+"/verify", nil)
		if err != nil {
			return err
		}
		if status != http.StatusAccepted {
			return fmt.Errorf("POST …/verify: %d %s", status, body)
		}
		asked[tail6(b.Reference)] = at
	}
	for {
		counts, err := c.Counts(ctx)
		if err != nil {
			return err
		}
		bar("backlog", counts["COMPLETED"], n)
		if counts["COMPLETED"] >= n {
			break
		}
		if time.Since(start) > 30*time.Minute {
			return fmt.Errorf("backlog did not drain in 30 minutes: %v", counts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.Wall = time.Since(start)

	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	res.Violations = st.Violations
	arrivals, err := c.Arrivals(ctx)
	if err != nil {
		return err
	}
	if len(arrivals) > 1 {
		res.ArrivalRate = float64(len(arrivals)-1) / arrivals[len(arrivals)-1].At.Sub(arrivals[0].At).Seconds()
	}
	var rows []struct {
		Reference string    `db:"reference"`
		CreatedAt time.Time `db:"created_at"`
	}
	if err := c.DB.SelectContext(ctx, &rows, `SELECT reference, created_at FROM transactions`); err != nil {
		return fmt.Errorf("due times: %w", err)
	}
	due := make(map[string]time.Time, len(rows))
	for _, row := range rows {
		due[tail6(row.Reference)] = row.CreatedAt
	}
	first := map[string]time.Time{}
	for _, a := range arrivals { // in arrival order
		if _, ok := first[a.Reference]; !ok {
			first[a.Reference] = a.At
		}
	}
	var routine, onDemand []time.Duration
	var latestDue time.Time
	for _, a := range arrivals {
		if first[a.Reference] != a.At {
			continue
		}
		if at, ok := asked[a.Reference]; ok {
			onDemand = append(onDemand, a.At.Sub(at))
			continue
		}
		d, ok := due[a.Reference]
		if !ok {
			continue
		}
		routine = append(routine, a.At.Sub(d))
		if over := latestDue.Sub(d); over > time.Second {
			res.Overtaken++
			res.MaxOvertake = max(res.MaxOvertake, over)
		}
		if d.After(latestDue) {
			latestDue = d
		}
	}
	for ref := range due {
		if _, ok := first[ref]; !ok {
			res.Unchecked++
		}
	}
	res.Routine, res.Asked = summarizeLat(routine), summarizeLat(onDemand)
	r.backlog = &res
	return nil
}
