package systest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// CreateAll creates the bodies through the API with `workers` concurrent
// clients, retrying 429/5xx and connection errors (the API answers 503 while
// Postgres or Redis is down) until ctx ends. Each client waits `pace` between
// creates (0: as fast as possible), so a fault can land in the middle of the
// load. It returns how many 503s it saw.
func (c *Cluster) CreateAll(ctx context.Context, bodies []client.CreateTransaction, workers int, pace ...time.Duration) (unavailable int64, err error) {
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				if len(pace) > 0 && pace[0] > 0 {
					time.Sleep(pace[0])
				}
				for backoff := 100 * time.Millisecond; ; backoff = min(backoff*2, 2*time.Second) {
					_, err := c.Client.CreateTransaction(ctx, bodies[i])
					if err == nil {
						break
					}
					var apiErr *client.APIError
					isAPI := errors.As(err, &apiErr)
					if isAPI && apiErr.StatusCode == http.StatusServiceUnavailable {
						atomic.AddInt64(&unavailable, 1)
					}
					if isAPI && apiErr.StatusCode < 500 && apiErr.StatusCode != http.StatusTooManyRequests {
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("create %s: %w", bodies[i].TransactionID, err)
						}
						mu.Unlock()
						break
					}
					select {
					case <-ctx.Done():
						mu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("create %s: %w (last %v)", bodies[i].TransactionID, ctx.Err(), err)
						}
						mu.Unlock()
						return
					case <-time.After(backoff):
					}
				}
			}
		}()
	}
	wg.Wait()
	return unavailable, firstErr
}

// Counts maps status to the number of live transactions in it.
func (c *Cluster) Counts(ctx context.Context) (map[string]int, error) {
	rows := []struct {
		Status string `db:"status"`
		N      int    `db:"n"`
	}{}
	if err := c.DB.SelectContext(ctx, &rows, `SELECT status, count(*) AS n FROM transactions WHERE deleted_at IS NULL GROUP BY status`); err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// WaitAll waits until `want` transactions are COMPLETED, or ctx ends.
func (c *Cluster) WaitAll(ctx context.Context, want int) (map[string]int, error) {
	return c.wait(ctx, want, false)
}

// WaitSettled waits until `want` transactions are COMPLETED and none is
// IN_PROGRESS any more, or ctx ends.
func (c *Cluster) WaitSettled(ctx context.Context, want int) (map[string]int, error) {
	return c.wait(ctx, want, true)
}

func (c *Cluster) wait(ctx context.Context, want int, settled bool) (map[string]int, error) {
	for {
		counts, err := c.Counts(ctx)
		if err == nil && counts["COMPLETED"] >= want && (!settled || counts["IN_PROGRESS"] == 0) {
			return counts, nil
		}
		select {
		case <-ctx.Done():
			return counts, fmt.Errorf("waiting for %d COMPLETED: %w (have %v, last error %v)", want, ctx.Err(), counts, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Report is what a fault scenario asserts at the end.
type Report struct {
	Counts               map[string]int
	DuplicateTransitions int // status transitions recorded more than once
	InProgressNoTask     int // IN_PROGRESS transactions without a live task
	// MovementsConfirmedTwice counts bank movements that confirmed more than one
	// COMPLETED transaction, read from the stored bank rows (not from the claims
	// table, so it checks the rule rather than its mechanism).
	MovementsConfirmedTwice int
	Sandbox                 banksandbox.Stats
}

// Inspect gathers the invariants: duplicate transitions, orphan IN_PROGRESS rows,
// and the sandbox's counters.
func (c *Cluster) Inspect(ctx context.Context) (Report, error) {
	var r Report
	var err error
	if r.Counts, err = c.Counts(ctx); err != nil {
		return r, err
	}
	if err := c.DB.GetContext(ctx, &r.DuplicateTransitions, `SELECT count(*) FROM (
		SELECT transaction_id, old_status, new_status FROM transaction_events
		WHERE old_status IS DISTINCT FROM new_status GROUP BY 1, 2, 3 HAVING count(*) > 1) d`); err != nil {
		return r, err
	}
	// Every IN_PROGRESS transaction has the task Postgres names (task_seq) live.
	var refs []transaction.TaskRef
	if err := c.DB.SelectContext(ctx, &refs, `SELECT id, task_seq FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL`); err != nil {
		return r, err
	}
	rdb := c.RedisTop.Client()
	defer rdb.Close()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, ref := range refs {
		info, err := queue.FindTask(insp, ref)
		if err != nil {
			return r, err
		}
		if info == nil || info.State == asynq.TaskStateArchived {
			r.InProgressNoTask++
		}
	}
	if r.MovementsConfirmedTwice, err = MovementsConfirmedTwice(ctx, c.DB); err != nil {
		return r, err
	}
	r.Sandbox, err = c.Stats(ctx)
	return r, err
}

// MovementsConfirmedTwice reads the bank row of every COMPLETED transaction
// (deleted ones too: a delete does not un-spend a payment), identifies its
// movement as the bank client does, and counts movements behind more than one.
func MovementsConfirmedTwice(ctx context.Context, db *sqlx.DB) (int, error) {
	var payloads []json.RawMessage
	if err := db.SelectContext(ctx, &payloads, `SELECT bank_payload FROM transactions WHERE status = 'COMPLETED' AND bank_payload IS NOT NULL`); err != nil {
		return 0, err
	}
	seen := map[banesco.Movement]int{}
	twice := 0
	for _, p := range payloads {
		m, ok := banesco.MovementOf(p)
		if !ok {
			continue
		}
		if seen[m]++; seen[m] == 2 {
			twice++
		}
	}
	return twice, nil
}

// String summarises a report for test logs and the closing note.
func (r Report) String() string {
	b, _ := json.Marshal(map[string]any{"counts": r.Counts, "duplicate_transitions": r.DuplicateTransitions,
		"in_progress_without_task": r.InProgressNoTask, "movements_confirmed_twice": r.MovementsConfirmedTwice,
		"bank_checks": r.Sandbox.Checks,
		"violations":  r.Sandbox.Violations, "token_requests": r.Sandbox.TokenRequests,
		"max_per_reference_in_60s": r.Sandbox.MaxPerReferenceIn60s, "max_global_in_1s": r.Sandbox.MaxGlobalIn1s,
		"replies_by_code": r.Sandbox.RepliesByCode})
	return string(b)
}
