package transaction

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Storage errors, translated at this boundary.
var (
	ErrNotFound           = errors.New("transaction: not found")
	ErrIDConflict         = errors.New("transaction: transaction_id used with another body")
	ErrDuplicateReference = errors.New("transaction: reference already recorded")
	// ErrInvalidTransition means the status changed meanwhile or the change is not allowed.
	ErrInvalidTransition = errors.New("transaction: invalid transition")
)

// Store is the transactions and transaction_events tables.
type Store struct {
	db      *sqlx.DB
	metrics *Metrics
	now     func() time.Time
	outbox  Outbox // nil: status changes notify nobody
}

// NewStore returns a Store; metrics may be nil.
func NewStore(db *sqlx.DB, metrics *Metrics) *Store {
	return &Store{db: db, metrics: metrics, now: time.Now}
}

// DB exposes the pool (for health checks and tests).
func (s *Store) DB() *sqlx.DB { return s.db }

const columns = `id, transaction_id, user_id, status, bank, transaction_type, reference, amount,
	payer_bank_code, paid_on, customer_full_name, customer_phone, customer_national_id, customer_concept,
	request_hash, attempts, last_checked_at, next_check_at, deadline_at, status_reason, bank_payload,
	created_at, updated_at, deleted_at, bank_failures, range_too_wide, task_seq`

// EventInput is an event to append.
type EventInput struct {
	Old       *Status
	New       Status
	Reason    string
	ActorType string
	ActorID   string
	Metadata  any
}

func insertEvent(ctx context.Context, tx *sqlx.Tx, txID string, e EventInput) error {
	// JSON goes to a jsonb column as a string, never []byte (binary
	// parameters: database.Open).
	meta := "{}"
	if e.Metadata != nil {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return fmt.Errorf("encode event metadata: %w", err)
		}
		meta = string(b)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO transaction_events (transaction_id, old_status, new_status, reason, actor_type, actor_id, metadata)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, txID, e.Old, e.New, e.Reason, e.ActorType, e.ActorID, meta)
	if err != nil {
		return fmt.Errorf("insert event: %w", err)
	}
	return nil
}

// Create stores a new transaction and its creation event in one Postgres
// transaction. replayed is true when the same request was stored before (the
// stored row is returned); a different body under the same transaction_id is
// ErrIDConflict, the same reference (by its digits without leading zeros) and
// type under another id ErrDuplicateReference.
func (s *Store) Create(ctx context.Context, userID string, n NewTransaction, deadline time.Duration, requestID string) (t Transaction, replayed bool, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Transaction{}, false, fmt.Errorf("create transaction: begin: %w", err)
	}
	defer tx.Rollback()
	var amount any
	if n.Amount != "" {
		amount = n.Amount
	}
	now := s.now()
	err = tx.GetContext(ctx, &t, `INSERT INTO transactions (transaction_id, user_id, bank, transaction_type, reference, amount,
			payer_bank_code, paid_on, customer_full_name, customer_phone, customer_national_id, customer_concept,
			request_hash, next_check_at, deadline_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $14, $14)
		ON CONFLICT (transaction_id) DO NOTHING
		RETURNING `+columns,
		n.TransactionID, userID, n.Bank, n.TransactionType, n.Reference, amount, n.PayerBankCode, n.PaidOn,
		n.FullName, n.Phone, n.NationalID, n.Concept, n.Hash, now, now.Add(deadline))
	if errors.Is(err, sql.ErrNoRows) {
		// The transaction_id exists: a replay of the same request, or a conflict.
		tx.Rollback()
		existing, getErr := s.byClientID(ctx, n.TransactionID)
		if getErr != nil {
			return Transaction{}, false, getErr
		}
		return replayOf(existing, userID, n)
	}
	if err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "transactions_reference_digits_type_key" {
			// ON CONFLICT guards only transaction_id: two identical requests
			// at the same instant both pass it, and the one that waited on
			// the other's row fails here, on the reference. Its own
			// transaction_id committed meanwhile: that is a replay, not
			// someone else's reference.
			tx.Rollback()
			existing, getErr := s.byClientID(ctx, n.TransactionID)
			if errors.Is(getErr, ErrNotFound) {
				return Transaction{}, false, ErrDuplicateReference
			}
			if getErr != nil {
				return Transaction{}, false, getErr
			}
			return replayOf(existing, userID, n)
		}
		return Transaction{}, false, fmt.Errorf("create transaction: %w", err)
	}
	if err := insertEvent(ctx, tx, t.ID, EventInput{New: StatusInProgress, Reason: "created",
		ActorType: ActorUser, ActorID: userID, Metadata: map[string]any{"request_id": requestID}}); err != nil {
		return Transaction{}, false, err
	}
	if err := tx.Commit(); err != nil {
		return Transaction{}, false, fmt.Errorf("create transaction: commit: %w", err)
	}
	s.metrics.created(t.Bank, t.TransactionType)
	return t, false, nil
}

// replayOf decides what a create whose transaction_id is taken by existing
// gets: the same request by the same user is a replay; anything else, a
// conflict. A deleted transaction is gone from every read, replays included;
// its transaction_id stays taken.
func replayOf(existing Transaction, userID string, n NewTransaction) (Transaction, bool, error) {
	if existing.UserID == userID && bytes.Equal(existing.RequestHash, n.Hash) && !existing.DeletedAt.Valid {
		return existing, true, nil
	}
	return Transaction{}, false, ErrIDConflict
}

func (s *Store) byClientID(ctx context.Context, clientID string) (Transaction, error) {
	var t Transaction
	err := s.db.GetContext(ctx, &t, `SELECT `+columns+` FROM transactions WHERE transaction_id = $1`, clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return Transaction{}, ErrNotFound
	}
	if err != nil {
		return Transaction{}, fmt.Errorf("get transaction: %w", err)
	}
	return t, nil
}

// Get returns a live (not deleted) transaction by the client's id, visible to
// ownerID; ownerID "" means any owner (admins). Others' transactions are
// ErrNotFound, so their existence is not revealed.
func (s *Store) Get(ctx context.Context, clientID, ownerID string) (Transaction, error) {
	t, err := s.byClientID(ctx, clientID)
	if err != nil {
		return Transaction{}, err
	}
	if t.DeletedAt.Valid || (ownerID != "" && t.UserID != ownerID) {
		return Transaction{}, ErrNotFound
	}
	return t, nil
}

// ByID returns a transaction by our UUID, deleted or not (for the worker).
func (s *Store) ByID(ctx context.Context, id string) (Transaction, error) {
	var t Transaction
	err := s.db.GetContext(ctx, &t, `SELECT `+columns+` FROM transactions WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Transaction{}, ErrNotFound
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "22P02" {
		return Transaction{}, ErrNotFound
	}
	if err != nil {
		return Transaction{}, fmt.Errorf("get transaction %s: %w", id, err)
	}
	return t, nil
}

// Events returns a transaction's events, oldest first.
func (s *Store) Events(ctx context.Context, id string) ([]Event, error) {
	events := []Event{}
	err := s.db.SelectContext(ctx, &events, `SELECT id, old_status, new_status, reason, actor_type, actor_id, metadata, created_at
		FROM transaction_events WHERE transaction_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return events, nil
}
