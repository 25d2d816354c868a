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
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/queue"
)

// Limit names, as used in metrics and wait reasons.
const (
	LimitPerTransaction = "per_transaction"
	LimitGlobal         = "global"
)

// DefaultMargin is BANESCO_LIMIT_MARGIN's default: how much longer than the
// bank's 1 s our global window is. Half of it is the lateness a send may have
// after its slot (goroutine wake-up, a token from the cache, building the
// request); the other half covers the trip to the bank. Measured here (make
// bench, the grant→arrival gap) the whole gap stays well under it on loopback;
// against the real bank set it from that figure (docs/bank.md).
const DefaultMargin = 40 * time.Millisecond

// maxAhead bounds how far in the future a global slot is booked; a check whose
// slot would be later goes back to the queue instead of holding a worker.
const maxAhead = 2 * time.Second

// Limiter enforces both bank limits for every worker replica: at most
// PerMinute checks per reference per minute, in Postgres, and MaxRPS checks in
// any second overall, in Redis.
//
// The per-reference limit is not kept in Redis: its state would go with a
// FLUSHALL or a restart, and the next checks of every reference would go out
// at once, breaking a rule the bank enforces per reference for a whole
// minute. Postgres already holds everything the pipeline must not lose; the
// send is recorded there before the request goes out (bank_reference_sends),
// on one clock for all replicas. It costs one or two indexed statements per
// check.
//
// The global limit books send slots in Redis, evenly spaced by
// (1 s + margin)/Q (globalScript), instead of asking go-redis/redis_rate,
// which the project used before. redis_rate can only allow or deny now: a
// denied check sleeps for the advice and asks again, and every slot that
// passes while nobody happens to ask is lost (with its fixed 250 ms margin the
// drain reached 71–73 % of Q against an 80 % ceiling). Here a caller learns
// when its slot is and sleeps until then, so a crowd of waiting checks uses
// every slot, in order, without polling Redis; and evenly spaced slots reach
// the bank one at a time, not in bursts that would make the last ones of a
// burst arrive late. Any 1 s at the bank holds at most Q as long as each
// request arrives within the margin after its slot, so the ceiling is
// Q/(1 s + margin), 96 % with the default. No kept library books future slots.
type Limiter struct {
	rdb      redis.UniversalClient
	db       *sqlx.DB
	spacing  time.Duration
	maxRPS   int
	interval time.Duration // between two slots: (1 s + margin) / Q
	window   time.Duration // the bank's 1 s + margin
	lateness time.Duration // how late a send may be after its slot
	onDenied func(limit string)
	onSend   func(SendInfo)
	grants   atomic.Uint64
}

// NewLimiter builds the limiter with DefaultMargin; onDenied (may be nil) is
// called per denial.
func NewLimiter(rdb redis.UniversalClient, db *sqlx.DB, maxRPS, perMinute int, onDenied func(limit string)) *Limiter {
	if onDenied == nil {
		onDenied = func(string) {}
	}
	l := &Limiter{
		rdb: rdb,
		db:  db,
		// One send per Spacing: with a burst of two the bank would see three
		// checks within 60 s (0, 0, +30 s), exactly what it forbids.
		spacing:  Spacing(perMinute),
		maxRPS:   maxRPS,
		onDenied: onDenied,
		onSend:   func(SendInfo) {},
	}
	return l.WithMargin(DefaultMargin)
}

// WithMargin sets BANESCO_LIMIT_MARGIN (see DefaultMargin) and returns l.
func (l *Limiter) WithMargin(m time.Duration) *Limiter {
	l.window = time.Second + m
	l.interval = l.window / time.Duration(l.maxRPS)
	l.lateness = m / 2
	return l
}

// SendInfo describes one check let through the send gate.
type SendInfo struct {
	At       time.Time     // when the gate let it go
	Late     time.Duration // how long after its booked slot
	Rebooked bool          // it missed its first slot and booked another
}

// OnSend registers f (nil: none), called once per check let through the send gate.
func (l *Limiter) OnSend(f func(SendInfo)) *Limiter {
	if f == nil {
		f = func(SendInfo) {}
	}
	l.onSend = f
	return l
}

// Spacing is the minimum time between two checks of one reference when the bank
// allows perMinute of them per minute (queue.Spacing: the API needs it too).
func Spacing(perMinute int) time.Duration { return queue.Spacing(perMinute) }

// PerTransactionSpacing is the minimum time between two checks of one reference.
func (l *Limiter) PerTransactionSpacing() time.Duration { return l.spacing }

// Grant is the limiter's answer to one Acquire. With Wait > 0 nothing was
// granted: ask again after Wait (Limit says which limit). Otherwise a send
// slot is booked in both limits, and Gate must be passed right before the
// request goes out.
type Grant struct {
	Wait  time.Duration
	Limit string

	l   *Limiter
	key string
	// On the local clock the booked slot lies between earliest (asked +
	// delay) and slot (answered + delay): the gate sleeps until the later
	// and measures lateness from the earlier, so Redis's round trip can make
	// a send neither early nor later than the gate knows.
	earliest time.Time
	slot     time.Time
}

// Slot is when the check is booked to leave (after Gate: when it was let go).
func (g *Grant) Slot() time.Time { return g.slot }

// Granted reports whether a check may be sent (after Gate).
func (g *Grant) Granted() bool { return g.Wait == 0 && g.l != nil }

// Acquire asks for one bank call for the reference key. The reference is
// looked at first, so a check that must wait for its reference books no
// global slot; then a global slot is booked, then the reference is reserved
// for that slot's time, atomically; if that reservation loses a race, the
// global slot is given back.
func (l *Limiter) Acquire(ctx context.Context, key string) (Grant, error) {
	if wait, err := l.referenceWait(ctx, key); err != nil || wait > 0 {
		if wait > 0 {
			l.onDenied(LimitPerTransaction)
		}
		return Grant{Wait: wait, Limit: LimitPerTransaction}, err
	}
	g := Grant{l: l, key: key}
	asked := time.Now()
	delay, ok, err := l.book(ctx, maxAhead)
	if err != nil {
		return Grant{}, fmt.Errorf("global bank limit: %w", err)
	}
	if !ok {
		l.onDenied(LimitGlobal)
		return Grant{Wait: max(delay-maxAhead, 10*time.Millisecond), Limit: LimitGlobal}, nil
	}
	g.earliest, g.slot = asked.Add(delay), time.Now().Add(delay)
	wait, err := l.reserve(ctx, key, delay)
	if err != nil || wait > 0 {
		// The booked slot is lost (slots cannot be handed back): one
		// interval of capacity, only when two checks of one reference race.
		if wait > 0 {
			l.onDenied(LimitPerTransaction)
		}
		return Grant{Wait: wait, Limit: LimitPerTransaction}, err
	}
	if l.grants.Add(1)%pruneEvery == 0 {
		l.prune(ctx)
	}
	return g, nil
}

// Gate is passed right before each attempt to send the granted check: it
// sleeps until the booked slot, and if the send would be later than the
// margin allows after it (a slow wake-up, a token fetched meanwhile, a
// connection retried), it gives the slot back and books a new one, moving the
// reference's recorded send to match (the missed slot is lost: one interval
// of capacity). It returns an error only when the send
// must not happen (context done, Redis or Postgres failing).
func (g *Grant) Gate(ctx context.Context) error {
	if !g.Granted() {
		return errors.New("no slot was granted")
	}
	rebooked := false
	for {
		if d := time.Until(g.slot); d > 0 {
			if err := sleepCtx(ctx, d); err != nil {
				return err
			}
		}
		now := time.Now()
		if late := now.Sub(g.earliest); late <= g.l.lateness {
			g.l.onSend(SendInfo{At: now, Late: late, Rebooked: rebooked})
			return nil
		}
		asked := time.Now()
		delay, _, err := g.l.book(ctx, 24*time.Hour)
		if err != nil {
			return fmt.Errorf("global bank limit: %w", err)
		}
		g.earliest, g.slot, rebooked = asked.Add(delay), time.Now().Add(delay), true
		if err := g.l.postpone(ctx, g.key, delay); err != nil {
			return err
		}
	}
}

// globalScript books the next send slot of the bank's global limit: slots
// are evenly spaced, interval apart, and the key holds the next free one (µs
// on Redis's clock). KEYS[1] that key. ARGV: interval µs, most µs ahead to
// book, and where to start when the key is missing, in µs from now ("" to ask
// the caller first). Returns {µs from now to the slot, 1 if booked}, or
// {-1, 0} when the key is missing and no start was given.
var globalScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, ahead = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '')
if not slot then
  if ARGV[3] == '' then return {-1, 0} end
  slot = now + tonumber(ARGV[3])
  ahead = math.max(ahead, slot - now)
end
if slot < now then slot = now end
if slot - now > ahead then return {slot - now, 0} end
redis.call('SET', KEYS[1], string.format('%d', slot + interval))
return {slot - now, 1}
`)

// globalKey holds the next free slot; its hash tag keeps it on one Cluster
// slot with any key a later script may need beside it.
const globalKey = "{bank-limit}:next-slot"

// book books the next global slot if it is at most ahead from now.
//
// When Redis has lost the key (first start, FLUSHALL, a restart without
// persistence) checks booked before may still be waiting for their slots, up
// to maxAhead away. Postgres knows how far: every booked send is recorded
// there with its slot's time (bank_reference_sends). The first slot after the
// loss is one window after the last of them, or now when there is none.
func (l *Limiter) book(ctx context.Context, ahead time.Duration) (time.Duration, bool, error) {
	res, err := globalScript.Run(ctx, l.rdb, []string{globalKey}, l.interval.Microseconds(), ahead.Microseconds(), "").Int64Slice()
	if err == nil && len(res) == 2 && res[0] == -1 {
		var last sql.NullFloat64
		if err := l.db.GetContext(ctx, &last, `SELECT EXTRACT(EPOCH FROM max(sent_at) - clock_timestamp())::float8
			FROM bank_reference_sends`); err != nil {
			return 0, false, fmt.Errorf("last booked send: %w", err)
		}
		start := time.Duration(0) // no send recorded: nothing can be on its way
		if last.Valid {
			start = max(time.Duration(last.Float64*float64(time.Second))+l.window, 0)
		}
		res, err = globalScript.Run(ctx, l.rdb, []string{globalKey}, l.interval.Microseconds(), ahead.Microseconds(),
			strconv.FormatInt(start.Microseconds(), 10)).Int64Slice()
	}
	if err != nil {
		return 0, false, err
	}
	if len(res) != 2 || res[0] < 0 {
		return 0, false, fmt.Errorf("global limit script returned %v", res)
	}
	return time.Duration(res[0]) * time.Microsecond, res[1] == 1, nil
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

// reserve records a send of key in delay (its global slot) if the spacing
// has passed since the last one by then, in one statement (the row lock
// orders concurrent reservations); if not, it returns the wait. A reservation
// that lost a race to a concurrent first send of the same key sees no row in
// its snapshot and waits a full spacing.
func (l *Limiter) reserve(ctx context.Context, key string, delay time.Duration) (time.Duration, error) {
	var secs float64
	err := l.db.GetContext(ctx, &secs, `WITH up AS (
			INSERT INTO bank_reference_sends AS s (limit_key, sent_at)
			VALUES ($1, clock_timestamp() + $3::float8 * interval '1 second')
			ON CONFLICT (limit_key) DO UPDATE SET sent_at = EXCLUDED.sent_at
				WHERE s.sent_at <= EXCLUDED.sent_at - $2::float8 * interval '1 second'
			RETURNING -1::float8 AS wait)
		SELECT wait FROM up
		UNION ALL
		SELECT EXTRACT(EPOCH FROM sent_at + $2::float8 * interval '1 second' - clock_timestamp())::float8
			FROM bank_reference_sends WHERE limit_key = $1 AND NOT EXISTS (SELECT 1 FROM up)`,
		key, l.spacing.Seconds(), delay.Seconds())
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

// postpone moves key's recorded send to its new slot, delay from now: the
// next check of the reference is spaced from when this one really goes.
func (l *Limiter) postpone(ctx context.Context, key string, delay time.Duration) error {
	_, err := l.db.ExecContext(ctx, `UPDATE bank_reference_sends
		SET sent_at = GREATEST(sent_at, clock_timestamp() + $2::float8 * interval '1 second') WHERE limit_key = $1`,
		key, delay.Seconds())
	if err != nil {
		return fmt.Errorf("per-transaction bank limit: %w", err)
	}
	return nil
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
