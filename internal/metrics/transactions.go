package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/transaction"
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
	store   GaugeReader
	grace   time.Duration
	timeout time.Duration
	log     zerolog.Logger
}

// GaugeReader is what the collector reads (transaction.Store).
type GaugeReader interface {
	Gauges(ctx context.Context, grace time.Duration) (transaction.Gauges, error)
}

// NewTransactions returns the collector; grace is how late a check may be before
// it counts as overdue (the sweeper's grace plus the queue's normal delay).
func NewTransactions(store GaugeReader, grace time.Duration, log zerolog.Logger) *Transactions {
	return &Transactions{store: store, grace: grace, timeout: 3 * time.Second, log: log}
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
	g, err := c.store.Gauges(ctx, c.grace)
	if err != nil {
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
