package transaction

import (
	"context"
	"fmt"
	"time"
)

// Gauges are the figures an operator watches, read at scrape time: how many
// live transactions sit in each non-final status, how many IN_PROGRESS ones
// are past their deadline or overdue by more than a grace, and how late the
// most overdue check is. Each is one indexed count over live, non-final rows
// (transactions_status_created_idx, transactions_due_idx).
type Gauges struct {
	InProgress    int64   `db:"in_progress"`
	ToReview      int64   `db:"to_review"`
	Unknown       int64   `db:"unknown"`
	PastDeadline  int64   `db:"past_deadline"`
	Overdue       int64   `db:"overdue"`
	OldestOverdue float64 `db:"oldest_overdue"` // seconds; 0 when none is overdue
}

const gaugesQuery = `SELECT
	(SELECT count(*) FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL) AS in_progress,
	(SELECT count(*) FROM transactions WHERE status = 'TO_REVIEW' AND deleted_at IS NULL) AS to_review,
	(SELECT count(*) FROM transactions WHERE status = 'UNKNOWN' AND deleted_at IS NULL) AS unknown,
	(SELECT count(*) FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL AND deadline_at < now()) AS past_deadline,
	(SELECT count(*) FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL
		AND next_check_at < now() - make_interval(secs => $1)) AS overdue,
	(SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(next_check_at)), 0)::float8 FROM transactions
		WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL AND next_check_at < now()) AS oldest_overdue`

// Gauges reads the watch figures; grace is how late a check may be before it
// counts as overdue.
func (s *Store) Gauges(ctx context.Context, grace time.Duration) (Gauges, error) {
	var g Gauges
	if err := s.db.GetContext(ctx, &g, gaugesQuery, grace.Seconds()); err != nil {
		return Gauges{}, fmt.Errorf("read transaction gauges: %w", err)
	}
	return g, nil
}

// Stuck is one transaction an operator may need to look at.
type Stuck struct {
	ID            string     `db:"id"`
	TransactionID string     `db:"transaction_id"`
	Status        Status     `db:"status"`
	Attempts      int        `db:"attempts"`
	NextCheckAt   *time.Time `db:"next_check_at"`
	DeadlineAt    time.Time  `db:"deadline_at"`
	UpdatedAt     time.Time  `db:"updated_at"`
	Reason        string     `db:"status_reason"`
	TaskSeq       int        `db:"task_seq"`
}

// stuckQuery reads each kind through its index (transactions_due_idx,
// transactions_status_created_idx).
const stuckQuery = `
(SELECT id, transaction_id, status, attempts, next_check_at, deadline_at, updated_at, COALESCE(status_reason, '') AS status_reason, task_seq
	FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL AND next_check_at < $1
	ORDER BY next_check_at LIMIT $2)
UNION ALL
(SELECT id, transaction_id, status, attempts, next_check_at, deadline_at, updated_at, COALESCE(status_reason, '') AS status_reason, task_seq
	FROM transactions WHERE status = 'UNKNOWN' AND deleted_at IS NULL ORDER BY created_at DESC LIMIT $2)
UNION ALL
(SELECT id, transaction_id, status, attempts, next_check_at, deadline_at, updated_at, COALESCE(status_reason, '') AS status_reason, task_seq
	FROM transactions WHERE status = 'TO_REVIEW' AND deleted_at IS NULL ORDER BY created_at DESC LIMIT $2)`

// Stuck lists, up to limit of each kind, IN_PROGRESS transactions whose check
// was due before `before`, then UNKNOWN and TO_REVIEW ones, newest first.
func (s *Store) Stuck(ctx context.Context, before time.Time, limit int) ([]Stuck, error) {
	rows := []Stuck{}
	if err := s.db.SelectContext(ctx, &rows, stuckQuery, before, limit); err != nil {
		return nil, fmt.Errorf("list stuck transactions: %w", err)
	}
	return rows, nil
}
