package main

import (
	"context"
	"fmt"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// drainPoint is scenario 2 for one worker count (medians over runs).
type drainPoint struct {
	Workers      int
	Wall         time.Duration
	ChecksPerSec float64
	ShareOfQ     float64
	Violations   banksandbox.Violations // summed over runs: must be zero
	MaxGlobal1s  int
}

func benchDrain(ctx context.Context, s settings, r *report) error {
	for _, w := range s.drainW {
		var walls []time.Duration
		var rates []float64
		dp := drainPoint{Workers: w}
		for run := 0; run < s.runs; run++ {
			c, err := cluster(ctx, s, fmt.Sprintf("drain-w%d-%d", w, run), systest.Options{
				Workers: 0, MaxRPS: s.drainQ, Concurrency: 50, Schedule: "30s", PollInterval: "100ms"})
			if err != nil {
				return err
			}
			date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
			bodies := make([]client.CreateTransaction, s.drainN)
			payments := make([]banksandbox.Payment, s.drainN)
			for i := range bodies {
				bodies[i], payments[i] = systest.Payment(fmt.Sprintf("D%d", w), int(seq.Add(1)), date)
			}
			for i := 0; i < len(payments); i += 2000 {
				if err := c.AddPayments(ctx, payments[i:min(i+2000, len(payments))]); err != nil {
					c.Close()
					return err
				}
			}
			progress(fmt.Sprintf("drain: creating %d transactions (workers stopped), run %d, %d worker(s)", s.drainN, run+1, w))
			if _, err := c.CreateAll(ctx, bodies, 32); err != nil {
				c.Close()
				return err
			}
			start := time.Now()
			for i := 0; i < w; i++ {
				if err := c.AddWorker(); err != nil {
					c.Close()
					return err
				}
			}
			for {
				counts, err := c.Counts(ctx)
				if err != nil {
					c.Close()
					return err
				}
				bar(fmt.Sprintf("drain w=%d run %d", w, run+1), counts["COMPLETED"], s.drainN)
				if counts["COMPLETED"] >= s.drainN {
					break
				}
				if time.Since(start) > 20*time.Minute {
					c.Close()
					return fmt.Errorf("drain did not finish in 20 minutes: %v", counts)
				}
				time.Sleep(100 * time.Millisecond)
			}
			wall := time.Since(start)
			st, err := c.Stats(ctx)
			c.Close()
			if err != nil {
				return err
			}
			walls = append(walls, wall)
			rates = append(rates, float64(st.Checks)/wall.Seconds())
			dp.Violations.PerReference += st.Violations.PerReference
			dp.Violations.Global += st.Violations.Global
			dp.Violations.Token += st.Violations.Token
			dp.MaxGlobal1s = max(dp.MaxGlobal1s, st.MaxGlobalIn1s)
		}
		dp.Wall = medianDur(walls)
		dp.ChecksPerSec = median(rates)
		dp.ShareOfQ = dp.ChecksPerSec / float64(s.drainQ)
		r.drain = append(r.drain, dp)
	}
	return nil
}
