// Package verify is the worker side of the pipeline: the task handler that asks
// the bank about a transaction under the bank's limits, the Redis-backed limiter
// shared by every replica, the Asynq scheduler that the API and the handler use to
// (re)schedule checks, and the sweeper that re-enqueues transactions whose task
// was lost.
package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/jmoiron/sqlx"
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

// Limiter enforces both bank limits for every worker replica: at most
// PerMinute checks per reference per minute, in Postgres, and MaxRPS checks per
// second overall, in Redis with GCRA (go-redis/redis_rate).
//
// The per-reference limit is not kept in Redis: its state would go with a
// FLUSHALL or a restart, and the next checks of every reference would go out
// at once, breaking a rule the bank enforces per reference for a whole
// minute. Postgres already holds everything the pipeline must not lose; the
// send is recorded there before the request goes out (bank_reference_sends),
// on one clock for all replicas. It costs one or two indexed statements per
// check. The global limit stays in Redis: losing it costs at most one extra
// grant per wipe, and it is asked hundreds of times per second.
type Limiter struct {
	rl       *redis_rate.Limiter
	db       *sqlx.DB
	spacing  time.Duration
	global   redis_rate.Limit
	onDenied func(limit string)
	sleep    func(ctx context.Context, d time.Duration) error
	grants   atomic.Uint64
}

// NewLimiter builds the limiter; onDenied (may be nil) is called per denial.
func NewLimiter(rdb redis.UniversalClient, db *sqlx.DB, maxRPS, perMinute int, onDenied func(limit string)) *Limiter {
	if onDenied == nil {
		onDenied = func(string) {}
	}
	return &Limiter{
		rl: redis_rate.NewLimiter(rdb),
		db: db,
		// One send per Spacing: with a burst of two the bank would see three
		// checks within 60 s (0, 0, +30 s), exactly what it forbids.
		spacing:  Spacing(perMinute),
		global:   redis_rate.Limit{Rate: maxRPS, Burst: 1, Period: globalWindow},
		onDenied: onDenied,
		sleep:    sleepCtx,
	}
}

// Spacing is the minimum time between two checks of one reference when the bank
// allows perMinute of them per minute (queue.Spacing: the API needs it too).
func Spacing(perMinute int) time.Duration { return queue.Spacing(perMinute) }

// PerTransactionSpacing is the minimum time between two checks of one reference.
func (l *Limiter) PerTransactionSpacing() time.Duration { return l.spacing }

// Acquire asks for one bank call for the reference key. It returns 0 when the
// call may go now (the send is then recorded), or how long to wait and which
// limit said so. The reference is looked at first, so a check that must wait
// for its reference takes no global slot; then the global slot is taken, then
// the reference's, atomically. Only two checks of one reference racing each
// other can waste a global slot (a few milliseconds of capacity). Short global
// waits are slept here rather than sent back through the queue, which would
// cost Redis round trips and at least one poll interval.
func (l *Limiter) Acquire(ctx context.Context, key string) (wait time.Duration, limit string, err error) {
	if wait, err := l.referenceWait(ctx, key); err != nil || wait > 0 {
		if wait > 0 {
			l.onDenied(LimitPerTransaction)
		}
		return wait, LimitPerTransaction, err
	}
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
	wait, err = l.reserve(ctx, key)
	if err != nil || wait > 0 {
		if wait > 0 {
			l.onDenied(LimitPerTransaction)
		}
		return wait, LimitPerTransaction, err
	}
	if l.grants.Add(1)%pruneEvery == 0 {
		l.prune(ctx)
	}
	return 0, "", nil
}

const (
	pruneEvery = 1024             // grants between two prunes of bank_reference_sends
	pruneAfter = 10 * time.Minute // a send older than this limits nothing
	pruneBatch = 10_000
)

// referenceWait is how long until key may be sent again (0: now).
func (l *Limiter) referenceWait(ctx context.Context, key string) (time.Duration, error) {
	var secs float64
	err := l.db.GetContext(ctx, &secs, `SELECT EXTRACT(EPOCH FROM sent_at + $2::float8 * interval '1 second' - clock_timestamp())::float8
		FROM bank_reference_sends WHERE limit_key = $1`, key, l.spacing.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("per-transaction bank limit: %w", err)
	}
	return positive(secs), nil
}

// reserve records a send of key now if the spacing has passed since the last
// one, in one statement (the row lock orders concurrent reservations); if not,
// it returns the wait. A reservation that lost a race to a concurrent first
// send of the same key sees no row in its snapshot and waits a full spacing.
func (l *Limiter) reserve(ctx context.Context, key string) (time.Duration, error) {
	var secs float64
	err := l.db.GetContext(ctx, &secs, `WITH up AS (
			INSERT INTO bank_reference_sends AS s (limit_key, sent_at) VALUES ($1, clock_timestamp())
			ON CONFLICT (limit_key) DO UPDATE SET sent_at = EXCLUDED.sent_at
				WHERE s.sent_at <= EXCLUDED.sent_at - $2::float8 * interval '1 second'
			RETURNING -1::float8 AS wait)
		SELECT wait FROM up
		UNION ALL
		SELECT EXTRACT(EPOCH FROM sent_at + $2::float8 * interval '1 second' - clock_timestamp())::float8
			FROM bank_reference_sends WHERE limit_key = $1 AND NOT EXISTS (SELECT 1 FROM up)`, key, l.spacing.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		return l.spacing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("per-transaction bank limit: %w", err)
	}
	if secs == -1 { // the row was written: granted
		return 0, nil
	}
	return max(positive(secs), time.Millisecond), nil
}

// prune deletes sends too old to limit anything, a bounded batch at a time;
// a failure only leaves rows for the next prune.
func (l *Limiter) prune(ctx context.Context) {
	_, _ = l.db.ExecContext(ctx, `DELETE FROM bank_reference_sends WHERE limit_key IN (
		SELECT limit_key FROM bank_reference_sends WHERE sent_at < clock_timestamp() - $1::float8 * interval '1 second' LIMIT $2)`,
		pruneAfter.Seconds(), pruneBatch)
}

// positive converts seconds to a duration, 0 when not positive.
func positive(secs float64) time.Duration {
	if secs <= 0 {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
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
