package transaction

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
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

	// Oldest lists oldest first (sort=created_at: a reviewer works the
	// TO_REVIEW queue in order); the default is newest first.
	Oldest bool
	// After continues a keyset listing strictly after this position (in the
	// listing's order); Offset is then ignored.
	After         *Position
	Limit, Offset int
}

// Position is where a keyset listing stopped: the (created_at, id) of the last
// row returned, the key of the indexes the listings read.
type Position struct {
	CreatedAt time.Time
	ID        string
}

// PositionOf is the position just after t.
func PositionOf(t Transaction) *Position { return &Position{CreatedAt: t.CreatedAt, ID: t.ID} }

// SQL is one statement and its arguments.
type SQL struct {
	Text string
	Args []any
}

// conditions is a WHERE clause under construction: each condition's "?"
// placeholders are numbered as its values join the arguments.
type conditions struct {
	where []string
	args  []any
}

func (w *conditions) add(cond string, v ...any) {
	for _, x := range v {
		w.args = append(w.args, x)
		cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.where = append(w.where, cond)
}

func (w *conditions) String() string { return strings.Join(w.where, " AND ") }

// filterConditions is the WHERE clause of a filter, shared by the list, the
// export and the summary so that the three always select the same rows.
func filterConditions(f Filter) *conditions {
	w := &conditions{}
	add := w.add
	w.where = append(w.where, "deleted_at IS NULL")
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
	return w
}

// ListQuery builds the SQL of a filtered page and of its (capped) count.
// Each filter is an equality on an indexed column, so Postgres picks the index of
// the most selective one (see the plan tests). With f.After the page starts
// with a row comparison on (created_at, id), which the same indexes answer by
// seeking to the position: the millionth row costs what the first does, while
// an OFFSET reads and discards every row before it.
func ListQuery(f Filter) (page, count SQL) {
	w := filterConditions(f)
	cond := w.String()
	// Counting stops after exactCountLimit+1 rows: an exact count of a
	// million-row listing costs seconds, a capped one milliseconds.
	count = SQL{fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM transactions WHERE %s LIMIT %d) capped`, cond, exactCountLimit+1), slices.Clone(w.args)}

	order, cmp := "DESC", "<"
	if f.Oldest {
		order, cmp = "ASC", ">"
	}
	if f.After != nil {
		w.add("(created_at, id) "+cmp+" (?, ?::uuid)", f.After.CreatedAt, f.After.ID)
		cond = w.String()
	}
	args := append(w.args, f.Limit)
	text := fmt.Sprintf(`SELECT %s FROM transactions WHERE %s ORDER BY created_at %s, id %s LIMIT $%d`, columns, cond, order, order, len(args))
	if f.After == nil && f.Offset > 0 {
		args = append(args, f.Offset)
		text += " OFFSET $" + strconv.Itoa(len(args))
	}
	return SQL{text, args}, count
}

// exactCountLimit is the largest total reported exactly; beyond it the total is
// Postgres's estimate and the page says so (total_estimated).
const exactCountLimit = 10_000

// List returns a page of transactions and the total that match; estimated is
// true when the total is the planner's estimate (more than exactCountLimit).
func (s *Store) List(ctx context.Context, f Filter) (items []Transaction, total int, estimated bool, err error) {
	page, count := ListQuery(f)
	if err := s.db.GetContext(ctx, &total, count.Text, count.Args...); err != nil {
		return nil, 0, false, fmt.Errorf("count transactions: %w", err)
	}
	if total > exactCountLimit {
		estimated = true
		if total, err = s.estimate(ctx, count); err != nil {
			return nil, 0, false, err
		}
		total = max(total, exactCountLimit+1)
	}
	items = []Transaction{}
	// An exact total tells that a page past it is empty; an estimate does not
	// (it can be short of the real count), so that page is read.
	if estimated || total > f.Offset {
		if err := s.db.SelectContext(ctx, &items, page.Text, page.Args...); err != nil {
			return nil, 0, false, fmt.Errorf("list transactions: %w", err)
		}
	}
	return items, total, estimated, nil
}

// Page returns up to f.Limit transactions of a keyset listing, without a count.
func (s *Store) Page(ctx context.Context, f Filter) ([]Transaction, error) {
	page, _ := ListQuery(f)
	items := []Transaction{}
	if err := s.db.SelectContext(ctx, &items, page.Text, page.Args...); err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	return items, nil
}

// estimate asks the planner how many rows the count query's filter matches.
func (s *Store) estimate(ctx context.Context, count SQL) (int, error) {
	where := count.Text[strings.Index(count.Text, " WHERE "):strings.LastIndex(count.Text, " LIMIT ")]
	var plan []byte
	if err := s.db.GetContext(ctx, &plan, `EXPLAIN (FORMAT JSON) SELECT 1 FROM transactions`+where, count.Args...); err != nil {
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
