package transaction

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Outbox receives every status change that client apps are told about (to
// COMPLETED, TO_REVIEW, UNKNOWN or CANCELED), inside the Postgres transaction
// that makes the change: no committed change without its event, no event for a
// change that rolled back. internal/webhook implements it. Record returns what
// to do once the change is committed (enqueue the deliveries), or nil.
type Outbox interface {
	Record(ctx context.Context, tx *sqlx.Tx, c StatusChange) (afterCommit func(context.Context), err error)
}

// StatusChange is one change as the outbox sees it.
type StatusChange struct {
	Transaction Transaction // the row after the change
	From, To    Status
}

// SetOutbox installs the outbox (the worker and the API do; tests may not).
func (s *Store) SetOutbox(o Outbox) { s.outbox = o }

// notifies reports whether a change to `to` is one client apps are told about.
func notifies(from, to Status) bool {
	if from == to {
		return false
	}
	switch to {
	case StatusCompleted, StatusToReview, StatusUnknown, StatusCanceled:
		return true
	}
	return false
}

// recordChange writes the outbox event of a change inside tx.
func (s *Store) recordChange(ctx context.Context, tx *sqlx.Tx, id string, from, to Status) (func(context.Context), error) {
	if s.outbox == nil || !notifies(from, to) {
		return nil, nil
	}
	var t Transaction
	if err := tx.GetContext(ctx, &t, `SELECT `+columns+` FROM transactions WHERE id = $1`, id); err != nil {
		return nil, fmt.Errorf("outbox: read changed transaction: %w", err)
	}
	return s.outbox.Record(ctx, tx, StatusChange{Transaction: t, From: from, To: to})
}
