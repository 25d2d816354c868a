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
}

// Handler processes verify tasks.
type Handler struct {
	store    *transaction.Store
	bank     Bank
	limiter  *Limiter
	schedule []time.Duration // VERIFY_SCHEDULE: waits after the 1st, 2nd… check; the last repeats
	metrics  *Metrics
	log      zerolog.Logger
	now      func() time.Time
}

// NewHandler wires the verify handler.
func NewHandler(store *transaction.Store, bank Bank, limiter *Limiter, schedule []time.Duration, metrics *Metrics, log zerolog.Logger) *Handler {
	return &Handler{store: store, bank: bank, limiter: limiter, schedule: schedule, metrics: metrics, log: log, now: time.Now}
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

// after returns the wait after the n-th check (n ≥ 1).
func (h *Handler) after(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return h.schedule[min(n, len(h.schedule))-1]
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
	q := Query(t)
	wait, limit, err := h.limiter.Acquire(ctx, banesco.LimitKey(q))
	if err != nil {
		return err
	}
	if wait > 0 {
		return &WaitError{Delay: wait, Reason: fmt.Sprintf("bank limit %s: next slot in %s", limit, wait.Round(time.Millisecond))}
	}

	verdict, bankErr := h.bank.Verify(ctx, q)
	now := h.now()
	attempt := t.Attempts + 1
	c := transaction.Check{TransactionID: t.ID, CheckedAt: now, NewStatus: transaction.StatusInProgress, CountsAttempt: true,
		Metadata: map[string]any{"bank_status_code": verdict.StatusCode, "http_status": verdict.HTTPStatus,
			"latency_ms": verdict.Latency.Milliseconds(), "attempt": attempt, "request_id": p.RequestID}}
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
		if ra, ok := banesco.RetryAfter(bankErr); ok {
			// The bank refused to answer: not an attempt, and never a failure.
			h.metrics.check("rate_limited")
			c.CountsAttempt = false
			c.Metadata["outcome"] = "rate_limited"
			c.Metadata["attempt"] = t.Attempts
			next := now.Add(ra)
			c.NextCheckAt = &next
			retry = &WaitError{Delay: ra, Reason: "the bank asked us to wait (VRN05/429)"}
		} else {
			h.metrics.check("error")
			c.Metadata["outcome"] = "error"
			retry = h.notYet(&c, t, attempt, "bank unavailable ("+banesco.KindOf(bankErr).String()+")")
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
		default: // Rejected: a person decides
			h.metrics.check("review")
			c.NewStatus, c.Reason, c.BankPayload = transaction.StatusToReview, verdict.Reason, verdict.RawRow
			if verdict.Reason == banesco.ReasonDateRangeTooWide {
				log.Error().Msg("bank says our query's date range is too wide (70005): a bug in the query")
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

// notYet schedules the next check along VERIFY_SCHEDULE, or gives up with
// UNKNOWN once the deadline has passed.
func (h *Handler) notYet(c *transaction.Check, t transaction.Transaction, attempt int, why string) *WaitError {
	if !c.CheckedAt.Before(t.DeadlineAt) {
		c.NewStatus, c.Reason = transaction.StatusUnknown, "not_found_by_deadline"
		return nil
	}
	next := c.CheckedAt.Add(h.after(attempt))
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
