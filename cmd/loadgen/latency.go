package main

import (
	"context"
	"fmt"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// latencyPoint is scenario 3 at one poll interval (medians over runs).
type latencyPoint struct {
	Poll               string
	FirstP50, FirstP99 time.Duration // create (commit) → first check's arrival at the sandbox
	FinalP50, FinalP99 time.Duration // create → COMPLETED
}

func benchLatency(ctx context.Context, s settings, r *report) error {
	for _, poll := range []string{"1s", "100ms"} {
		var f50, f99, c50, c99 []time.Duration
		for run := 0; run < s.runs; run++ {
			c, err := cluster(ctx, s, fmt.Sprintf("latency-%s-%d", poll, run), systest.Options{
				Workers: 1, MaxRPS: 200, PollInterval: poll})
			if err != nil {
				return err
			}
			date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
			for i := 0; i < s.latencyN; i++ {
				body, p := systest.Payment("L", int(seq.Add(1)), date)
				if err := c.AddPayments(ctx, []banksandbox.Payment{p}); err != nil {
					c.Close()
					return err
				}
				if _, err := c.Client.CreateTransaction(ctx, body); err != nil {
					c.Close()
					return fmt.Errorf("create: %w", err)
				}
				bar(fmt.Sprintf("latency poll=%s run %d", poll, run+1), i+1, s.latencyN)
				time.Sleep(100 * time.Millisecond) // idle queues: one at a time
			}
			if _, err := c.WaitAll(ctx, s.latencyN); err != nil {
				c.Close()
				return err
			}
			// First arrival from the sandbox's own log (its clock, when the
			// request reached the bank), not from our records, which are
			// written after the answer; COMPLETED from the status change's
			// commit. Both against the transaction's creation.
			var rows []struct {
				Reference string    `db:"reference"`
				Created   time.Time `db:"created_at"`
				Final     float64   `db:"final"`
			}
			err = c.DB.SelectContext(ctx, &rows, `SELECT t.reference, t.created_at,
				EXTRACT(EPOCH FROM (SELECT min(e.created_at) FROM transaction_events e WHERE e.transaction_id = t.id AND e.new_status = 'COMPLETED') - t.created_at)::float8 AS final
				FROM transactions t`)
			var arrivals []banksandbox.Arrival
			if err == nil {
				arrivals, err = c.Arrivals(ctx)
			}
			c.Close()
			if err != nil {
				return err
			}
			firstAt := map[string]time.Time{}
			for _, a := range arrivals {
				if _, ok := firstAt[a.Reference]; !ok {
					firstAt[a.Reference] = a.At
				}
			}
			var first, final []time.Duration
			for _, row := range rows {
				at, ok := firstAt[row.Reference[len(row.Reference)-6:]] // pago móvil is asked by its last 6 digits
				if !ok {
					return fmt.Errorf("latency: the bank never saw %s", row.Reference)
				}
				first = append(first, at.Sub(row.Created))
				final = append(final, time.Duration(row.Final*float64(time.Second)))
			}
			f50, f99 = append(f50, pct(first, .5)), append(f99, pct(first, .99))
			c50, c99 = append(c50, pct(final, .5)), append(c99, pct(final, .99))
		}
		r.latency = append(r.latency, latencyPoint{Poll: poll, FirstP50: medianDur(f50), FirstP99: medianDur(f99), FinalP50: medianDur(c50), FinalP99: medianDur(c99)})
	}
	return nil
}
