package transaction

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the business counters: what users create and how long they wait.
type Metrics struct {
	createdTotal     *prometheus.CounterVec
	transitionsTotal *prometheus.CounterVec
	timeToFinal      *prometheus.HistogramVec
	claimsRefused    *prometheus.CounterVec
}

// NewMetrics registers the transaction metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		createdTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transactions_created_total", Help: "Transactions created, by bank and type.",
		}, []string{"bank", "transaction_type"}),
		transitionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transaction_status_transitions_total", Help: "Status changes, by old and new status.",
		}, []string{"from", "to"}),
		timeToFinal: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "transaction_verification_seconds",
			Help:    "Time from creation to a status other than IN_PROGRESS, by that status: the wait users feel.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
		}, []string{"status"}),
		claimsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payment_claims_refused_total",
			Help: "Bank checks whose payment already confirmed another transaction, by cause (already_claimed: held when the check looked; race_lost: claimed by another check in the same instant). Can mean fraud.",
		}, []string{"cause"}),
	}
	for _, cause := range []string{ClaimAlreadyClaimed, ClaimRaceLost} {
		m.claimsRefused.WithLabelValues(cause) // exported at 0, so rate() and alerts see the series from the start
	}
	reg.MustRegister(m.createdTotal, m.transitionsTotal, m.timeToFinal, m.claimsRefused)
	return m
}

func (m *Metrics) created(bank, typ string) {
	if m != nil {
		m.createdTotal.WithLabelValues(bank, typ).Inc()
	}
}

func (m *Metrics) transition(from, to Status, sinceCreate time.Duration) {
	if m == nil {
		return
	}
	m.transitionsTotal.WithLabelValues(string(from), string(to)).Inc()
	if from == StatusInProgress {
		m.timeToFinal.WithLabelValues(string(to)).Observe(sinceCreate.Seconds())
	}
}

func (m *Metrics) claimRefused(cause string) {
	if m != nil && cause != "" {
		m.claimsRefused.WithLabelValues(cause).Inc()
	}
}
