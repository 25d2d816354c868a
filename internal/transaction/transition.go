package transaction

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// lockLive locks a live transaction row for a change and returns its status and
// creation time. A deleted row is ErrNotFound.
func lockLive(ctx context.Context, tx *sqlx.Tx, id string) (Status, time.Time, error) {
	var row struct {
		Status    Status       `db:"status"`
		CreatedAt time.Time    `db:"created_at"`
		DeletedAt sql.NullTime `db:"deleted_at"`
	}
	err := tx.GetContext(ctx, &row, `SELECT status, created_at, deleted_at FROM transactions WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && row.DeletedAt.Valid) {
		return "", time.Time{}, ErrNotFound
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("lock transaction: %w", err)
	}
	return row.Status, row.CreatedAt, nil
}

// Check is the outcome of one bank check, to be recorded.
type Check struct {
	TransactionID string // our UUID
	CheckedAt     time.Time
	NewStatus     Status     // IN_PROGRESS when nothing changes
	Reason        string     // status_reason when the status changes (or the check's outcome)
	NextCheckAt   *time.Time // when the next check is due (nil for final statuses)
	// TaskSeq is the sequence number of the task that will make that next
	// check (the checking task's + 1); task_seq never goes back.
	TaskSeq       int
	BankPayload   json.RawMessage
	Metadata      map[string]any // bank status code, latency, attempt…
	CountsAttempt bool           // false for checks the bank refused to answer (429), or did not answer
	// Unanswered: the bank gave no real answer (maintenance, 5xx, timeout):
	// counted in bank_failures, reset by the next real answer.
	Unanswered bool
	// RangeTooWide: the bank answered 70005; counted in range_too_wide.
	RangeTooWide bool
	// Claim, when the bank returned rows, lets RecordCheck decide with the
	// claims held at that moment. NewStatus, Reason and NextCheckAt are then the
	// fallback for when no row is usable (every one belongs to someone else).
	Claim *ClaimRequest
}

// Recorded is what RecordCheck wrote.
type Recorded struct {
	Status Status // the status after the check
	Reason string // its status_reason when it changed
	// ClaimRefused is ClaimAlreadyClaimed or ClaimRaceLost when the payment
	// the bank returned already confirmed another transaction.
	ClaimRefused string
}

// RecordCheck writes one bank check in ONE Postgres transaction: the claim of
// the movement that confirms it (if any), the check event, the attempt
// counters, and — when the status changes — the update (guarded by the
// expected IN_PROGRESS status) with its status-change event. If the transaction
// is no longer IN_PROGRESS (a duplicate run of the task, a person settled it)
// nothing is written and ErrInvalidTransition is returned, so nothing is
// recorded twice.
func (s *Store) RecordCheck(ctx context.Context, c Check) (Recorded, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Recorded{}, fmt.Errorf("record check: begin: %w", err)
	}
	defer tx.Rollback()
	status, createdAt, err := lockLive(ctx, tx, c.TransactionID)
	if err != nil {
		return Recorded{}, err
	}
	if status != StatusInProgress {
		return Recorded{}, ErrInvalidTransition
	}
	var rec Recorded
	var claim *claimInfo
	var bankDate string
	if c.Claim != nil {
		if c.Metadata == nil {
			c.Metadata = map[string]any{}
		}
		st, err := settle(ctx, tx, c.TransactionID, *c.Claim)
		if err != nil {
			return Recorded{}, err
		}
		c.Metadata["outcome"] = st.outcome
		if st.status != StatusInProgress {
			c.NewStatus, c.Reason, c.BankPayload, c.NextCheckAt = st.status, st.reason, st.payload, nil
			claim = st.claim
			bankDate = st.bankDate
			rec.ClaimRefused = st.refused
		}
	}
	old := StatusInProgress
	if err := insertEvent(ctx, tx, c.TransactionID, EventInput{Old: &old, New: StatusInProgress, Reason: "bank_check",
		ActorType: ActorExternal, ActorID: "banesco", Metadata: c.Metadata}); err != nil {
		return Recorded{}, err
	}
	attempt := 0
	if c.CountsAttempt {
		attempt = 1
	}
	var payload any
	if len(c.BankPayload) > 0 {
		payload = string(c.BankPayload) // jsonb: a string (binary parameters, database.Open)
	}
	var reason any
	if c.NewStatus != StatusInProgress {
		reason = c.Reason
	}
	_, err = tx.ExecContext(ctx, `UPDATE transactions SET attempts = attempts + $2, last_checked_at = $3,
			next_check_at = $4, status = $5, status_reason = COALESCE($6, status_reason),
			bank_payload = COALESCE($7, bank_payload), updated_at = $3,
			bank_failures = CASE WHEN $8 THEN bank_failures + 1 ELSE 0 END,
			range_too_wide = CASE WHEN $9 THEN range_too_wide + 1 ELSE 0 END,
			task_seq = GREATEST(task_seq, $10)
		WHERE id = $1 AND status = 'IN_PROGRESS'`,
		c.TransactionID, attempt, c.CheckedAt, c.NextCheckAt, c.NewStatus, reason, payload, c.Unanswered, c.RangeTooWide, c.TaskSeq)
	if err != nil {
		return Recorded{}, fmt.Errorf("record check: update: %w", err)
	}
	if c.NewStatus != StatusInProgress {
		meta := map[string]any{"bank_status_code": c.Metadata["bank_status_code"]}
		if claim != nil {
			meta[restrictedKey] = claim
		}
		if bankDate != "" {
			meta["bank_date"] = bankDate
		}
		if err := insertEvent(ctx, tx, c.TransactionID, EventInput{Old: &old, New: c.NewStatus, Reason: c.Reason,
			ActorType: ActorSystem, ActorID: "worker", Metadata: meta}); err != nil {
			return Recorded{}, err
		}
	}
	after, err := s.recordChange(ctx, tx, c.TransactionID, old, c.NewStatus)
	if err != nil {
		return Recorded{}, err
	}
	if err := tx.Commit(); err != nil {
		return Recorded{}, fmt.Errorf("record check: commit: %w", err)
	}
	if after != nil {
		after(ctx)
	}
	rec.Status = c.NewStatus
	if c.NewStatus != StatusInProgress {
		rec.Reason = c.Reason
		s.metrics.transition(StatusInProgress, c.NewStatus, c.CheckedAt.Sub(createdAt))
	}
	s.metrics.claimRefused(rec.ClaimRefused)
	return rec, nil
}

// Change is a status change made by a person (PATCH) or the system.
type Change struct {
	ID        string   // our UUID
	From      []Status // the statuses it may change from
	To        Status
	Reason    string
	ActorType string
	ActorID   string
	Metadata  map[string]any
	// ReleaseClaim frees the bank movements the transaction holds (a reviewer
	// cancelling a wrongly confirmed transaction), recorded as its own event.
	ReleaseClaim bool
}

// Transition changes the status from one of from to `to`, with its event, in one
// Postgres transaction. It is the only way a person (PATCH) or the deadline
// changes a status; the update is guarded so a concurrent change wins once.
func (s *Store) Transition(ctx context.Context, ch Change) (Status, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("transition: begin: %w", err)
	}
	defer tx.Rollback()
	status, createdAt, err := lockLive(ctx, tx, ch.ID)
	if err != nil {
		return "", err
	}
	if !slices.Contains(ch.From, status) {
		return status, ErrInvalidTransition
	}
	var statusReason any
	if ch.Reason != "" {
		statusReason = ch.Reason
	}
	if _, err := tx.ExecContext(ctx, `UPDATE transactions SET status = $2, status_reason = $3, next_check_at = NULL, updated_at = now()
		WHERE id = $1 AND status = $4`, ch.ID, ch.To, statusReason, status); err != nil {
		return "", fmt.Errorf("transition: update: %w", err)
	}
	if err := insertEvent(ctx, tx, ch.ID, EventInput{Old: &status, New: ch.To, Reason: ch.Reason, ActorType: ch.ActorType,
		ActorID: ch.ActorID, Metadata: ch.Metadata}); err != nil {
		return "", err
	}
	if ch.ReleaseClaim {
		if _, err := releaseClaims(ctx, tx, ch.ID, ch.To, ch.ActorType, ch.ActorID, ch.Metadata["request_id"]); err != nil {
			return "", err
		}
	}
	after, err := s.recordChange(ctx, tx, ch.ID, status, ch.To)
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("transition: commit: %w", err)
	}
	if after != nil {
		after(ctx)
	}
	s.metrics.transition(status, ch.To, s.now().Sub(createdAt))
	return status, nil
}

// ErrNoClaim: the transaction holds no bank movement to release.
var ErrNoClaim = errors.New("transaction: holds no claim")

// ReleaseClaims frees the bank movements a CANCELED transaction still holds
// (a reviewer who cancelled it first and releases later), with its event.
func (s *Store) ReleaseClaims(ctx context.Context, id, actorID string, requestID any) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("release claims: begin: %w", err)
	}
	defer tx.Rollback()
	status, _, err := lockLive(ctx, tx, id)
	if err != nil {
		return err
	}
	if status != StatusCanceled {
		return ErrInvalidTransition
	}
	n, err := releaseClaims(ctx, tx, id, status, ActorUser, actorID, requestID)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNoClaim
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("release claims: commit: %w", err)
	}
	return nil
}

// Reopen puts a TO_REVIEW or UNKNOWN transaction back to IN_PROGRESS for a
// person who asked for another check, with a fresh deadline, in one Postgres
// transaction with its event. It returns the updated row.
func (s *Store) Reopen(ctx context.Context, id string, deadline time.Duration, actorID, requestID string) (Transaction, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Transaction{}, fmt.Errorf("reopen: begin: %w", err)
	}
	defer tx.Rollback()
	status, _, err := lockLive(ctx, tx, id)
	if err != nil {
		return Transaction{}, err
	}
	if status != StatusToReview && status != StatusUnknown {
		return Transaction{}, ErrInvalidTransition
	}
	now := s.now()
	var t Transaction
	if err := tx.GetContext(ctx, &t, `UPDATE transactions SET status = 'IN_PROGRESS', status_reason = NULL, next_check_at = $2,
			deadline_at = $3, updated_at = $2, bank_failures = 0, range_too_wide = 0 WHERE id = $1 RETURNING `+columns, id, now, now.Add(deadline)); err != nil {
		return Transaction{}, fmt.Errorf("reopen: update: %w", err)
	}
	if err := insertEvent(ctx, tx, id, EventInput{Old: &status, New: StatusInProgress, Reason: "recheck_requested",
		ActorType: ActorUser, ActorID: actorID, Metadata: map[string]any{"request_id": requestID}}); err != nil {
		return Transaction{}, err
	}
	if err := tx.Commit(); err != nil {
		return Transaction{}, fmt.Errorf("reopen: commit: %w", err)
	}
	s.metrics.transition(status, StatusInProgress, 0)
	return t, nil
}

// SoftDelete marks a transaction deleted; it disappears from every read.
func (s *Store) SoftDelete(ctx context.Context, id, actorID string) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete: begin: %w", err)
	}
	defer tx.Rollback()
	status, _, err := lockLive(ctx, tx, id)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE transactions SET deleted_at = now(), next_check_at = NULL, updated_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := insertEvent(ctx, tx, id, EventInput{Old: &status, New: status, Reason: "deleted", ActorType: ActorUser, ActorID: actorID}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete: commit: %w", err)
	}
	return nil
}

// Defer moves the next check of an IN_PROGRESS transaction to at, to be made
// by the task numbered seq, without a check having been sent (no token from the
// bank, the bank's maintenance window, a bank limit's wait): no event, no
// attempt. failed counts it in bank_failures, so the back-off grows while the
// outage lasts.
func (s *Store) Defer(ctx context.Context, id string, seq int, at time.Time, failed bool) error {
	_, err := s.db.ExecContext(ctx, `UPDATE transactions SET next_check_at = $2, updated_at = now(),
			bank_failures = bank_failures + CASE WHEN $3 THEN 1 ELSE 0 END,
			task_seq = GREATEST(task_seq, $4)
		WHERE id = $1 AND status = 'IN_PROGRESS' AND deleted_at IS NULL`, id, at, failed, seq)
	if err != nil {
		return fmt.Errorf("defer check: %w", err)
	}
	return nil
}

// SetNextCheck records when the next check is due (POST …/verify, the sweeper).
func (s *Store) SetNextCheck(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE transactions SET next_check_at = $2, updated_at = now()
		WHERE id = $1 AND status = 'IN_PROGRESS' AND deleted_at IS NULL`, id, at)
	if err != nil {
		return fmt.Errorf("set next check: %w", err)
	}
	return nil
}

// TaskRef names a transaction's live verify task: its id and sequence number.
type TaskRef struct {
	ID  string `db:"id"`
	Seq int    `db:"task_seq"`
}

// Task names the transaction's live verify task as Postgres knows it.
func (t Transaction) Task() TaskRef { return TaskRef{ID: t.ID, Seq: t.TaskSeq} }

// Overdue lists live IN_PROGRESS transactions whose check was due before
// `before`, by id after `afterID` (keyset pagination for the sweeper).
func (s *Store) Overdue(ctx context.Context, before time.Time, afterID string, limit int) ([]TaskRef, error) {
	ids := []TaskRef{}
	err := s.db.SelectContext(ctx, &ids, `SELECT id, task_seq FROM transactions
		WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL AND next_check_at < $1 AND id > $2
		ORDER BY id LIMIT $3`, before, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list overdue: %w", err)
	}
	return ids, nil
}
