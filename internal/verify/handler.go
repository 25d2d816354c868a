package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// Bank is what the handler needs from the bank client.
type Bank interface {
	Verify(ctx context.Context, q banesco.Query) (banesco.Verdict, error)
	// MaintenanceUntil reports whether t is in the bank's known maintenance
	// window, and when that ends.
	MaintenanceUntil(t time.Time) (time.Time, bool)
	// Ready reports whether a check could be sent now (a token is at hand);
	// banesco.NoCheckSent is true for its error.
	Ready(ctx context.Context) error
}

// Chain is what the handler needs from the queue (queue.Scheduler): a check
// that has to wait ends and hands over to a successor task due when the wait
// ends, so operators see it as Scheduled and Asynq's Retry list holds only real
// failures; and a chain that a crash broke is completed.
type Chain interface {
	Successor(ctx context.Context, p tasks.VerifyPayload, at time.Time) error
	Ensure(ctx context.Context, ref transaction.TaskRef, at time.Time) (bool, error)
}

// Policy is when checks are repeated.
type Policy struct {
	// Schedule (VERIFY_SCHEDULE): waits after the 1st, 2nd… check that found
	// nothing; the last repeats.
	Schedule []time.Duration
	// ScheduleByBank (VERIFY_SCHEDULE_<bank>) replaces Schedule for a bank.
	ScheduleByBank map[string][]time.Duration
	// OutageBackoff (VERIFY_OUTAGE_BACKOFF): waits after the 1st, 2nd… check in
	// a row that got no real answer (maintenance, 5xx, unreachable, no token,
	// 70005); the last repeats. Default 10s,30s,1m,2m,5m.
	OutageBackoff []time.Duration
	// RangeTooWideReviewAfter (VERIFY_RANGE_TOO_WIDE_REVIEW_AFTER): a
	// transaction goes to review after this many 70005 answers in a row
	// (default 3).
	RangeTooWideReviewAfter int
}

// Handler processes verify tasks.
type Handler struct {
	store   *transaction.Store
	bank    Bank
	limiter *Limiter
	chain   Chain
	policy  Policy
	metrics *Metrics
	log     zerolog.Logger
	now     func() time.Time
}

// NewHandler wires the verify handler.
func NewHandler(store *transaction.Store, bank Bank, limiter *Limiter, chain Chain, policy Policy, metrics *Metrics, log zerolog.Logger) *Handler {
	if len(policy.OutageBackoff) == 0 {
		policy.OutageBackoff = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
	}
	if policy.RangeTooWideReviewAfter <= 0 {
		policy.RangeTooWideReviewAfter = 3
	}
	return &Handler{store: store, bank: bank, limiter: limiter, chain: chain, policy: policy, metrics: metrics, log: log, now: time.Now}
}

// Query is how a stored transaction is asked about at the bank.
func Query(t transaction.Transaction) banesco.Query {
	q := banesco.Query{Mode: banesco.ModeMobile, Reference: t.Reference, Phone: t.CustomerPhone,
		BankID: t.PayerBankCode, Date: t.PaidOn.Format(time.DateOnly)}
	if t.Bank == transaction.BankBanesco {
		q = banesco.Query{Mode: banesco.ModeTransfer, Reference: t.Reference}
	}
	if t.Amount.Valid {
		q.Amount = t.Amount.String
	}
	return q
}

// step returns the n-th wait (n ≥ 1) of a schedule whose last step repeats.
func step(schedule []time.Duration, n int) time.Duration {
	return schedule[min(max(n, 1), len(schedule))-1]
}

// wait is when a transaction's next check is due, and why.
type wait struct {
	at  time.Time
	why string
}

// ProcessTask checks one transaction with the bank and records the outcome. It is
// safe to run twice for the same task: the limiter guards the bank, the guarded
// update records a status change once, and the task's number (Seq) against
// Postgres's task_seq tells a re-run of a task that already handed over.
func (h *Handler) ProcessTask(ctx context.Context, task *asynq.Task) error {
	p, err := tasks.ParseVerify(task)
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	log := h.log.With().Str("transaction", p.TransactionID).Str("request_id", p.RequestID).Logger()
	t, err := h.store.ByID(ctx, p.TransactionID)
	if errors.Is(err, transaction.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.DeletedAt.Valid || !t.Status.Checkable() {
		return nil // settled, canceled or deleted meanwhile: nothing to do
	}
	if t.TaskSeq > p.Seq {
		// This task already handed over (Postgres names a later one): a re-run
		// after a crash or a failed enqueue, or a duplicate. Never a second
		// bank check; only make sure the successor exists.
		at := h.now()
		if t.NextCheckAt.Valid {
			at = t.NextCheckAt.Time
		}
		if _, err := h.chain.Ensure(ctx, t.Task(), at); err != nil {
			return fmt.Errorf("complete the hand-over to check %d: %w", t.TaskSeq, err)
		}
		return nil
	}
	next := p.Seq + 1 // the successor's number, written to Postgres before it is enqueued
	if until, ok := h.bank.MaintenanceUntil(h.now()); ok {
		// The bank's known nightly window: nothing is sent, nothing counted.
		h.metrics.check("deferred")
		if err := h.store.Defer(ctx, t.ID, next, until, false); err != nil {
			return fmt.Errorf("defer check: %w", err)
		}
		return h.handOver(ctx, p, wait{until, "bank maintenance window"})
	}
	q := Query(t)
	// No token, no check: asked before the limiter so that a refused token
	// does not spend this reference's slot (which would then delay the first
	// check after the token comes back by a whole spacing).
	bankErr := h.bank.Ready(ctx)
	var verdict banesco.Verdict
	var slot time.Time
	if bankErr == nil {
		g, err := h.limiter.Acquire(ctx, banesco.LimitKey(q))
		if err != nil {
			return err
		}
		if !g.Granted() {
			// Nothing was sent: the next try is a successor at the slot.
			at := h.now().Add(g.Wait)
			if err := h.store.Defer(ctx, t.ID, next, at, false); err != nil {
				return fmt.Errorf("defer check: %w", err)
			}
			return h.handOver(ctx, p, wait{at, "bank limit " + g.Limit})
		}
		verdict, bankErr = h.bank.Verify(banesco.WithSendGate(ctx, g.Gate), q)
		slot = g.Slot()
	}
	got := classify(verdict, bankErr)
	if got == answerHeld {
		// The limiter's gate could not let it go (Redis or Postgres failing,
		// or shutting down): nothing reached the bank, nothing to record. The
		// reference's slot stays spent, which only delays its next check.
		return fmt.Errorf("bank limits: %w", bankErr)
	}
	now := h.now()
	if got == answerNoToken {
		// No token (refused, failing, backing off): a configuration or bank
		// incident, not this payment's. Nothing reached the bank, so no event
		// and no attempt; the check waits and resumes once a token works (the
		// token alert tells the operator).
		h.metrics.check("no_token")
		at := now.Add(step(h.policy.OutageBackoff, t.BankFailures+1))
		if err := h.store.Defer(ctx, t.ID, next, at, true); err != nil {
			return fmt.Errorf("defer check: %w", err)
		}
		return h.handOver(ctx, p, wait{at, "no bank token (" + clipErr(bankErr) + ")"})
	}
	attempt := t.Attempts + 1
	c := transaction.Check{TransactionID: t.ID, CheckedAt: now, NewStatus: transaction.StatusInProgress, CountsAttempt: true, TaskSeq: next,
		Metadata: map[string]any{"bank_status_code": verdict.StatusCode, "http_status": verdict.HTTPStatus,
			"latency_ms": verdict.Latency.Milliseconds(), "attempt": attempt, "request_id": p.RequestID,
			// The slot this check had in the bank's global window: the bench
			// compares it with when the bank saw the request.
			"slot_at": slot.UTC().Format(time.RFC3339Nano)}}
	var retry *wait

	if bankErr != nil {
		var be *banesco.Error
		if errors.As(bankErr, &be) {
			// A reply without an envelope (500, 503, 504) has no bank code: keep
			// the verdict's, which is then the HTTP status.
			if be.StatusCode != "" {
				c.Metadata["bank_status_code"] = be.StatusCode
			}
			if be.HTTPStatus != 0 {
				c.Metadata["http_status"] = be.HTTPStatus
			}
		}
		c.Metadata["error"] = bankErr.Error()
		c.CountsAttempt = false
		c.Metadata["attempt"] = t.Attempts
		if got == answerRateLimited {
			ra, _ := banesco.RetryAfter(bankErr)
			// The bank refused to answer: not an attempt, and never a failure.
			h.metrics.check("rate_limited")
			c.Metadata["outcome"] = "rate_limited"
			at := now.Add(ra)
			c.NextCheckAt = &at
			retry = &wait{at, "the bank asked us to wait (VRN05/429)"}
		} else {
			// Maintenance (CRT503, VRN04), 5xx, unreachable, unreadable: no real
			// answer about the payment. Not an attempt, and the deadline does
			// not run out on it: UNKNOWN needs a real "not found".
			h.metrics.check("unavailable")
			c.Metadata["outcome"] = "unavailable"
			c.Unanswered = true
			retry = h.outage(&c, t, "bank unavailable ("+banesco.KindOf(bankErr).String()+")")
		}
	} else {
		c.Metadata["outcome"] = verdict.Outcome.String()
		switch got {
		case answerRows:
			// Rows came back: which one may settle this transaction depends on
			// the movements other transactions already hold, decided in the same
			// Postgres transaction as the status change. If every row turns out
			// to be someone else's, this is a "not found yet".
			c.Claim = claimRequest(verdict, q.Amount == "")
			retry = h.notYet(&c, t, attempt, "only payments that confirmed other transactions found at the bank")
		case answerNotFound:
			h.metrics.check("not_found")
			retry = h.notYet(&c, t, attempt, "not found at the bank yet")
		case answerRejected:
			if verdict.Reason == banesco.ReasonDateRangeTooWide && t.RangeTooWide+1 < h.policy.RangeTooWideReviewAfter {
				// 70005: the bank would not search that range (too wide, or a
				// busy day). Retried with back-off; review only if it persists.
				h.metrics.check("range_too_wide")
				c.RangeTooWide, c.Unanswered, c.CountsAttempt = true, true, false
				c.Metadata["attempt"] = t.Attempts
				retry = h.outage(&c, t, fmt.Sprintf("bank answered 70005 (date range too wide), %d in a row", t.RangeTooWide+1))
				break
			}
			h.metrics.check("review")
			c.NewStatus, c.Reason, c.BankPayload = transaction.StatusToReview, verdict.Reason, verdict.RawRow
			if verdict.Reason == banesco.ReasonDateRangeTooWide {
				c.RangeTooWide = true
				log.Error().Int("in_a_row", t.RangeTooWide+1).Msg("the bank keeps answering 70005 (date range too wide): sent to review")
			}
		}
	}
	if c.NewStatus != transaction.StatusInProgress {
		c.NextCheckAt = nil
	}
	rec, err := h.store.RecordCheck(ctx, c)
	if errors.Is(err, transaction.ErrInvalidTransition) || errors.Is(err, transaction.ErrNotFound) {
		log.Info().Msg("transaction changed during the check; nothing recorded")
		return nil
	}
	if err != nil {
		return fmt.Errorf("record check: %w", err)
	}
	if c.Claim != nil {
		switch rec.Status {
		case transaction.StatusCompleted:
			h.metrics.check("confirmed")
		case transaction.StatusToReview:
			h.metrics.check("review")
		default:
			h.metrics.check("not_found")
		}
		if rec.ClaimRefused != "" {
			// Several claims for one payment can be a mistake or a fraud attempt.
			log.Warn().Str("cause", rec.ClaimRefused).Msg("the payment found at the bank already confirmed another transaction")
		}
	}
	if rec.Status != transaction.StatusInProgress {
		retry = nil
	}
	log.Debug().Str("outcome", fmt.Sprint(c.Metadata["outcome"])).Str("status", string(rec.Status)).Int("attempt", attempt).Msg("bank check")
	if retry != nil {
		return h.handOver(ctx, p, *retry)
	}
	return nil
}

// handOver enqueues the successor of task p (numbered p.Seq+1, already
// written to Postgres), due at w.at, and ends this task: a plain success, so
// the wait shows as Scheduled, not as a retried failure. If Redis refuses, the
// error is a real failure: Asynq retries this task, which then finds the
// successor named in Postgres and only enqueues it.
func (h *Handler) handOver(ctx context.Context, p tasks.VerifyPayload, w wait) error {
	next := tasks.VerifyPayload{TransactionID: p.TransactionID, RequestID: p.RequestID, Seq: p.Seq + 1, After: w.why}
	if err := h.chain.Successor(ctx, next, w.at); err != nil {
		return fmt.Errorf("hand over to check %d: %w", next.Seq, err)
	}
	return nil
}

// notYet schedules the next check along VERIFY_SCHEDULE after a real "not
// found" from the bank, or gives up with UNKNOWN once the deadline has passed.
func (h *Handler) notYet(c *transaction.Check, t transaction.Transaction, attempt int, why string) *wait {
	if !c.CheckedAt.Before(t.DeadlineAt) {
		c.NewStatus, c.Reason = transaction.StatusUnknown, "not_found_by_deadline"
		return nil
	}
	schedule := h.policy.Schedule
	if s, ok := h.policy.ScheduleByBank[t.Bank]; ok {
		schedule = s
	}
	next := c.CheckedAt.Add(step(schedule, attempt))
	if next.After(t.DeadlineAt) {
		next = t.DeadlineAt // one last check at the deadline
	}
	c.NextCheckAt = &next
	return &wait{next, fmt.Sprintf("%s after %d check(s)", why, attempt)}
}

// claimRequest turns the rows of a verdict into the claim the store decides on.
func claimRequest(v banesco.Verdict, noAmount bool) *transaction.ClaimRequest {
	conv := func(ms []banesco.Match) []transaction.Candidate {
		out := make([]transaction.Candidate, len(ms))
		for i, m := range ms {
			out[i] = transaction.Candidate{Movement: transaction.Movement(m.Movement), Row: m.Raw, Reason: m.Reason}
		}
		return out
	}
	return &transaction.ClaimRequest{Matches: conv(v.Matches), NearMisses: conv(v.NearMisses), OneOnly: noAmount}
}

// outage schedules the next check after one that got no real answer, along
// VERIFY_OUTAGE_BACKOFF by how many came in a row. The deadline never cuts it
// short: a transaction whose deadline passed while the bank was down gets a
// real answer before it can become UNKNOWN.
func (h *Handler) outage(c *transaction.Check, t transaction.Transaction, why string) *wait {
	next := c.CheckedAt.Add(step(h.policy.OutageBackoff, t.BankFailures+1))
	c.NextCheckAt = &next
	return &wait{next, fmt.Sprintf("%s, %d check(s) in a row without an answer", why, t.BankFailures+1)}
}

// clipErr is an error's text bounded for a task's error field.
func clipErr(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
