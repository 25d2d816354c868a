// Command api serves the public HTTP interface: auth, transactions, health,
// metrics and the monitoring dashboard. It migrates the database at start
// unless MIGRATE_ON_START=false.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	queuemetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/api"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/buildinfo"
	"github.com/banesco-verifier/verifier/internal/config"
	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/health"
	"github.com/banesco-verifier/verifier/internal/logging"
	"github.com/banesco-verifier/verifier/internal/metrics"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/webhook"
)

func main() {
	if buildinfo.Handle("api", usage, os.Args[1:], os.Stdout) {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// command runs the maintenance subcommands: createdb, migrate [up|down|status|preview|wait].
func command(ctx context.Context, cfg config.Config, args []string) error {
	switch args[0] {
	case "createdb":
		return database.EnsureExists(ctx, cfg.DatabaseURL)
	case "migrate":
		// Data migrations report what they flag as Postgres notices; the
		// operator running them reads each one here.
		printNotice := func(msg string) { fmt.Println("notice:", msg) }
		db, err := database.OpenReporting(ctx, cfg.DatabaseURL, 2, printNotice)
		if err != nil {
			return fmt.Errorf("postgres at DATABASE_URL: %w", err)
		}
		defer db.Close()
		dir := "up"
		if len(args) > 1 {
			dir = args[1]
		}
		switch dir {
		case "up":
			err = database.Migrate(ctx, db)
		case "down":
			err = database.MigrateDown(ctx, db)
		case "preview":
			// What `migrate up` would do and report, run and rolled back.
			versions, err := database.Preview(ctx, cfg.DatabaseURL, printNotice)
			if err != nil {
				return err
			}
			fmt.Printf("previewed %d pending migration(s) %v; nothing was changed\n", len(versions), versions)
		case "wait":
			err = waitSchema(ctx, db)
		case "status":
		default:
			return fmt.Errorf("migrate: unknown direction %q (up|down|status|preview|wait)", dir)
		}
		if err != nil {
			return err
		}
		v, err := database.Version(ctx, db)
		if err != nil {
			return err
		}
		fmt.Printf("schema version %d\n", v)
		return nil
	}
	return fmt.Errorf("unknown command %q: api --help lists the commands", args[0])
}

func run() error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, "api")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		return command(ctx, cfg, os.Args[1:])
	}

	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return fmt.Errorf("postgres at DATABASE_URL: %w", err)
	}
	defer db.Close()
	if err := prepareSchema(ctx, os.Getenv, cfg.DatabaseURL, db.DB, log); err != nil {
		return err
	}
	rdb, err := cfg.Redis().Client()
	if err != nil {
		return err
	}
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis (%s): %w", cfg.Redis(), err)
	}

	authSvc := auth.NewService(auth.NewStore(db), rdb, auth.Options{
		JWTSecret: cfg.JWTSecret, AccessTokenTTL: cfg.AccessTokenTTL, RefreshTokenTTL: cfg.RefreshTokenTTL,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginFailureWindow: cfg.LoginFailureWindow, Logger: log,
	})
	// Runs after the HTTP server has shut down (below, in this function) and
	// before the pool closes (deferred earlier): the last_used_at of API keys
	// noted since the last flush are written.
	defer func() {
		if err := authSvc.Close(); err != nil {
			log.Warn().Err(err).Msg("api key usage not recorded at shutdown")
		}
	}()
	if created, err := authSvc.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	} else if created {
		log.Info().Str("email", cfg.AdminEmail).Msg("bootstrapped the admin user from ADMIN_EMAIL")
	}

	qc := asynq.NewClientFromRedisClient(rdb)
	defer qc.Close()
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	scheduler := queue.NewScheduler(qc, inspector, queue.Spacing(cfg.BanescoPerTxPerMinute))
	asynqRedis, err := cfg.Redis().Asynq()
	if err != nil {
		return err
	}

	// Metrics: HTTP, business (creations are counted here), pools, the queues
	// (asynq's own exporter, registered in the API only) and the transactions
	// that need an operator (one indexed count each per scrape).
	reg := metrics.NewRegistry()
	buildinfo.Register(reg)
	httpMetrics := metrics.NewHTTP(reg)
	metrics.RegisterPostgres(reg, db.DB)
	metrics.RegisterRedis(reg, rdb)
	reg.MustRegister(queuemetrics.NewQueueMetricsCollector(inspector))
	txStore := transaction.NewStore(db, transaction.NewMetrics(reg))
	reg.MustRegister(metrics.NewTransactions(txStore, time.Minute, log))

	// Webhooks: operators' changes (PATCH, DELETE) write their events in the
	// same Postgres transaction (the outbox); the workers deliver them. The
	// backlog gauges are the API's, like the queue metrics, so replicas of the
	// worker do not report them twice.
	sealer, err := webhook.NewSealer(cfg.WebhookSecretKey)
	if err != nil {
		return fmt.Errorf("WEBHOOK_SECRET_KEY: %w", err)
	}
	whStore := webhook.NewStore(db)
	enqueuer := webhook.NewEnqueuer(qc, inspector, log)
	txStore.SetOutbox(webhook.NewOutbox(enqueuer))
	reg.MustRegister(webhook.NewGauges(whStore))
	guard := webhook.Guard{AllowHTTP: cfg.WebhookAllowHTTP, AllowPrivate: cfg.WebhookAllowPrivate}

	app := api.New(api.Deps{
		Logger: log, Redis: rdb, Auth: authSvc, Health: health.NewChecker(db, rdb),
		Transactions: transaction.NewHandler(txStore, scheduler, cfg.DeadlineFor, log),
		Webhooks:     webhook.NewHandler(whStore, sealer, guard, enqueuer, log),
		CORSOrigins:  cfg.CORSAllowedOrigins, RateLimit: cfg.APIRateLimit,
		RegistrationOpen: cfg.AuthRegistration == "open",
		HTTPOptions:      httpMetrics.Hook,
		Registry:         reg, AsynqRedis: asynqRedis, MonitoringRO: cfg.MonitoringReadOnly,
	})

	errc := make(chan error, 1)
	go func() { errc <- app.Listen(cfg.APIAddr) }()
	log.Info().Str("addr", cfg.APIAddr).Msg("api listening")
	select {
	case err := <-errc:
		return fmt.Errorf("listen %s: %w", cfg.APIAddr, err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: finishing in-flight requests")
	if err := app.ShutdownWithTimeout(20 * time.Second); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// migrate applies pending migrations at start, logging what data migrations
// report (flagged duplicates, claims to review).
func migrate(ctx context.Context, dsn string, log zerolog.Logger) error {
	db, err := database.OpenReporting(ctx, dsn, 1, func(msg string) {
		log.Warn().Str("notice", msg).Msg("migration report")
	})
	if err != nil {
		return fmt.Errorf("postgres at DATABASE_URL: %w", err)
	}
	defer db.Close()
	return database.Migrate(ctx, db)
}
