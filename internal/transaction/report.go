package transaction

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// The reconciliation summary (GET /api/v1/reports/summary): how many
// transactions, and how much money, per day, bank or status, each split by
// status, so an accounting team can hold the day against the bank statement.

// Groupings of the summary.
const (
	GroupByDay    = "day"    // the day of created_at in Venezuela (America/Caracas)
	GroupByBank   = "bank"   // BANESCO, MOBILE_TRANSFER
	GroupByStatus = "status" // one group per status
)

// groupKeys are the SQL expressions of the groupings. The day is the creation
// day in Caracas, the same day from_date and to_date select.
var groupKeys = map[string]string{
	GroupByDay:    `to_char(created_at AT TIME ZONE 'America/Caracas', 'YYYY-MM-DD')`,
	GroupByBank:   `bank::text`,
	GroupByStatus: `status::text`,
}

// Tally is a count of transactions and the sum of their amounts ("0.00" when
// none had one). WithAmount says how many had an amount: a transaction sent
// without one counts but adds nothing to the sum.
type Tally struct {
	Count      int    `json:"count" db:"count"`
	Amount     string `json:"amount" db:"amount"`
	WithAmount int    `json:"with_amount" db:"with_amount"`
}

// SummaryGroup is one group of the summary, split by status (every status is
// present, zero when none).
type SummaryGroup struct {
	Key string `json:"key"`
	Tally
	ByStatus map[Status]Tally `json:"by_status"`
}

// Summary is the reply of GET /api/v1/reports/summary.
type Summary struct {
	GroupBy  string         `json:"group_by"`
	FromDate *string        `json:"from_date"`
	ToDate   *string        `json:"to_date"`
	TimeZone string         `json:"time_zone"`
	Groups   []SummaryGroup `json:"groups"`
	Total    SummaryGroup   `json:"total"`
}

// AllStatuses in the order reports list them.
var AllStatuses = []Status{StatusInProgress, StatusCompleted, StatusToReview, StatusUnknown, StatusCanceled}

func zeroByStatus() map[Status]Tally {
	m := make(map[Status]Tally, len(AllStatuses))
	for _, s := range AllStatuses {
		m[s] = Tally{Amount: "0.00"}
	}
	return m
}

// Summary aggregates the transactions a filter selects, grouped by groupBy.
// Postgres does every sum (numeric, exact) in one statement: GROUPING SETS
// give the cells (group × status), the group totals, the status totals and
// the grand total in one pass over the rows.
func (s *Store) Summary(ctx context.Context, f Filter, groupBy string) (Summary, error) {
	key, ok := groupKeys[groupBy]
	if !ok {
		return Summary{}, fmt.Errorf("summary: unknown grouping %q", groupBy)
	}
	w := filterConditions(f)
	// The key is a column of its own (the subquery), so that grouping by
	// status keeps "this status" and "every status" apart.
	query := fmt.Sprintf(`SELECT COALESCE(k, '') AS key, COALESCE(s, '') AS status,
			GROUPING(k) AS all_keys, GROUPING(s) AS all_statuses,
			count(*) AS count, count(amount) AS with_amount,
			to_char(COALESCE(sum(amount), 0), 'FM999999999999999990.00') AS amount
		FROM (SELECT %s AS k, status::text AS s, amount FROM transactions WHERE %s) rows
		GROUP BY GROUPING SETS ((k, s), (k), (s), ())
		ORDER BY 1, 2`, key, w)
	var rows []struct {
		Key         string `db:"key"`
		Status      Status `db:"status"`
		AllKeys     int    `db:"all_keys"`
		AllStatuses int    `db:"all_statuses"`
		Tally
	}
	if err := s.db.SelectContext(ctx, &rows, query, w.args...); err != nil {
		return Summary{}, fmt.Errorf("summary: %w", err)
	}
	out := Summary{GroupBy: groupBy, TimeZone: "America/Caracas", Groups: []SummaryGroup{},
		Total: SummaryGroup{Key: "total", Tally: Tally{Amount: "0.00"}, ByStatus: zeroByStatus()}}
	index := map[string]int{}
	group := func(k string) *SummaryGroup {
		i, ok := index[k]
		if !ok {
			i = len(out.Groups)
			index[k] = i
			out.Groups = append(out.Groups, SummaryGroup{Key: k, Tally: Tally{Amount: "0.00"}, ByStatus: zeroByStatus()})
		}
		return &out.Groups[i]
	}
	for _, r := range rows { // ordered by key: groups come out in key order
		switch {
		case r.AllKeys == 1 && r.AllStatuses == 1:
			out.Total.Tally = r.Tally
		case r.AllKeys == 1:
			out.Total.ByStatus[r.Status] = r.Tally
		case r.AllStatuses == 1:
			group(r.Key).Tally = r.Tally
		default:
			group(r.Key).ByStatus[r.Status] = r.Tally
		}
	}
	return out, nil
}

// Summary answers GET /api/v1/reports/summary: the caller's transactions
// (admins: all) under the list's filters, grouped by ?group_by (default day).
func (h *Handler) Summary(c *fiber.Ctx) error {
	f, err := parseFilter(c)
	groupBy := c.Query("group_by", GroupByDay)
	if _, ok := groupKeys[groupBy]; !ok {
		err = httpserver.MergeValidation(err, httpserver.Validation(map[string]string{"group_by": "must be day, bank or status"}))
	}
	if err != nil {
		return err
	}
	f.OwnerID = owner(c)
	sum, err := h.store.Summary(c.UserContext(), f, groupBy)
	if err != nil {
		return err
	}
	if !f.From.IsZero() {
		d := f.From.In(Caracas).Format(time.DateOnly)
		sum.FromDate = &d
	}
	if !f.To.IsZero() {
		d := f.To.In(Caracas).AddDate(0, 0, -1).Format(time.DateOnly) // To is the day after, exclusive
		sum.ToDate = &d
	}
	return c.JSON(sum)
}
