// Package metrics holds the Prometheus plumbing the API and the worker share:
// the registry with the Go and process collectors, the HTTP request metrics fed
// by httpserver's hooks, and collectors that read pool statistics (Postgres,
// Redis) and the transactions that need an operator's eye at scrape time.
// Domain metrics (transactions, bank, limiter) live in their own packages.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format. A collector that fails
// (a database down at scrape time) leaves its series out instead of failing the
// whole scrape, so the process's own series keep flowing.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorHandling: promhttp.ContinueOnError})
}
