package transaction

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter narrows GET /api/v1/transactions. Zero values mean "any".
type Filter struct {
	OwnerID         string // "" for admins (all owners)
	Status          string
	Bank            string
	TransactionType string
	Reference       string
	Phone           string
	NationalID      string
	From, To        time.Time // created_at day range in Venezuela time, inclusive
	Limit, Offset   int
}

// ListQuery builds the SQL of a filtered page (newest first) and of its count.
// Each filter is an equality on an indexed column, so Postgres picks the index of
// the most selective one (see the plan tests).
func ListQuery(f Filter) (query, count string, args []any) {
	var where []string
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	where = append(where, "deleted_at IS NULL")
	if f.OwnerID != "" {
		add("user_id = ?", f.OwnerID)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Bank != "" {
		add("bank = ?", f.Bank)
	}
	if f.TransactionType != "" {
		add("transaction_type = ?", f.TransactionType)
	}
	if f.Reference != "" {
		add("reference = ?", f.Reference)
	}
	if f.Phone != "" {
		add("customer_phone = ?", f.Phone)
	}
	if f.NationalID != "" {
		add("customer_national_id = ?", f.NationalID)
	}
	if !f.From.IsZero() {
		add("created_at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("created_at < ?", f.To)
	}
	cond := strings.Join(where, " AND ")
	count = `SELECT count(*) FROM transactions WHERE ` + cond
	n := len(args)
	query = fmt.Sprintf(`SELECT %s FROM transactions WHERE %s ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, columns, cond, n+1, n+2)
	return query, count, args
}

// List returns a page of transactions and the total that match.
func (s *Store) List(ctx context.Context, f Filter) ([]Transaction, int, error) {
	query, count, args := ListQuery(f)
	var total int
	if err := s.db.GetContext(ctx, &total, count, args...); err != nil {
		return nil, 0, fmt.Errorf("count transactions: %w", err)
	}
	items := []Transaction{}
	if total > f.Offset {
		if err := s.db.SelectContext(ctx, &items, query, append(args, f.Limit, f.Offset)...); err != nil {
			return nil, 0, fmt.Errorf("list transactions: %w", err)
		}
	}
	return items, total, nil
}
