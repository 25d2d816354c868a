package metrics

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Transactions reads, at scrape time, the transactions an operator must watch:
// how many sit in each non-final status, how many IN_PROGRESS ones are past their
// deadline, and how late the most overdue check is. Each figure is one indexed
// count over the live, non-final rows (transactions_status_created_idx,
// transactions_due_idx), never a scan of the settled history.
//
//	transactions_in_status{status}              IN_PROGRESS, TO_REVIEW, UNKNOWN
//	transactions_past_deadline                  IN_PROGRESS with deadline_at < now()
//	transactions_overdue_checks                 IN_PROGRESS with next_check_at < now() - grace
//	transactions_oldest_overdue_check_seconds   now() - the oldest overdue next_check_at (0: none)
//
// Register it in one process (the API); several API replicas report the same
// numbers, so alerts aggregate with max().
type Transactions struct {
	db      *sqlx.DB
	grace   time.Duration
	timeout time.Duration
	log     zerolog.Logger
}

// NewTransactions returns the collector; grace is how late a check may be before
// it counts as overdue (the sweeper's grace plus the queue's normal delay).
func NewTransactions(db *sqlx.DB, grace time.Duration, log zerolog.Logger) *Transactions {
	return &Transactions{db: db, grace: grace, timeout: 3 * time.Second, log: log}
}

var (
	txInStatusDesc = prometheus.NewDesc("transactions_in_status",
		"Live transactions in a non-final status (IN_PROGRESS, TO_REVIEW, UNKNOWN).", []string{"status"}, nil)
	txPastDeadlineDesc = prometheus.NewDesc("transactions_past_deadline",
		"IN_PROGRESS transactions whose verification deadline has passed (they should be UNKNOWN by now).", nil, nil)
	txOverdueDesc = prometheus.NewDesc("transactions_overdue_checks",
		"IN_PROGRESS transactions whose next check is overdue by more than the grace period.", nil, nil)
	txOldestOverdueDesc = prometheus.NewDesc("transactions_oldest_overdue_check_seconds",
		"How long ago the most overdue check of an IN_PROGRESS transaction was due (0 when none is overdue).", nil, nil)
	txScrapeErrorDesc = prometheus.NewDesc("transactions_scrape_error",
		"1 when the last read of the transaction gauges failed (the gauges are then missing).", nil, nil)
)

const transactionGaugesQuery = `SELECT
	(SELECT count(*) FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL) AS in_progress,
	(SELECT count(*) FROM transactions WHERE status = 'TO_REVIEW' AND deleted_at IS NULL) AS to_review,
	(SELECT count(*) FROM transactions WHERE status = 'UNKNOWN' AND deleted_at IS NULL) AS unknown,
	(SELECT count(*) FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL AND deadline_at < now()) AS past_deadline,
	(SELECT count(*) FROM transactions WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL
		AND next_check_at < now() - make_interval(secs => $1)) AS overdue,
	(SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(next_check_at)), 0)::float8 FROM transactions
		WHERE status = 'IN_PROGRESS' AND deleted_at IS NULL AND next_check_at < now()) AS oldest_overdue`

type transactionGauges struct {
	InProgress    int64   `db:"in_progress"`
	ToReview      int64   `db:"to_review"`
	Unknown       int64   `db:"unknown"`
	PastDeadline  int64   `db:"past_deadline"`
	Overdue       int64   `db:"overdue"`
	OldestOverdue float64 `db:"oldest_overdue"`
}

// Describe implements prometheus.Collector.
func (c *Transactions) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{txInStatusDesc, txPastDeadlineDesc, txOverdueDesc, txOldestOverdueDesc, txScrapeErrorDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Transactions) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var g transactionGauges
	if err := c.db.GetContext(ctx, &g, transactionGaugesQuery, c.grace.Seconds()); err != nil {
		c.log.Warn().Err(err).Msg("metrics: read transaction gauges")
		ch <- prometheus.MustNewConstMetric(txScrapeErrorDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(txScrapeErrorDesc, prometheus.GaugeValue, 0)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(txInStatusDesc, float64(g.InProgress), "IN_PROGRESS")
	gauge(txInStatusDesc, float64(g.ToReview), "TO_REVIEW")
	gauge(txInStatusDesc, float64(g.Unknown), "UNKNOWN")
	gauge(txPastDeadlineDesc, float64(g.PastDeadline))
	gauge(txOverdueDesc, float64(g.Overdue))
	gauge(txOldestOverdueDesc, g.OldestOverdue)
}
