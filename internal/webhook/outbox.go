package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// Enqueuer puts delivery tasks in Asynq. A task id per delivery makes a
// second enqueue of a live delivery a harmless conflict.
type Enqueuer struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	log       zerolog.Logger
}

// NewEnqueuer returns the enqueuer.
func NewEnqueuer(client *asynq.Client, inspector *asynq.Inspector, log zerolog.Logger) *Enqueuer {
	return &Enqueuer{client: client, inspector: inspector, log: log}
}

// Enqueue schedules the deliveries now. Failures are logged: the delivery
// sweeper brings lost deliveries back.
func (q *Enqueuer) Enqueue(ctx context.Context, ids []int64) {
	for _, id := range ids {
		if _, err := q.ensure(ctx, id, time.Now()); err != nil {
			q.log.Warn().Err(err).Int64("delivery", id).Msg("enqueue delivery failed; the sweeper will retry")
		}
	}
}

// RunNow makes a delivery's task run now: a task waiting for its next
// attempt is moved forward, a missing or finished one is enqueued again.
func (q *Enqueuer) RunNow(ctx context.Context, id int64) error {
	info, err := q.inspector.GetTaskInfo(tasks.QueueWebhooks, tasks.DeliveryTaskID(id))
	if err == nil && (info.State == asynq.TaskStateRetry || info.State == asynq.TaskStateScheduled) {
		if err := q.inspector.RunTask(tasks.QueueWebhooks, tasks.DeliveryTaskID(id)); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return fmt.Errorf("run delivery %d now: %w", id, err)
		}
		return nil
	}
	_, err = q.ensure(ctx, id, time.Now())
	return err
}

// ensure makes sure a delivery has a live task, replacing an archived or
// completed one; it reports whether it created one.
func (q *Enqueuer) ensure(ctx context.Context, id int64, at time.Time) (bool, error) {
	info, err := q.inspector.GetTaskInfo(tasks.QueueWebhooks, tasks.DeliveryTaskID(id))
	switch {
	case err == nil && info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
		return false, nil
	case err == nil:
		if err := q.inspector.DeleteTask(tasks.QueueWebhooks, tasks.DeliveryTaskID(id)); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, fmt.Errorf("drop old delivery task %d: %w", id, err)
		}
	case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
		return false, fmt.Errorf("inspect delivery %d: %w", id, err)
	}
	task, err := tasks.NewDeliveryTask(id, at)
	if err != nil {
		return false, err
	}
	if _, err := q.client.EnqueueContext(ctx, task); err != nil {
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			return false, nil
		}
		return false, fmt.Errorf("enqueue delivery %d: %w", id, err)
	}
	return true, nil
}

// Outbox implements transaction.Outbox: the event of a status change and its
// deliveries are written in the change's own Postgres transaction, and the
// deliveries are enqueued once it committed.
type Outbox struct {
	enqueuer *Enqueuer
}

// NewOutbox returns the outbox over the enqueuer.
func NewOutbox(e *Enqueuer) *Outbox { return &Outbox{enqueuer: e} }

// typeOf names the event of a change to `to`.
func typeOf(to transaction.Status) string {
	switch to {
	case transaction.StatusCompleted:
		return TypeCompleted
	case transaction.StatusToReview:
		return TypeToReview
	case transaction.StatusUnknown:
		return TypeUnknown
	default:
		return TypeCanceled
	}
}

// Record writes the event and its deliveries in tx.
func (o *Outbox) Record(ctx context.Context, tx *sqlx.Tx, c transaction.StatusChange) (func(context.Context), error) {
	data, err := json.Marshal(c.Transaction.View())
	if err != nil {
		return nil, fmt.Errorf("outbox: encode transaction: %w", err)
	}
	id := c.Transaction.ID
	ids, err := recordEvent(ctx, tx, typeOf(c.To), c.Transaction.UserID, &id, data, "")
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return func(ctx context.Context) { o.enqueuer.Enqueue(ctx, ids) }, nil
}
