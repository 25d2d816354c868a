package verify

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// Sweeper repairs the gap between Postgres and Redis: an IN_PROGRESS transaction
// whose check is overdue and which has no live task (the enqueue after commit
// failed, or Redis lost its data) gets a new task.
type Sweeper struct {
	store     *transaction.Store
	scheduler *queue.Scheduler
	client    *asynq.Client
	interval  time.Duration
	grace     time.Duration
	metrics   *Metrics
	log       zerolog.Logger
	now       func() time.Time
	stop      context.CancelFunc // set by Start
	done      chan struct{}
}

// NewSweeper builds the sweeper; interval is SWEEP_INTERVAL.
func NewSweeper(store *transaction.Store, scheduler *queue.Scheduler, client *asynq.Client, interval time.Duration, metrics *Metrics, log zerolog.Logger) *Sweeper {
	// A transaction just committed by the API is enqueued a moment later; the
	// grace keeps the sweeper from racing that enqueue (the TaskID would make the
	// race harmless anyway).
	return &Sweeper{store: store, scheduler: scheduler, client: client, interval: interval, grace: 10 * time.Second,
		metrics: metrics, log: log, now: time.Now}
}

// maxPerSweep bounds one run so a huge backlog is repaired over several
// periods instead of one endless task.
const maxPerSweep = 20_000

// ProcessTask runs one sweep (task type tasks.TypeSweep).
func (s *Sweeper) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	n, err := s.Sweep(ctx)
	if n > 0 {
		s.log.Info().Int("reenqueued", n).Msg("sweeper re-enqueued lost checks")
	}
	return err
}

// Sweep re-enqueues every overdue IN_PROGRESS transaction without a live task and
// returns how many it repaired.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	r, err := s.scheduler.RepairOverdue(ctx, s.store, s.now().Add(-s.grace), maxPerSweep)
	s.metrics.repair(r.Repaired)
	return r.Repaired, err
}

// Start runs the ticker in the background until Shutdown.
func (s *Sweeper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stop, s.done = cancel, done
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
}

// Shutdown stops the ticker started by Start and waits until it has stopped,
// so no sweep is enqueued after it returns.
func (s *Sweeper) Shutdown() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
}

// Run enqueues one sweep task per period until ctx ends. Every replica runs it;
// the period's TaskID lets only one sweep per period through (asynq's Scheduler
// has no leader election, docs/architecture.md).
func (s *Sweeper) Run(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.enqueue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Sweeper) enqueue(ctx context.Context) {
	period := s.now().Truncate(s.interval)
	task, err := tasks.NewSweepTask(period, s.interval)
	if err != nil {
		s.log.Error().Err(err).Msg("build sweep task")
		return
	}
	if _, err := s.client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("enqueue sweep")
	}
}
