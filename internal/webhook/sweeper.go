package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/tasks"
)

// Sweeper brings back deliveries whose task was lost (a worker killed, Redis
// wiped), exactly as the check sweeper does for checks, and deletes events
// older than EVENT_RETENTION in bounded batches.
type Sweeper struct {
	store     *Store
	enqueuer  *Enqueuer
	client    *asynq.Client
	interval  time.Duration
	retention time.Duration
	grace     time.Duration
	log       zerolog.Logger
	now       func() time.Time
	stop      context.CancelFunc
	done      chan struct{}
}

// NewSweeper builds the sweeper; interval is SWEEP_INTERVAL, retention EVENT_RETENTION.
func NewSweeper(store *Store, enqueuer *Enqueuer, client *asynq.Client, interval, retention time.Duration, log zerolog.Logger) *Sweeper {
	return &Sweeper{store: store, enqueuer: enqueuer, client: client, interval: interval, retention: retention,
		grace: 10 * time.Second, log: log, now: time.Now}
}

const (
	sweepBatch     = 500
	maxPerSweep    = 20_000
	retentionBatch = 1_000
	maxRetention   = 50 // batches per sweep
)

// ProcessTask runs one sweep (tasks.TypeWebhookSweep).
func (s *Sweeper) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	repaired, err := s.Repair(ctx)
	if repaired > 0 {
		s.log.Info().Int("reenqueued", repaired).Msg("webhook sweeper re-enqueued lost deliveries")
	}
	if err != nil {
		return err
	}
	deleted, err := s.Retain(ctx)
	if deleted > 0 {
		s.log.Info().Int("deleted", deleted).Msg("events past EVENT_RETENTION deleted")
	}
	return err
}

// Repair re-enqueues every due pending delivery without a live task.
func (s *Sweeper) Repair(ctx context.Context) (int, error) {
	before := s.now().Add(-s.grace)
	var after int64
	repaired, seen := 0, 0
	for seen < maxPerSweep {
		ids, err := s.store.Due(ctx, before, after, sweepBatch)
		if err != nil {
			return repaired, err
		}
		for _, id := range ids {
			fixed, err := s.enqueuer.ensure(ctx, id, s.now())
			if err != nil {
				return repaired, fmt.Errorf("sweep delivery %d: %w", id, err)
			}
			if fixed {
				repaired++
			}
		}
		seen += len(ids)
		if len(ids) < sweepBatch {
			break
		}
		after = ids[len(ids)-1]
	}
	return repaired, nil
}

// Retain deletes events older than the retention, a bounded batch at a time.
func (s *Sweeper) Retain(ctx context.Context) (int, error) {
	if s.retention <= 0 {
		return 0, nil
	}
	total := 0
	for range maxRetention {
		n, err := s.store.DeleteEventsBefore(ctx, s.now().Add(-s.retention), retentionBatch)
		total += n
		if err != nil || n < retentionBatch {
			return total, err
		}
	}
	return total, nil
}

// Start enqueues one sweep task per period until Shutdown.
func (s *Sweeper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
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
	}()
}

// Shutdown stops the ticker and waits for it.
func (s *Sweeper) Shutdown() {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
}

func (s *Sweeper) enqueue(ctx context.Context) {
	task, err := tasks.NewWebhookSweepTask(s.now().Truncate(s.interval), s.interval)
	if err != nil {
		s.log.Error().Err(err).Msg("build webhook sweep task")
		return
	}
	if _, err := s.client.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) && ctx.Err() == nil {
		s.log.Warn().Err(err).Msg("enqueue webhook sweep")
	}
}
