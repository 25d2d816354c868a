package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/webhooktest"
)

// webhookResult is scenario 6 (medians over runs).
type webhookResult struct {
	Transactions, Endpoints int
	// Status change → receiver's 2xx, with one worker at the default poll
	// settings and transactions completing as the bank confirms them.
	P50, P99, Max time.Duration
	// Deliveries one worker sends per second to a local receiver, from a
	// backlog (the changes made with the worker stopped).
	Backlog   int
	PerSec    float64
	DrainWall time.Duration
	// The bank-check drain with and without 3 endpoints receiving every
	// completion: checks/s each, and the slowdown.
	DrainN                 int
	ChecksPlain, ChecksHks float64
	// Each run's pair, in run order (the medians above hide the spread).
	PlainRuns, HooksRuns []float64
}

var webhookEnv = []string{"WEBHOOK_ALLOW_HTTP=true", "WEBHOOK_ALLOW_PRIVATE=true"} // the receiver is on 127.0.0.1

// registerReceivers registers n endpoints for one receiver and deploys their
// secrets there.
func registerReceivers(ctx context.Context, c *systest.Cluster, rcv *webhooktest.Receiver, n int) error {
	var secrets []string
	for i := 0; i < n; i++ {
		code, body, err := c.Do(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": fmt.Sprintf("%s?endpoint=%d", rcv.URL, i)})
		var ep struct{ Secret string }
		if err != nil || code != http.StatusCreated || json.Unmarshal(body, &ep) != nil {
			return fmt.Errorf("register endpoint: %d %s %v", code, body, err)
		}
		secrets = append(secrets, ep.Secret)
	}
	rcv.SetSecrets(secrets...)
	return nil
}

func benchWebhooks(ctx context.Context, s settings, r *report) error {
	res := &r.webhooks
	res.Transactions, res.Endpoints, res.DrainN = s.webhookN, 3, s.webhookDrainN
	var p50s, p99s, maxs []time.Duration
	var rates []float64
	var walls []time.Duration
	var plain, hooks []float64
	for run := 0; run < s.runs; run++ {
		// (a) latency: transactions created at a steady pace, completed by one
		// worker, each completion delivered to 3 endpoints.
		rcv, err := webhooktest.Serve()
		if err != nil {
			return err
		}
		c, err := cluster(ctx, s, fmt.Sprintf("webhooks-latency-%d", run), systest.Options{
			Workers: 1, MaxRPS: 200, PerTxPerMin: 60, Schedule: "1s", ExtraEnv: webhookEnv})
		if err != nil {
			rcv.Close()
			return err
		}
		if err := registerReceivers(ctx, c, rcv, res.Endpoints); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
		bodies := make([]client.CreateTransaction, s.webhookN)
		payments := make([]banksandbox.Payment, s.webhookN)
		for i := range bodies {
			bodies[i], payments[i] = systest.Payment("W", int(seq.Add(1)), date)
		}
		if err := c.AddPayments(ctx, payments); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		progress(fmt.Sprintf("webhooks: %d transactions completing, 3 endpoints, run %d", s.webhookN, run+1))
		if _, err := c.CreateAll(ctx, bodies, 4, 40*time.Millisecond); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		want := s.webhookN * res.Endpoints
		if err := waitDelivered(ctx, c, want); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		var lat []float64
		if err := c.DB.SelectContext(ctx, &lat, `SELECT EXTRACT(EPOCH FROM d.delivered_at - e.created_at)::float8
			FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id WHERE d.status = 'succeeded'`); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		ds := make([]time.Duration, len(lat))
		for i, v := range lat {
			ds[i] = time.Duration(v * float64(time.Second))
		}
		p50s, p99s, maxs = append(p50s, pct(ds, .5)), append(p99s, pct(ds, .99)), append(maxs, pct(ds, 1))
		c.Close()
		rcv.Close()

		// (b) throughput: a backlog of deliveries, one worker started on it.
		rcv, err = webhooktest.Serve()
		if err != nil {
			return err
		}
		c, err = cluster(ctx, s, fmt.Sprintf("webhooks-backlog-%d", run), systest.Options{Workers: 0, ExtraEnv: webhookEnv})
		if err != nil {
			rcv.Close()
			return err
		}
		if err := registerReceivers(ctx, c, rcv, res.Endpoints); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		n := s.webhookN
		progress(fmt.Sprintf("webhooks: a backlog of %d deliveries (cancellations with the worker stopped), run %d", n*res.Endpoints, run+1))
		if err := cancelMany(ctx, c, n); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		res.Backlog = n * res.Endpoints
		start := time.Now()
		if err := c.AddWorker(); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		if err := waitDelivered(ctx, c, res.Backlog); err != nil {
			c.Close()
			rcv.Close()
			return err
		}
		wall := time.Since(start)
		walls, rates = append(walls, wall), append(rates, float64(res.Backlog)/wall.Seconds())
		c.Close()
		rcv.Close()

		// (c) the bank-check drain, without and with webhooks.
		for _, withHooks := range []bool{false, true} {
			rate, err := drainOnce(ctx, s, run, withHooks)
			if err != nil {
				return err
			}
			if withHooks {
				hooks = append(hooks, rate)
			} else {
				plain = append(plain, rate)
			}
		}
	}
	res.P50, res.P99, res.Max = medianDur(p50s), medianDur(p99s), medianDur(maxs)
	res.PerSec, res.DrainWall = median(rates), medianDur(walls)
	res.ChecksPlain, res.ChecksHks = median(plain), median(hooks)
	res.PlainRuns, res.HooksRuns = plain, hooks
	return nil
}

// cancelMany creates n transactions and cancels each (PATCH), so each leaves
// one transaction.canceled event.
func cancelMany(ctx context.Context, c *systest.Cluster, n int) error {
	date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	bodies := make([]client.CreateTransaction, n)
	for i := range bodies {
		bodies[i], _ = systest.Payment("WB", int(seq.Add(1)), date)
	}
	if _, err := c.CreateAll(ctx, bodies, 16); err != nil {
		return err
	}
	sem := make(chan struct{}, 16)
	errc := make(chan error, n)
	for _, b := range bodies {
		sem <- struct{}{}
		go func(id string) {
			defer func() { <-sem }()
			code, body, err := c.Do(ctx, http.MethodPatch, "/api/v1/transactions/"+id, map[string]string{"status": "CANCELED", "reason": "bench"})
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("cancel %s: %d %s", id, code, body)
			}
			errc <- err
		}(b.TransactionID)
	}
	for range bodies {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// waitDelivered waits until want deliveries succeeded.
func waitDelivered(ctx context.Context, c *systest.Cluster, want int) error {
	start := time.Now()
	for {
		var done int
		if err := c.DB.GetContext(ctx, &done, `SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'`); err != nil {
			return err
		}
		bar("deliveries", done, want)
		if done >= want {
			return nil
		}
		if time.Since(start) > 10*time.Minute {
			return fmt.Errorf("only %d of %d deliveries succeeded in 10 minutes", done, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// drainOnce is scenario 2's drain with one worker, with or without 3 endpoints
// receiving every completion; it returns checks/s.
func drainOnce(ctx context.Context, s settings, run int, withHooks bool) (float64, error) {
	name := fmt.Sprintf("webhooks-drain-%t-%d", withHooks, run)
	c, err := cluster(ctx, s, name, systest.Options{Workers: 0, MaxRPS: s.drainQ, Concurrency: 50, Schedule: "30s",
		PollInterval: "100ms", ExtraEnv: webhookEnv})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if withHooks {
		rcv, err := webhooktest.Serve()
		if err != nil {
			return 0, err
		}
		defer rcv.Close()
		if err := registerReceivers(ctx, c, rcv, 3); err != nil {
			return 0, err
		}
	}
	date := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	bodies := make([]client.CreateTransaction, s.webhookDrainN)
	payments := make([]banksandbox.Payment, s.webhookDrainN)
	for i := range bodies {
		bodies[i], payments[i] = systest.Payment("WD", int(seq.Add(1)), date)
	}
	if err := c.AddPayments(ctx, payments); err != nil {
		return 0, err
	}
	progress(fmt.Sprintf("webhooks: drain of %d checks, webhooks=%t, run %d", s.webhookDrainN, withHooks, run+1))
	if _, err := c.CreateAll(ctx, bodies, 32); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := c.AddWorker(); err != nil {
		return 0, err
	}
	for {
		counts, err := c.Counts(ctx)
		if err != nil {
			return 0, err
		}
		bar(name, counts["COMPLETED"], s.webhookDrainN)
		if counts["COMPLETED"] >= s.webhookDrainN {
			break
		}
		if time.Since(start) > 20*time.Minute {
			return 0, fmt.Errorf("drain did not finish: %v", counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wall := time.Since(start)
	st, err := c.Stats(ctx)
	if err != nil {
		return 0, err
	}
	return float64(st.Checks) / wall.Seconds(), nil
}
