package verify

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/tasks"
)

// ServerOptions configure the Asynq server of a worker.
type ServerOptions struct {
	Concurrency     int
	PollInterval    time.Duration // TaskCheckInterval: how often idle servers look for work
	ShutdownTimeout time.Duration // above the bank timeout, so in-flight checks finish
	Logger          zerolog.Logger
}

// NewServer builds the Asynq server with the queue weights and the retry policy
// that makes waits (not found yet, limits) non-failures of exactly their length.
func NewServer(rdb redis.UniversalClient, o ServerOptions) *asynq.Server {
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:     o.Concurrency,
		Queues:          tasks.Queues(),
		IsFailure:       IsFailure,
		RetryDelayFunc:  RetryDelay,
		ShutdownTimeout: o.ShutdownTimeout,
		// Rescheduled checks wait in the retry set; moving them to pending every
		// second (default 5 s) keeps a check close to the time it was due.
		DelayedTaskCheckInterval: time.Second,
		TaskCheckInterval:        o.PollInterval,
		Logger:                   asynqLogger{o.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
}

// NewMux routes the task types to their handlers.
func NewMux(h *Handler, s *Sweeper) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeVerify, h)
	mux.Handle(tasks.TypeSweep, s)
	return mux
}

// asynqLogger sends asynq's own logs through zerolog.
type asynqLogger struct{ l zerolog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug().Msgf("asynq: %s", fmtArgs(args)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info().Msgf("asynq: %s", fmtArgs(args)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn().Msgf("asynq: %s", fmtArgs(args)) }
func (a asynqLogger) Error(args ...any) { a.l.Error().Msgf("asynq: %s", fmtArgs(args)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Fatal().Msgf("asynq: %s", fmtArgs(args)) }

func fmtArgs(args []any) string {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return s
		}
	}
	return fmt.Sprint(args...)
}
