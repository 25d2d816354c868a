// Package api is the route table of the public HTTP interface (docs/api.md):
// every route, its middleware and its handler, in one readable place. Handlers
// live in their domain packages; this package only wires them.
package api

import (
	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/health"
	"github.com/banesco-verifier/verifier/internal/httpserver"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/webhook"
)

// Deps are the already-built pieces the routes need; main builds them.
type Deps struct {
	Logger           zerolog.Logger
	Redis            redis.UniversalClient
	Auth             *auth.Service
	Health           *health.Checker
	CORSOrigins      []string
	RateLimit        int // requests per minute per client
	RegistrationOpen bool
	Transactions     *transaction.Handler
	Webhooks         *webhook.Handler
	HTTPOptions      func(*httpserver.Options) // optional hook (metrics)

	// Operations (ops.go): the Prometheus registry served at /metrics (nil: no
	// /metrics) and the Asynq connection for the /monitoring dashboard.
	Registry     *prometheus.Registry
	AsynqRedis   asynq.RedisConnOpt
	MonitoringRO bool
}

// New builds the Fiber app with every route.
func New(d Deps) *fiber.App {
	opts := httpserver.Options{Logger: d.Logger, CORSOrigins: d.CORSOrigins}
	if d.HTTPOptions != nil {
		d.HTTPOptions(&opts)
	}
	app := httpserver.New(opts)
	limiter := httpserver.NewRateLimiter(d.Redis, d.RateLimit, d.Logger)
	authn := d.Auth.RequireAuth()
	limit := limiter.Middleware(auth.RateLimitKey)
	ah := auth.NewHandler(d.Auth, d.RegistrationOpen)

	mountOps(app, d)
	mountDocs(app, d)

	app.Get("/health/live", health.Live)
	app.Get("/health/ready", d.Health.Ready)

	v1 := app.Group("/api/v1")
	v1.Post("/auth/register", limit, ah.Register)
	v1.Post("/auth/login", limit, ah.Login)
	v1.Post("/auth/refresh", limit, ah.Refresh)
	v1.Post("/auth/logout", authn, limit, ah.Logout)
	v1.Get("/auth/me", authn, limit, ah.Me)

	admin := auth.Require(auth.PermAdmin)
	v1.Get("/users", authn, limit, admin, ah.ListUsers)
	v1.Put("/users/:id/permissions", authn, limit, admin, ah.SetPermissions)
	v1.Patch("/users/:id", authn, limit, admin, ah.PatchUser)

	// API keys (docs/api.md, "API keys"): every user manages their own keys
	// (admins everyone's) with a login; requests made with a key are refused.
	v1.Post("/api-keys", authn, limit, auth.DenyAPIKeys, ah.CreateAPIKey)
	v1.Get("/api-keys", authn, limit, auth.DenyAPIKeys, ah.ListAPIKeys)
	v1.Delete("/api-keys/:id", authn, limit, auth.DenyAPIKeys, ah.RevokeAPIKey)

	th := d.Transactions
	can := func(perm string) []fiber.Handler { return []fiber.Handler{authn, limit, auth.Require(perm)} }
	route := func(h fiber.Handler, perm string) []fiber.Handler { return append(can(perm), h) }
	v1.Post("/transactions", route(th.Create, auth.PermTransactionCreate)...)
	v1.Get("/transactions", route(th.List, auth.PermTransactionRead)...)
	// Before /transactions/:transaction_id, which would take "export" for an id
	// (the id "export" is reserved at creation for that reason).
	v1.Get("/transactions/export", route(th.Export, auth.PermTransactionRead)...)
	v1.Get("/reports/summary", route(th.Summary, auth.PermTransactionRead)...)
	v1.Get("/transactions/:transaction_id", route(th.Get, auth.PermTransactionRead)...)
	v1.Get("/transactions/:transaction_id/status", route(th.Status, auth.PermTransactionRead)...)
	v1.Get("/transactions/:transaction_id/events", route(th.Events, auth.PermTransactionRead)...)
	v1.Post("/transactions/:transaction_id/verify", route(th.Verify, auth.PermTransactionCreate)...)
	v1.Patch("/transactions/:transaction_id", route(th.Patch, auth.PermTransactionUpdate)...)
	v1.Delete("/transactions/:transaction_id", route(th.Delete, auth.PermTransactionDelete)...)

	// Webhooks and the events feed (docs/api.md, "Webhooks"): each user
	// manages their own endpoints; the feed shows the events of the caller's
	// transactions.
	wh := d.Webhooks
	v1.Get("/events", route(wh.Events, auth.PermTransactionRead)...)
	v1.Post("/webhooks", route(wh.Create, auth.PermWebhookManage)...)
	v1.Get("/webhooks", route(wh.List, auth.PermWebhookManage)...)
	v1.Get("/webhooks/:id", route(wh.Get, auth.PermWebhookManage)...)
	v1.Patch("/webhooks/:id", route(wh.Patch, auth.PermWebhookManage)...)
	v1.Delete("/webhooks/:id", route(wh.Delete, auth.PermWebhookManage)...)
	v1.Post("/webhooks/:id/rotate-secret", route(wh.Rotate, auth.PermWebhookManage)...)
	v1.Post("/webhooks/:id/test", route(wh.Test, auth.PermWebhookManage)...)
	v1.Get("/webhooks/:id/deliveries", route(wh.Deliveries, auth.PermWebhookManage)...)
	v1.Post("/webhooks/:id/deliveries/:delivery_id/retry", route(wh.RetryDelivery, auth.PermWebhookManage)...)
	return app
}
