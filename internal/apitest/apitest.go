// Package apitest starts the real API for tests — api.New with the
// dependencies cmd/api passes, over a private Postgres database and a private
// redis-server, on a real listener — so every test suite that needs the API
// (internal/api, internal/verify, internal/clienttest) builds it the same way.
package apitest

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"
	queuemetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/api"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/health"
	"github.com/banesco-verifier/verifier/internal/metrics"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/webhook"
)

// Test credentials of every API started here.
const (
	JWTSecret     = "test-only-jwt-secret-0123456789abcdef"
	AdminEmail    = "admin@example.test"
	AdminPassword = "admin-password-0123"
)

// Options shape one API; the zero value is a permissive default.
type Options struct {
	DB    *pgtest.DB        // default: a new database
	Redis *redistest.Server // default: a new redis-server
	Pool  *sqlx.DB          // replaces the pool the auth store uses (an unreachable one for outage tests)
	// StorePool is the transaction and webhook stores' pool (default the
	// database's), so a test can break it alone.
	StorePool *sqlx.DB
	Log       io.Writer          // default: discarded
	Level     zerolog.Level      // default: debug
	Checks    transaction.Checks // default: the real queue.Scheduler

	AccessTTL         time.Duration // default 10m
	RateLimit         int           // per client per minute, default 1 000 000
	LoginMaxFailures  int           // default 100
	AuthFailuresPerIP int           // invalid bearer tokens per IP a minute, default the service's (60)
	// KeyUsageFlush is how often API keys' last_used_at is written (default
	// the service's, 30 s); the pending ones are written at cleanup too.
	KeyUsageFlush      time.Duration
	RegistrationClosed bool
	CORSOrigins        []string
	Deadline           time.Duration // VERIFY_DEADLINE, default 24h
	// DeadlineByBank overrides Deadline per bank (VERIFY_DEADLINE_<bank>).
	DeadlineByBank map[string]time.Duration
	// Metrics registers what cmd/api does (HTTP, pools, queues, transaction
	// gauges and counters) and serves /metrics.
	Metrics bool
	// NoMonitoring leaves /monitoring unmounted.
	NoMonitoring bool
	// NoAdmin skips the bootstrap admin (outage tests with a dead pool).
	NoAdmin bool
	// WebhookGuard is the SSRF guard of webhook registration; default allows
	// http and private addresses, so tests can register local receivers.
	WebhookGuard *webhook.Guard
}

// WebhookKey seals the webhook secrets of every API started here.
const WebhookKey = "test-only-webhook-key-0123456789abcdef"

// Server is a running API and what a test reaches through.
type Server struct {
	URL       string
	DB        *pgtest.DB
	Redis     *redistest.Server
	RDB       *redis.Client
	Auth      *auth.Service
	Store     *transaction.Store
	Scheduler *queue.Scheduler
	Queue     *asynq.Client
	Inspector *asynq.Inspector
	Registry  *prometheus.Registry // nil without Options.Metrics
	// Webhooks is the webhook store, Sealer its key, Enqueuer the delivery
	// enqueuer: what a test needs to run a Deliverer beside this API.
	Webhooks *webhook.Store
	Sealer   *webhook.Sealer
	Enqueuer *webhook.Enqueuer
	App      *fiber.App
	HTTP     *http.Client // a client of its own, closed at cleanup
	Log      zerolog.Logger
}

// Start builds and serves the API until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.DB == nil {
		o.DB = pgtest.New(t)
	}
	if o.Redis == nil {
		o.Redis = redistest.Start(t)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Level == 0 {
		o.Level = zerolog.DebugLevel
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = 10 * time.Minute
	}
	if o.RateLimit == 0 {
		o.RateLimit = 1_000_000
	}
	if o.LoginMaxFailures == 0 {
		o.LoginMaxFailures = 100
	}

	if o.Deadline == 0 {
		o.Deadline = 24 * time.Hour
	}
	s := &Server{DB: o.DB, Redis: o.Redis, RDB: o.Redis.Client(), Log: zerolog.New(o.Log).Level(o.Level)}
	pool := o.DB.DB
	if o.Pool != nil {
		pool = o.Pool
	}
	s.Auth = auth.NewService(auth.NewStore(pool), s.RDB, auth.Options{
		JWTSecret: JWTSecret, AccessTokenTTL: o.AccessTTL, RefreshTokenTTL: time.Hour, BcryptCost: bcrypt.MinCost,
		LoginMaxFailures: o.LoginMaxFailures, LoginFailureWindow: time.Minute, Logger: s.Log,
		AuthFailuresPerIP: o.AuthFailuresPerIP, KeyUsageFlush: o.KeyUsageFlush,
	})
	// Registered before the app's shutdown, so it runs after it (cleanups run
	// last in, first out), as cmd/api does; a test's broken pool only logs.
	t.Cleanup(func() { _ = s.Auth.Close() })
	if !o.NoAdmin {
		if _, err := s.Auth.EnsureAdmin(context.Background(), AdminEmail, AdminPassword); err != nil {
			t.Fatalf("apitest: EnsureAdmin: %v", err)
		}
	}
	s.Queue = asynq.NewClientFromRedisClient(s.RDB)
	t.Cleanup(func() { s.Queue.Close() })
	s.Inspector = asynq.NewInspectorFromRedisClient(s.RDB)
	s.Scheduler = queue.NewScheduler(s.Queue, s.Inspector, queue.Spacing(2))

	deps := api.Deps{
		Logger: s.Log, Redis: s.RDB, Auth: s.Auth, Health: health.NewChecker(pool, s.RDB),
		CORSOrigins: o.CORSOrigins, RateLimit: o.RateLimit, RegistrationOpen: !o.RegistrationClosed,
	}
	var txMetrics *transaction.Metrics
	if o.Metrics {
		s.Registry = metrics.NewRegistry()
		httpMetrics := metrics.NewHTTP(s.Registry)
		metrics.RegisterPostgres(s.Registry, o.DB.DB.DB)
		metrics.RegisterRedis(s.Registry, s.RDB)
		s.Registry.MustRegister(queuemetrics.NewQueueMetricsCollector(s.Inspector))
		txMetrics = transaction.NewMetrics(s.Registry)
		deps.HTTPOptions, deps.Registry = httpMetrics.Hook, s.Registry
	} else {
		deps.Registry = prometheus.NewRegistry()
	}
	storePool := o.DB.DB
	if o.StorePool != nil {
		storePool = o.StorePool
	}
	s.Store = transaction.NewStore(storePool, txMetrics)
	if o.Metrics {
		s.Registry.MustRegister(metrics.NewTransactions(s.Store, time.Minute, s.Log))
	}
	checks := o.Checks
	if checks == nil {
		checks = s.Scheduler
	}
	deps.Transactions = transaction.NewHandler(s.Store, checks, func(bank string) time.Duration {
		if d, ok := o.DeadlineByBank[bank]; ok {
			return d
		}
		return o.Deadline
	}, s.Log)

	// Webhooks as cmd/api wires them: the outbox on the transaction store, the
	// routes, and the backlog gauges with the other metrics.
	sealer, err := webhook.NewSealer(WebhookKey)
	if err != nil {
		t.Fatalf("apitest: sealer: %v", err)
	}
	s.Sealer, s.Webhooks = sealer, webhook.NewStore(storePool)
	s.Enqueuer = webhook.NewEnqueuer(s.Queue, s.Inspector, s.Log)
	s.Store.SetOutbox(webhook.NewOutbox(s.Enqueuer))
	guard := webhook.Guard{AllowHTTP: true, AllowPrivate: true}
	if o.WebhookGuard != nil {
		guard = *o.WebhookGuard
	}
	deps.Webhooks = webhook.NewHandler(s.Webhooks, s.Sealer, guard, s.Enqueuer, s.Log)
	if o.Metrics {
		s.Registry.MustRegister(webhook.NewGauges(s.Webhooks))
	}
	if !o.NoMonitoring {
		deps.AsynqRedis = asynq.RedisClientOpt{Addr: o.Redis.Addr}
	}
	app := api.New(deps)
	s.App = app
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apitest: listen: %v", err)
	}
	go func() { _ = app.Listener(ln) }()
	s.URL = "http://" + ln.Addr().String()
	s.HTTP = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(func() {
		s.HTTP.CloseIdleConnections()
		if err := app.ShutdownWithTimeout(5 * time.Second); err != nil {
			t.Errorf("apitest: shutdown: %v", err)
		}
	})
	return s
}

// Login returns an access token for the user.
func (s *Server) Login(t testing.TB, email, password string) auth.TokenPair {
	t.Helper()
	pair, err := s.Auth.Login(context.Background(), "127.0.0.1", email, password)
	if err != nil {
		t.Fatalf("apitest: login %s: %v", email, err)
	}
	return pair
}
