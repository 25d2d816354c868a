// Package verify is the worker side of the pipeline: the task handler that asks
// the bank about a transaction under the bank's limits, the Redis-backed limiter
// shared by every replica, the Asynq scheduler that the API and the handler use to
// (re)schedule checks, and the sweeper that re-enqueues transactions whose task
// was lost.
package verify

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/queue"
)

// Limit names, as used in metrics and wait reasons.
const (
	LimitPerTransaction = "per_transaction"
	LimitGlobal         = "global"
)

// Safety margins. The bank measures at arrival over sliding windows while we
// decide a few milliseconds earlier; GCRA with a burst of 1 spaces grants evenly,
// so spacing them slightly wider than the window allows keeps every window within
// the limit despite that jitter (docs/bank.md, Our own limits).
const (
	globalWindow     = 1250 * time.Millisecond // N grants per 1.25s tolerates 250ms of jitter (a new TLS connection, a GC pause)
	maxInProcessWait = 2 * time.Second         // short global waits are slept, not requeued
)

// Limiter enforces both bank limits in Redis with GCRA (go-redis/redis_rate), so
// every worker replica shares them: at most PerMinute checks per reference per
// minute and MaxRPS checks per second overall.
type Limiter struct {
	rl       *redis_rate.Limiter
	perTx    redis_rate.Limit
	global   redis_rate.Limit
	onDenied func(limit string)
	sleep    func(ctx context.Context, d time.Duration) error
}

// NewLimiter builds the limiter; onDenied (may be nil) is called per denial.
func NewLimiter(rdb redis.UniversalClient, maxRPS, perMinute int, onDenied func(limit string)) *Limiter {
	if onDenied == nil {
		onDenied = func(string) {}
	}
	return &Limiter{
		rl: redis_rate.NewLimiter(rdb),
		// Burst 1: redis_rate.PerMinute(2) has burst 2 and would allow three
		// checks within 60 s (0, 0, +30 s) — exactly what the bank forbids.
		perTx:    redis_rate.Limit{Rate: 1, Burst: 1, Period: Spacing(perMinute)},
		global:   redis_rate.Limit{Rate: maxRPS, Burst: 1, Period: globalWindow},
		onDenied: onDenied,
		sleep:    sleepCtx,
	}
}

// Spacing is the minimum time between two checks of one reference when the bank
// allows perMinute of them per minute (queue.Spacing: the API needs it too).
func Spacing(perMinute int) time.Duration { return queue.Spacing(perMinute) }

// PerTransactionSpacing is the minimum time between two checks of one reference.
func (l *Limiter) PerTransactionSpacing() time.Duration {
	return l.perTx.Period / time.Duration(l.perTx.Rate)
}

// Acquire asks for one bank call for the reference key. It returns 0 when the call
// may go now, or how long to wait and which limit said so. The global limit is
// asked first: a wasted global slot costs a few milliseconds of capacity, while a
// wasted per-reference slot would delay that transaction by half a minute. Short
// global waits are slept here rather than sent back through the queue, which
// would cost Redis round trips and at least one poll interval.
func (l *Limiter) Acquire(ctx context.Context, key string) (wait time.Duration, limit string, err error) {
	deadline := time.Now().Add(maxInProcessWait)
	for {
		res, err := l.rl.Allow(ctx, "bank:global", l.global)
		if err != nil {
			return 0, "", fmt.Errorf("global bank limit: %w", err)
		}
		if res.Allowed > 0 {
			break
		}
		l.onDenied(LimitGlobal)
		if time.Now().Add(res.RetryAfter).After(deadline) {
			return res.RetryAfter, LimitGlobal, nil
		}
		if err := l.sleep(ctx, res.RetryAfter); err != nil {
			return 0, "", err
		}
	}
	res, err := l.rl.Allow(ctx, "bank:ref:"+key, l.perTx)
	if err != nil {
		return 0, "", fmt.Errorf("per-transaction bank limit: %w", err)
	}
	if res.Allowed == 0 {
		l.onDenied(LimitPerTransaction)
		return res.RetryAfter, LimitPerTransaction, nil
	}
	return 0, "", nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
