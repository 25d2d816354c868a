package webhook

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the delivery counters of a worker. A nil *Metrics records nothing.
//
//	webhook_deliveries_total{outcome}     succeeded, retry, failed, disabled (to a disabled endpoint)
//	webhook_delivery_seconds              status change (event written) → receiver's 2xx
//	webhook_endpoints_disabled_total      endpoints disabled after WEBHOOK_DISABLE_AFTER of failures
type Metrics struct {
	deliveries *prometheus.CounterVec
	seconds    prometheus.Histogram
	disables   prometheus.Counter
}

// NewMetrics registers the delivery metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "webhook_deliveries_total", Help: "Webhook delivery attempts, by outcome (succeeded, retry, failed, disabled).",
		}, []string{"outcome"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "webhook_delivery_seconds", Help: "From the status change (the event written) to the receiver's 2xx.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 7200},
		}),
		disables: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "webhook_endpoints_disabled_total", Help: "Endpoints disabled after failing for WEBHOOK_DISABLE_AFTER.",
		}),
	}
	for _, o := range []string{"succeeded", "retry", "failed", "disabled"} {
		m.deliveries.WithLabelValues(o)
	}
	reg.MustRegister(m.deliveries, m.seconds, m.disables)
	return m
}

func (m *Metrics) delivery(outcome string) {
	if m != nil {
		m.deliveries.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) latency(d time.Duration) {
	if m != nil {
		m.seconds.Observe(d.Seconds())
	}
}

func (m *Metrics) disabled() {
	if m != nil {
		m.disables.Inc()
	}
}

// Gauges is a scrape-time collector of the delivery backlog (register it in
// one process, the API):
//
//	webhook_deliveries_pending                   pending deliveries
//	webhook_oldest_pending_delivery_seconds      age of the oldest pending delivery
//	webhook_endpoints_disabled                   endpoints currently disabled
//	webhook_deliveries_overdue                   pending deliveries due over 2 min ago
//	webhook_scrape_error                         1 when reading them failed
type Gauges struct{ store *Store }

// NewGauges returns the collector.
func NewGauges(store *Store) *Gauges { return &Gauges{store: store} }

var (
	pendingDesc  = prometheus.NewDesc("webhook_deliveries_pending", "Webhook deliveries not yet succeeded or failed.", nil, nil)
	oldestDesc   = prometheus.NewDesc("webhook_oldest_pending_delivery_seconds", "Age of the oldest pending webhook delivery.", nil, nil)
	disabledDesc = prometheus.NewDesc("webhook_endpoints_disabled", "Webhook endpoints currently disabled.", nil, nil)
	overdueDesc  = prometheus.NewDesc("webhook_deliveries_overdue", "Pending webhook deliveries due more than 2 minutes ago (lost task or starved workers).", nil, nil)
	scrapeDesc   = prometheus.NewDesc("webhook_scrape_error", "1 when the last read of the webhook gauges failed (they are then missing).", nil, nil)
)

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- oldestDesc
	ch <- disabledDesc
	ch <- overdueDesc
	ch <- scrapeDesc
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	b, err := g.store.Backlog(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, 0)
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, b.OldestPending)
	ch <- prometheus.MustNewConstMetric(disabledDesc, prometheus.GaugeValue, float64(b.Disabled))
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(b.Overdue))
}
