// Package queue is the seam between the API and the workers: it puts verify
// tasks in Asynq, moves them ("check now"), removes them and repairs them. The
// API links only this, not the worker's bank client.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// Scheduler puts verify tasks in Asynq. One task per transaction (its TaskID),
// so a second enqueue of a live check is a harmless conflict.
type Scheduler struct {
	client    *asynq.Client
	inspector *asynq.Inspector
	spacing   time.Duration // per-reference spacing of the bank limit
	now       func() time.Time
}

// NewScheduler returns a Scheduler; spacing is Limiter.PerTransactionSpacing.
func NewScheduler(client *asynq.Client, inspector *asynq.Inspector, spacing time.Duration) *Scheduler {
	return &Scheduler{client: client, inspector: inspector, spacing: spacing, now: time.Now}
}

// Enqueue schedules the routine check of a transaction at `at` (implements
// transaction.Checks). A live task for it already is not an error.
func (s *Scheduler) Enqueue(ctx context.Context, id, requestID string, at time.Time) error {
	_, err := s.enqueue(ctx, id, requestID, tasks.QueueVerify, at)
	return err
}

// enqueue reports whether a new task was created.
func (s *Scheduler) enqueue(ctx context.Context, id, requestID, queue string, at time.Time) (bool, error) {
	task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: id, RequestID: requestID}, queue, at)
	if err != nil {
		return false, err
	}
	_, err = s.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue check of %s: %w", id, err)
	}
	return true, nil
}

// state returns the queue and state of the transaction's task, or "" when none.
func (s *Scheduler) state(id string) (queue string, state asynq.TaskState, err error) {
	for _, q := range tasks.VerifyQueues {
		info, err := s.inspector.GetTaskInfo(q, tasks.VerifyTaskID(id))
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return "", 0, fmt.Errorf("inspect check of %s: %w", id, err)
		}
		return q, info.State, nil
	}
	return "", 0, nil
}

// CheckNow moves the pending check to the earliest time the per-transaction limit
// allows, in the on-demand queue (implements transaction.Checks). If the check is
// running right now, that is the earliest check.
func (s *Scheduler) CheckNow(ctx context.Context, t transaction.Transaction, requestID string) (time.Time, error) {
	now := s.now()
	at := now
	if t.LastCheckedAt.Valid && t.LastCheckedAt.Time.Add(s.spacing).After(at) {
		at = t.LastCheckedAt.Time.Add(s.spacing)
	}
	queue, state, err := s.state(t.ID)
	if err != nil {
		return time.Time{}, err
	}
	if state == asynq.TaskStateActive {
		return now, nil
	}
	if queue != "" {
		if err := s.inspector.DeleteTask(queue, tasks.VerifyTaskID(t.ID)); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return time.Time{}, fmt.Errorf("move check of %s: %w", t.ID, err)
		}
	}
	if _, err := s.enqueue(ctx, t.ID, requestID, tasks.QueueVerifyNow, at); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// Cancel removes the transaction's pending check (implements transaction.Checks).
// A running check finishes and then finds the transaction no longer checkable.
func (s *Scheduler) Cancel(ctx context.Context, id string) error {
	for _, q := range tasks.VerifyQueues {
		err := s.inspector.DeleteTask(q, tasks.VerifyTaskID(id))
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			// Deleting an active task fails; it will stop by itself.
			if _, state, serr := s.state(id); serr == nil && state == asynq.TaskStateActive {
				continue
			}
			return fmt.Errorf("cancel check of %s: %w", id, err)
		}
	}
	return nil
}

// Ensure makes sure a transaction whose check is overdue has a live task: it
// creates one when none exists in any verify queue, and replaces an archived one
// (an archived id would block the transaction forever). It reports whether it
// had to repair anything.
func (s *Scheduler) Ensure(ctx context.Context, id string) (bool, error) {
	queue, state, err := s.state(id)
	if err != nil {
		return false, err
	}
	if queue != "" && state != asynq.TaskStateArchived && state != asynq.TaskStateCompleted {
		return false, nil
	}
	if queue != "" {
		if err := s.inspector.DeleteTask(queue, tasks.VerifyTaskID(id)); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, fmt.Errorf("drop archived check of %s: %w", id, err)
		}
	}
	return s.enqueue(ctx, id, "sweeper", tasks.QueueVerify, s.now())
}

// perTransactionMargin widens the per-reference spacing: the bank measures at
// arrival over sliding windows, a few milliseconds after we decide
// (docs/bank.md, Our own limits).
const perTransactionMargin = time.Second

// Spacing is the minimum time between two checks of one reference when the bank
// allows perMinute of them per minute.
func Spacing(perMinute int) time.Duration {
	return time.Minute/time.Duration(perMinute) + perTransactionMargin
}

// Overdue is what RepairOverdue reads (transaction.Store).
type Overdue interface {
	Overdue(ctx context.Context, before time.Time, afterID string, limit int) ([]string, error)
}

// Repair is what one RepairOverdue did.
type Repair struct {
	Seen     int // overdue IN_PROGRESS transactions looked at
	Repaired int // of them, those that had no live task and got one
}

// repairBatch bounds one query.
const repairBatch = 500

// RepairOverdue gives every IN_PROGRESS transaction whose check was due before
// `before` and that has no live task a new one (Ensure), reading at most max
// of them (0: no bound). The sweeper and `worker ops requeue -all-stuck` both
// come here.
func (s *Scheduler) RepairOverdue(ctx context.Context, store Overdue, before time.Time, max int) (Repair, error) {
	var r Repair
	after := "00000000-0000-0000-0000-000000000000"
	for max == 0 || r.Seen < max {
		ids, err := store.Overdue(ctx, before, after, repairBatch)
		if err != nil {
			return r, err
		}
		for _, id := range ids {
			fixed, err := s.Ensure(ctx, id)
			if err != nil {
				return r, fmt.Errorf("repair %s: %w", id, err)
			}
			if fixed {
				r.Repaired++
			}
		}
		r.Seen += len(ids)
		if len(ids) < repairBatch {
			break
		}
		after = ids[len(ids)-1]
	}
	return r, nil
}
