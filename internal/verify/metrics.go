package verify

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's own series (the bank client has its own).
type Metrics struct {
	denials  *prometheus.CounterVec
	checks   *prometheus.CounterVec
	repaired prometheus.Counter
	late     prometheus.Histogram
	rebooked prometheus.Counter
}

// NewMetrics registers the verify metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bank_rate_limit_denials_total",
			Help: "Checks our limiter held back, by limit (per_transaction, global).",
		}, []string{"limit"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "verify_checks_total",
			Help: "Bank checks made by the worker, by outcome (confirmed, not_found, review, rate_limited, error).",
		}, []string{"outcome"}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sweeper_reenqueued_total",
			Help: "IN_PROGRESS transactions whose lost check the sweeper re-enqueued.",
		}),
		late: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bank_send_lateness_seconds",
			Help:    "How long after its booked slot in the global bank limit each check was sent (at most half of BANESCO_LIMIT_MARGIN).",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5},
		}),
		rebooked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bank_slots_rebooked_total",
			Help: "Checks that missed their slot by more than half of BANESCO_LIMIT_MARGIN and booked another before sending.",
		}),
	}
	reg.MustRegister(m.denials, m.checks, m.repaired, m.late, m.rebooked)
	return m
}

// Denied counts one denial (use as the Limiter's onDenied).
func (m *Metrics) Denied(limit string) {
	if m != nil {
		m.denials.WithLabelValues(limit).Inc()
	}
}

// Sent records one check let through the send gate (use as the Limiter's OnSend).
func (m *Metrics) Sent(s SendInfo) {
	if m == nil {
		return
	}
	m.late.Observe(s.Late.Seconds())
	if s.Rebooked {
		m.rebooked.Inc()
	}
}

func (m *Metrics) check(outcome string) {
	if m != nil {
		m.checks.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) repair(n int) {
	if m != nil {
		m.repaired.Add(float64(n))
	}
}
