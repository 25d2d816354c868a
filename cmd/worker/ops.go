package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// opsMux serves /metrics and /health for the worker (it has no public API).
func opsMux(reg *prometheus.Registry, db *sqlx.DB, rdb redis.UniversalClient) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, code := map[string]string{"postgres": "ok", "redis": "ok"}, http.StatusOK
		if db.PingContext(ctx) != nil {
			status["postgres"], code = "down", http.StatusServiceUnavailable
		}
		if rdb.Ping(ctx).Err() != nil {
			status["redis"], code = "down", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(status)
	})
	return mux
}
