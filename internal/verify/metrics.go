package verify

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's own series (the bank client has its own).
type Metrics struct {
	denials  *prometheus.CounterVec
	checks   *prometheus.CounterVec
	repaired prometheus.Counter
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
	}
	reg.MustRegister(m.denials, m.checks, m.repaired)
	return m
}

// Denied counts one denial (use as the Limiter's onDenied).
func (m *Metrics) Denied(limit string) {
	if m != nil {
		m.denials.WithLabelValues(limit).Inc()
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
