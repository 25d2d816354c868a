package queue

import (
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// ServerOptions configure one Asynq server of a worker.
type ServerOptions struct {
	Concurrency     int
	PollInterval    time.Duration // TaskCheckInterval: how often idle servers look for work
	ShutdownTimeout time.Duration // above the bank timeout, so in-flight checks finish
	Logger          zerolog.Logger
	// StrictPriority serves a queue only while the higher ones are empty
	// (asynq.Config.StrictPriority); otherwise the priorities are weights.
	StrictPriority bool
}

// NewServer builds an Asynq server over the queues (name → weight) with the
// retry policy that makes waits (not found yet, limits, a receiver's next
// attempt) non-failures of exactly their length. A worker runs two: the bank
// checks' and the webhook deliveries', so that neither can take the other's
// slots.
func NewServer(rdb redis.UniversalClient, queues map[string]int, o ServerOptions) *asynq.Server {
	return asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:     o.Concurrency,
		Queues:          queues,
		StrictPriority:  o.StrictPriority,
		IsFailure:       IsFailure,
		RetryDelayFunc:  RetryDelay,
		ShutdownTimeout: o.ShutdownTimeout,
		// Rescheduled tasks wait in the retry set; moving them to pending every
		// second (default 5 s) keeps a task close to the time it was due.
		DelayedTaskCheckInterval: time.Second,
		TaskCheckInterval:        o.PollInterval,
		Logger:                   asynqLogger{o.Logger},
		LogLevel:                 asynq.WarnLevel,
	})
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
