package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// HTTP are the request metrics of a Fiber app, labelled by route template
// (httpserver passes the matched route, never the raw path with its ids).
//
//	http_requests_total{method,route,status}
//	http_request_duration_seconds{method,route}
//	http_requests_in_flight
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// NewHTTP registers the HTTP metrics on reg.
func NewHTTP(reg prometheus.Registerer) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route template.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// Observe records one finished request (httpserver.Options.Observe).
func (m *HTTP) Observe(method, route string, status int, elapsed time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// methodLabel maps a method to one of a fixed set of constants. Fiber's
// c.Method() points into a buffer it reuses for the next request, so the label
// must never keep that string; the fixed set also bounds the cardinality.
func methodLabel(m string) string {
	for _, known := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// InFlight moves the in-flight gauge (httpserver.Options.InFlight).
func (m *HTTP) InFlight(delta int) { m.inFlight.Add(float64(delta)) }

// Hook installs the metrics in the server options (api.Deps.HTTPOptions).
func (m *HTTP) Hook(o *httpserver.Options) {
	o.Observe = m.Observe
	o.InFlight = m.InFlight
}
