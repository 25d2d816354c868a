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
	policy  Policy
	metrics *Metrics
	log     zerolog.Logger
	now     func() time.Time
}

// NewHandler wires the verify handler.
func NewHandler(store *transaction.Store, bank Bank, limiter *Limiter, policy Policy, metrics *Metrics, log zerolog.Logger) *Handler {
	if len(policy.OutageBackoff) == 0 {
		policy.OutageBackoff = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
	}
	if policy.RangeTooWideReviewAfter <= 0 {
		policy.RangeTooWideReviewAfter = 3
	}
	return &Handler{store: store, bank: bank, limiter: limiter, policy: policy, metrics: metrics, log: log, now: time.Now}
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

// ProcessTask checks one transaction with the bank and records the outcome. It is
// safe to run twice for the same task: the limiter guards the bank and the
// guarded update records a status change once.
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
	if until, ok := h.bank.MaintenanceUntil(h.now()); ok {
		// The bank's known nightly window: nothing is sent, nothing counted.
		h.metrics.check("deferred")
		if err := h.store.Defer(ctx, t.ID, until, false); err != nil {
			return fmt.Errorf("defer check: %w", err)
		}
		return &WaitError{Delay: until.Sub(h.now()), Reason: "bank maintenance window until " + until.UTC().Format(time.RFC3339)}
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
			return &WaitError{Delay: g.Wait, Reason: fmt.Sprintf("bank limit %s: next slot in %s", g.Limit, g.Wait.Round(time.Millisecond))}
		}
		verdict, bankErr = h.bank.Verify(banesco.WithSendGate(ctx, g.Gate), q)
		slot = g.Slot()
	}
	if banesco.HeldBack(bankErr) {
		// The limiter's gate could not let it go (Redis or Postgres failing,
		// or shutting down): nothing reached the bank, nothing to record. The
		// reference's slot stays spent, which only delays its next check.
		return fmt.Errorf("bank limits: %w", bankErr)
	}
	now := h.now()
	if banesco.NoCheckSent(bankErr) {
		// No token (refused, failing, backing off): a configuration or bank
		// incident, not this payment's. Nothing reached the bank, so no event
		// and no attempt; the check waits and resumes once a token works (the
		// token alert tells the operator).
		h.metrics.check("no_token")
		next := now.Add(step(h.policy.OutageBackoff, t.BankFailures+1))
		if err := h.store.Defer(ctx, t.ID, next, true); err != nil {
			return fmt.Errorf("defer check: %w", err)
		}
		return &WaitError{Delay: next.Sub(now), Reason: "no bank token (" + clipErr(bankErr) + "); next try at " + next.UTC().Format(time.RFC3339)}
	}
	attempt := t.Attempts + 1
	c := transaction.Check{TransactionID: t.ID, CheckedAt: now, NewStatus: transaction.StatusInProgress, CountsAttempt: true,
		Metadata: map[string]any{"bank_status_code": verdict.StatusCode, "http_status": verdict.HTTPStatus,
			"latency_ms": verdict.Latency.Milliseconds(), "attempt": attempt, "request_id": p.RequestID,
			// The slot this check had in the bank's global window: the bench
			// compares it with when the bank saw the request.
			"slot_at": slot.UTC().Format(time.RFC3339Nano)}}
	var retry *WaitError

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
		if ra, ok := banesco.RetryAfter(bankErr); ok {
			// The bank refused to answer: not an attempt, and never a failure.
			h.metrics.check("rate_limited")
			c.Metadata["outcome"] = "rate_limited"
			next := now.Add(ra)
			c.NextCheckAt = &next
			retry = &WaitError{Delay: ra, Reason: "the bank asked us to wait (VRN05/429)"}
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
		switch verdict.Outcome {
		case banesco.Confirmed, banesco.Ambiguous, banesco.AmountMismatch:
			// Rows came back: which one may settle this transaction depends on
			// the movements other transactions already hold, decided in the same
			// Postgres transaction as the status change. If every row turns out
			// to be someone else's, this is a "not found yet".
			c.Claim = claimRequest(verdict, q.Amount == "")
			retry = h.notYet(&c, t, attempt, "only payments that confirmed other transactions found at the bank")
		case banesco.NotFound:
			h.metrics.check("not_found")
			retry = h.notYet(&c, t, attempt, "not found at the bank yet")
		case banesco.Rejected:
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
		return retry
	}
	return nil
}

// notYet schedules the next check along VERIFY_SCHEDULE after a real "not
// found" from the bank, or gives up with UNKNOWN once the deadline has passed.
func (h *Handler) notYet(c *transaction.Check, t transaction.Transaction, attempt int, why string) *WaitError {
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
	return &WaitError{Delay: next.Sub(c.CheckedAt),
		Reason: fmt.Sprintf("%s after %d check(s); next check at %s", why, attempt, next.UTC().Format(time.RFC3339))}
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
func (h *Handler) outage(c *transaction.Check, t transaction.Transaction, why string) *WaitError {
	next := c.CheckedAt.Add(step(h.policy.OutageBackoff, t.BankFailures+1))
	c.NextCheckAt = &next
	return &WaitError{Delay: next.Sub(c.CheckedAt),
		Reason: fmt.Sprintf("%s, %d check(s) in a row without an answer; next check at %s", why, t.BankFailures+1, next.UTC().Format(time.RFC3339))}
}

// clipErr is an error's text bounded for a task's error field.
func clipErr(err error) string {
	s := err.Error()
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
