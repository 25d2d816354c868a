package transaction

import (
	"context"
	"encoding/json"
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
		// By digits, as duplicate_reference compares: "000123456" finds "123456".
		add("reference_digits = ?", ReferenceDigits(f.Reference))
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
	// Counting stops after exactCountLimit+1 rows: an exact count of a
	// million-row listing costs seconds, a capped one milliseconds.
	count = fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM transactions WHERE %s LIMIT %d) capped`, cond, exactCountLimit+1)
	n := len(args)
	query = fmt.Sprintf(`SELECT %s FROM transactions WHERE %s ORDER BY created_at DESC, id DESC LIMIT $%d OFFSET $%d`, columns, cond, n+1, n+2)
	return query, count, args
}

// exactCountLimit is the largest total reported exactly; beyond it the total is
// Postgres's estimate and the page says so (total_estimated).
const exactCountLimit = 10_000

// List returns a page of transactions and the total that match; estimated is
// true when the total is the planner's estimate (more than exactCountLimit).
func (s *Store) List(ctx context.Context, f Filter) (items []Transaction, total int, estimated bool, err error) {
	query, count, args := ListQuery(f)
	if err := s.db.GetContext(ctx, &total, count, args...); err != nil {
		return nil, 0, false, fmt.Errorf("count transactions: %w", err)
	}
	if total > exactCountLimit {
		estimated = true
		if total, err = s.estimate(ctx, query, args); err != nil {
			return nil, 0, false, err
		}
		total = max(total, exactCountLimit+1)
	}
	items = []Transaction{}
	// An exact total tells that a page past it is empty; an estimate does not
	// (it can be short of the real count), so that page is read.
	if estimated || total > f.Offset {
		if err := s.db.SelectContext(ctx, &items, query, append(args, f.Limit, f.Offset)...); err != nil {
			return nil, 0, false, fmt.Errorf("list transactions: %w", err)
		}
	}
	return items, total, estimated, nil
}

// estimate asks the planner how many rows the page query's filter matches.
func (s *Store) estimate(ctx context.Context, query string, args []any) (int, error) {
	where := query[strings.Index(query, " WHERE "):strings.Index(query, " ORDER BY ")]
	var plan []byte
	if err := s.db.GetContext(ctx, &plan, `EXPLAIN (FORMAT JSON) SELECT 1 FROM transactions`+where, args...); err != nil {
		return 0, fmt.Errorf("estimate transactions: %w", err)
	}
	var out []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &out); err != nil || len(out) == 0 {
		return 0, fmt.Errorf("estimate transactions: read plan: %v", err)
	}
	return int(out[0].Plan.Rows), nil
}

// ReferenceDigits is a reference without its leading zeros ("0" for all
// zeros), the form references are compared in (transactions.reference_digits).
func ReferenceDigits(ref string) string {
	if t := strings.TrimLeft(ref, "0"); t != "" {
		return t
	}
	if ref == "" {
		return ""
	}
	return "0"
}
