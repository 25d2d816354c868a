package banesco

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts bank traffic. A nil *Metrics records nothing, so tests and
// tools can leave it out.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       prometheus.Histogram
	tokens         *prometheus.CounterVec
	authRejections *prometheus.CounterVec
	connectRetries prometheus.Counter
	tokenRefusals  *prometheus.CounterVec
	available      *prometheus.GaugeVec
}

// NewMetrics creates the bank metrics and registers them on reg (nil: not
// registered). Registering twice on the same registry reuses the collectors
// already there instead of panicking, so two clients can share them.
//
//	bank_requests_total{outcome}            outcome: bank status code ("200", "70001", "VRN05", ...),
//	                                        HTTP status when there was no envelope, "other" for
//	                                        unknown codes, or "timeout" / "network" / "malformed" / "canceled"
//	bank_request_duration_seconds           one observation per check call
//	bank_token_requests_total{result}       result: "ok" | "error"
//	bank_auth_rejections_total{http_status} 401/403 answers to checks
//	bank_connect_retries_total              checks re-sent because the first try never reached the bank
//	bank_token_refusals_total{error}        token requests the bank refused (unauthorized_client, invalid_client, …)
//	bank_available{part}                    1 when the last call got a real answer, 0 when it did not; part: token, check
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bank_requests_total",
			Help: "Transaction checks sent to the bank, by normalised bank status code or transport failure.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bank_request_duration_seconds",
			Help:    "Duration of one transaction check call to the bank.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bank_token_requests_total",
			Help: "OAuth token requests sent to the bank, by result.",
		}, []string{"result"}),
		authRejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bank_auth_rejections_total",
			Help: "Checks the bank rejected for authentication (401/403), by HTTP status.",
		}, []string{"http_status"}),
		connectRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bank_connect_retries_total",
			Help: "Checks sent again because the connection failed before the request reached the bank.",
		}),
		tokenRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bank_token_refusals_total",
			Help: "Token requests the bank refused, by OAuth error (unauthorized_client: the grant type is not enabled for this client).",
		}, []string{"error"}),
		available: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bank_available",
			Help: "1 when the last token request (part=token) or check (part=check) got a real answer from the bank, 0 when it failed (refused token, maintenance, 5xx, unreachable).",
		}, []string{"part"}),
	}
	if reg != nil {
		m.connectRetries = register(reg, m.connectRetries)
		m.tokenRefusals = register(reg, m.tokenRefusals)
		m.available = register(reg, m.available)
		m.requests = register(reg, m.requests)
		m.duration = register(reg, m.duration)
		m.tokens = register(reg, m.tokens)
		m.authRejections = register(reg, m.authRejections)
	}
	return m
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with a different metric is a programming error
	}
	return c
}

func (m *Metrics) observeCheck(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(outcome).Inc()
	m.duration.Observe(d.Seconds())
}

func (m *Metrics) observeToken(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.tokens.WithLabelValues(result).Inc()
}

func (m *Metrics) observeAuthRejection(httpStatus int) {
	if m == nil {
		return
	}
	m.authRejections.WithLabelValues(strconv.Itoa(httpStatus)).Inc()
}

func (m *Metrics) observeConnectRetry() {
	if m != nil {
		m.connectRetries.Inc()
	}
}

func (m *Metrics) observeTokenRefusal(code string) {
	if m == nil {
		return
	}
	switch code {
	case "unauthorized_client", "invalid_client", "invalid_grant", "unsupported_grant_type", "invalid_scope":
	default:
		code = "other" // bounded label set
	}
	m.tokenRefusals.WithLabelValues(code).Inc()
}

// setAvailable records whether the bank's token endpoint or check endpoint
// answered for real.
func (m *Metrics) setAvailable(part string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.available.WithLabelValues(part).Set(v)
}
