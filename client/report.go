package client

import (
	"context"
	"io"
	"net/http"
)

// Reconciliation: the summary and the CSV export (docs/api.md,
// "Reconciliation").

// GroupBy is the grouping of a Summary.
type GroupBy string

// Groupings.
const (
	GroupByDay    GroupBy = "day" // the creation day in Venezuela
	GroupByBank   GroupBy = "bank"
	GroupByStatus GroupBy = "status"
)

// Tally is a count of transactions and the exact sum of their amounts, a
// decimal string ("0.00" when none). WithAmount counts those that had one.
type Tally struct {
	Count      int    `json:"count"`
	Amount     string `json:"amount"`
	WithAmount int    `json:"with_amount"`
}

// SummaryGroup is one day, bank or status, split by status (every status is
// present).
type SummaryGroup struct {
	Key        string                      `json:"key"`
	Count      int                         `json:"count"`
	Amount     string                      `json:"amount"`
	WithAmount int                         `json:"with_amount"`
	ByStatus   map[TransactionStatus]Tally `json:"by_status"`
}

// Summary is the reconciliation summary.
type Summary struct {
	GroupBy  GroupBy        `json:"group_by"`
	FromDate *string        `json:"from_date"`
	ToDate   *string        `json:"to_date"`
	TimeZone string         `json:"time_zone"`
	Groups   []SummaryGroup `json:"groups"`
	Total    SummaryGroup   `json:"total"`
}

// Summary counts and sums the transactions o selects (yours; an admin's: all)
// per group (GroupByDay when empty). o.Sort, o.Page and o.Size are ignored.
func (c *Client) Summary(ctx context.Context, groupBy GroupBy, o ListOptions) (Summary, error) {
	q := o.filters()
	q.Del("sort")
	if groupBy != "" {
		q.Set("group_by", string(groupBy))
	}
	var s Summary
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/reports/summary", query: q, out: &s, auth: true, retryable: true})
	return s, err
}

// ExportTransactions writes the CSV export of what o selects to w (oldest
// first unless o.Sort says otherwise) and returns the bytes written. The
// export streams: ctx, not the client's timeout, bounds it. An error after
// bytes were written means the server or the connection cut the transfer:
// what w holds is incomplete and must not be used as the export.
func (c *Client) ExportTransactions(ctx context.Context, o ListOptions, w io.Writer) (int64, error) {
	rep, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/transactions/export", query: o.filters(),
		stream: w, accept: "text/csv", auth: true, retryable: true})
	return rep.streamed, err
}
