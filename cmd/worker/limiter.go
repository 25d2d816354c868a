package main

import (
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/config"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// bankLimiter is the bank limiter every replica shares (Redis for the global
// rate, Postgres for each reference), as the worker builds it; `worker bank`
// builds the same one, so its checks spend the workers' budget. onDenied and
// onSend may be nil.
func bankLimiter(cfg config.Config, rdb redis.UniversalClient, db *sqlx.DB, onDenied func(string), onSend func(verify.SendInfo)) *verify.Limiter {
	return verify.NewLimiter(rdb, db, cfg.BanescoMaxRPS, cfg.BanescoPerTxPerMinute, onDenied).
		WithMargin(cfg.BanescoLimitMargin).OnSend(onSend)
}
