// Command worker runs the Asynq server that verifies transactions with the bank,
// the sweeper that repairs lost tasks, and a small HTTP server for /metrics and
// /health on WORKER_METRICS_ADDR. Run as many replicas as you like: the bank's
// limits are enforced in Redis, shared by all of them.
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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/config"
	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/logging"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
)

func main() {
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

	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return fmt.Errorf("postgres at DATABASE_URL: %w", err)
	}
	defer db.Close()
	ropts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	bankCfg, err := banesco.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	bankCfg.Metrics = banesco.NewMetrics(reg)
	bankCfg.Logger = log
	bank, err := banesco.New(bankCfg)
	if err != nil {
		return fmt.Errorf("bank client: %w", err)
	}

	vm := verify.NewMetrics(reg)
	store := transaction.NewStore(db, transaction.NewMetrics(reg))
	queue := asynq.NewClientFromRedisClient(rdb)
	defer queue.Close()
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	limiter := verify.NewLimiter(rdb, cfg.BanescoMaxRPS, cfg.BanescoPerTxPerMinute, vm.Denied)
	scheduler := verify.NewScheduler(queue, inspector, limiter.PerTransactionSpacing())
	handler := verify.NewHandler(store, bank, limiter, cfg.VerifySchedule, vm, log)
	sweeper := verify.NewSweeper(store, scheduler, queue, cfg.SweepInterval, vm, log)

	srv := verify.NewServer(rdb, verify.ServerOptions{
		Concurrency: cfg.WorkerConcurrency, PollInterval: cfg.WorkerPollInterval,
		ShutdownTimeout: cfg.WorkerShutdownTimeout, Logger: log,
	})
	if err := srv.Start(verify.NewMux(handler, sweeper)); err != nil {
		return fmt.Errorf("start asynq server: %w", err)
	}
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	go sweeper.Run(sweepCtx)

	httpSrv := &http.Server{Addr: cfg.WorkerMetricsAddr, Handler: opsMux(reg, db, rdb), ReadHeaderTimeout: 5 * time.Second}
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
	stopSweep()
	srv.Shutdown()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return httpSrv.Shutdown(shutdownCtx)
}
