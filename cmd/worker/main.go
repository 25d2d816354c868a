// Command worker runs the Asynq server that verifies transactions with the bank,
// the sweeper that repairs lost tasks, and a small HTTP server for /metrics and
// /health on WORKER_METRICS_ADDR. Run as many replicas as you like: the bank's
// limits are enforced in Redis, shared by all of them.
//
// `worker ops stuck|requeue|show` are the operator commands (opscmd.go);
// `worker bank token|check|certify` the certification kit (bankcmd.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/buildinfo"
	"github.com/banesco-verifier/verifier/internal/config"
	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/logging"
	"github.com/banesco-verifier/verifier/internal/metrics"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
	"github.com/banesco-verifier/verifier/internal/webhook"
	"github.com/banesco-verifier/verifier/tasks"
)

func main() {
	if buildinfo.Handle("worker", usage, os.Args[1:], os.Stdout) {
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	log := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat, "worker")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "ops":
			return opsCommand(ctx, cfg, os.Stdout, os.Args[2:])
		case "bank":
			return bankCommand(ctx, cfg, os.Getenv, os.Stdout, log, os.Args[2:])
		}
		return fmt.Errorf("unknown command %q: worker --help lists the commands", os.Args[1])
	}

	db, rdb, err := connect(ctx, cfg, cfg.DatabaseMaxConns)
	if err != nil {
		return err
	}
	defer db.Close()
	defer rdb.Close()

	bankCfg, err := banesco.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	w, err := newWorker(cfg, db, rdb, bankCfg, log)
	if err != nil {
		return err
	}
	if err := w.srv.Start(w.mux); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	if err := w.webhookSrv.Start(w.webhookMux); err != nil {
		w.srv.Shutdown()
		return fmt.Errorf("start webhook asynq server: %w", err)
	}
	w.sweeper.Start()
	w.webhookSweeper.Start()

	httpSrv := &http.Server{Addr: cfg.WorkerMetricsAddr, Handler: opsMux(w.reg, db, rdb), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := httpSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Str("addr", cfg.WorkerMetricsAddr).Msg("metrics server stopped")
			stop()
		}
	}()
	log.Info().Str("metrics_addr", cfg.WorkerMetricsAddr).Int("concurrency", cfg.WorkerConcurrency).
		Str("bank_environment", bankCfg.Environment).Int("bank_max_rps", cfg.BanescoMaxRPS).Msg("worker started")

	<-ctx.Done()
	log.Info().Msg("shutting down: in-flight checks finish or return to the queue")
	w.sweeper.Shutdown()
	w.webhookSweeper.Shutdown()
	w.srv.Shutdown()
	w.webhookSrv.Shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return httpSrv.Shutdown(shutdownCtx)
}

// worker is the wired worker: its registry (every worker metric), the bank
// checks' Asynq server with its mux and sweeper, and the webhook deliveries'
// server with its own (their slots are separate: tasks.QueueWebhooks).
type worker struct {
	reg     *prometheus.Registry
	srv     *asynq.Server
	mux     *asynq.ServeMux
	sweeper *verify.Sweeper

	webhookSrv     *asynq.Server
	webhookMux     *asynq.ServeMux
	webhookSweeper *webhook.Sweeper
}

// newWorker wires the verify pipeline and its metrics: bank calls, limiter
// denials, checks, status transitions, Postgres and Redis pools, Go/process.
// The queue metrics (asynq's exporter) are the API's, so they are not here.
func newWorker(cfg config.Config, db *sqlx.DB, rdb redis.UniversalClient, bankCfg banesco.Config, log zerolog.Logger) (*worker, error) {
	reg := metrics.NewRegistry()
	buildinfo.Register(reg)
	metrics.RegisterPostgres(reg, db.DB)
	metrics.RegisterRedis(reg, rdb)

	vm := verify.NewMetrics(reg)
	// The bank's limits, shared by every replica: the handler takes a slot
	// before each check.
	limiter := bankLimiter(cfg, rdb, db, vm.Denied, vm.Sent)
	bankCfg.Metrics = banesco.NewMetrics(reg)
	bankCfg.Logger = log
	bank, err := banesco.New(bankCfg)
	if err != nil {
		return nil, fmt.Errorf("bank client: %w", err)
	}

	store := transaction.NewStore(db, transaction.NewMetrics(reg))
	qc := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	scheduler := queue.NewScheduler(qc, inspector, limiter.PerTransactionSpacing())
	handler := verify.NewHandler(store, bank, limiter, scheduler, verify.Policy{Schedule: cfg.VerifySchedule, ScheduleByBank: cfg.VerifyScheduleByBank,
		OutageBackoff: cfg.VerifyOutageBackoff, RangeTooWideReviewAfter: cfg.VerifyRangeTooWideReviewAfter}, vm, log)
	sweeper := verify.NewSweeper(store, scheduler, qc, cfg.SweepInterval, vm, log)

	// Webhooks: every status change the checks make writes its event in the
	// same Postgres transaction (the outbox); deliveries run on their own server.
	sealer, err := webhook.NewSealer(cfg.WebhookSecretKey)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_SECRET_KEY: %w", err)
	}
	whStore := webhook.NewStore(db)
	enqueuer := webhook.NewEnqueuer(qc, inspector, log)
	store.SetOutbox(webhook.NewOutbox(enqueuer))
	deliverer := webhook.NewDeliverer(whStore, sealer, webhook.Options{
		Schedule: cfg.WebhookSchedule, Timeout: cfg.WebhookTimeout, DisableAfter: cfg.WebhookDisableAfter,
		Guard: webhook.Guard{AllowHTTP: cfg.WebhookAllowHTTP, AllowPrivate: cfg.WebhookAllowPrivate},
	}, webhook.NewMetrics(reg), log)
	whSweeper := webhook.NewSweeper(whStore, enqueuer, qc, cfg.SweepInterval, cfg.EventRetention, log)

	opts := verify.ServerOptions{
		Concurrency: cfg.WorkerConcurrency, PollInterval: cfg.WorkerPollInterval,
		ShutdownTimeout: cfg.WorkerShutdownTimeout, Logger: log,
	}
	srv := verify.NewServer(rdb, opts)
	// The webhooks' server looks at its idle queue every 100 ms by default
	// (WORKER_POLL_INTERVAL is 1 s): a status change reaches the receiver well
	// under a second later, for one cheap Redis call per look.
	opts.Concurrency, opts.PollInterval = cfg.WebhookConcurrency, cfg.WebhookPollInterval
	return &worker{reg: reg, srv: srv, mux: verify.NewMux(handler, sweeper), sweeper: sweeper,
		webhookSrv: queue.NewServer(rdb, tasks.WebhookQueues(), opts), webhookMux: webhook.NewMux(deliverer, whSweeper),
		webhookSweeper: whSweeper}, nil
}

// connect opens the Postgres pool of DATABASE_URL and the Redis client of the
// configuration (one server, Sentinel or Cluster: redisconn), for the worker
// and `worker ops` alike.
func connect(ctx context.Context, cfg config.Config, maxConns int) (*sqlx.DB, redis.UniversalClient, error) {
	db, err := database.Open(ctx, cfg.DatabaseURL, maxConns)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres at DATABASE_URL: %w", err)
	}
	rdb, err := cfg.Redis().Client()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, rdb, nil
}
