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
	_, err := s.enqueue(ctx, tasks.VerifyPayload{TransactionID: id, RequestID: requestID}, tasks.QueueVerify, at)
	return err
}

// Successor enqueues the task that makes a transaction's next check, numbered
// p.Seq, due at `at`, in the routine queue (so a check someone asked for
// returns to it afterwards). The caller has recorded p.Seq in Postgres first
// (transaction.Store.Defer, RecordCheck): a crash between the two leaves a
// chain that the sweeper, or a re-run of the old task, completes. A successor
// that already exists is not an error: two runs of one task hand over to one.
func (s *Scheduler) Successor(ctx context.Context, p tasks.VerifyPayload, at time.Time) error {
	_, err := s.enqueue(ctx, p, tasks.QueueVerify, at)
	return err
}

// enqueue reports whether a new task was created.
func (s *Scheduler) enqueue(ctx context.Context, p tasks.VerifyPayload, queue string, at time.Time) (bool, error) {
	task, err := tasks.NewVerifyTask(p, queue, wholeSecondAfter(s.now(), at))
	if err != nil {
		return false, err
	}
	_, err = s.client.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("enqueue check of %s: %w", p.TransactionID, err)
	}
	return true, nil
}

// wholeSecondAfter rounds a future time up to a whole second. Asynq keeps a
// scheduled task's due time in whole seconds, rounded down, and moves it as
// soon as that second starts: unrounded, a check could run up to 1 s before
// the bank's Retry-After has passed (the same rounding as RetryDelay's).
func wholeSecondAfter(now, at time.Time) time.Time {
	if !at.After(now) {
		return at
	}
	return now.Add(notBefore(now, at.Sub(now)))
}

// Task returns the verify task numbered ref.Seq of a transaction, in whichever
// verify queue it is, or nil when there is none.
func (s *Scheduler) Task(ref transaction.TaskRef) (*asynq.TaskInfo, error) {
	return FindTask(s.inspector, ref)
}

// FindTask is Scheduler.Task for callers that only inspect (the fault suite's
// invariants).
func FindTask(inspector *asynq.Inspector, ref transaction.TaskRef) (*asynq.TaskInfo, error) {
	for _, q := range tasks.VerifyQueues {
		info, err := inspector.GetTaskInfo(q, tasks.VerifyTaskID(ref.ID, ref.Seq))
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("inspect check of %s: %w", ref.ID, err)
		}
		return info, nil
	}
	return nil, nil
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
	ref := t.Task()
	info, err := s.Task(ref)
	if err != nil {
		return time.Time{}, err
	}
	if info != nil && info.State == asynq.TaskStateActive {
		return now, nil
	}
	if info != nil {
		if err := s.inspector.DeleteTask(info.Queue, info.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return time.Time{}, fmt.Errorf("move check of %s: %w", t.ID, err)
		}
	}
	// The same number in the on-demand queue: the task it replaces is gone,
	// and its successor goes back to the routine queue.
	p := tasks.VerifyPayload{TransactionID: t.ID, RequestID: requestID, Seq: ref.Seq, After: "a check was asked for"}
	if _, err := s.enqueue(ctx, p, tasks.QueueVerifyNow, at); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// Cancel removes the transaction's pending check (implements transaction.Checks).
// A running check finishes and then finds the transaction no longer checkable.
// The successor of the task Postgres named is removed too: the check running
// while the transaction was read may have handed over to it.
func (s *Scheduler) Cancel(ctx context.Context, ref transaction.TaskRef) error {
	for seq := ref.Seq; seq <= ref.Seq+1; seq++ {
		for _, q := range tasks.VerifyQueues {
			err := s.inspector.DeleteTask(q, tasks.VerifyTaskID(ref.ID, seq))
			if err == nil || errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			// Deleting an active task fails; it will stop by itself.
			if info, ierr := s.inspector.GetTaskInfo(q, tasks.VerifyTaskID(ref.ID, seq)); ierr == nil && info.State == asynq.TaskStateActive {
				continue
			}
			return fmt.Errorf("cancel check of %s: %w", ref.ID, err)
		}
	}
	return nil
}

// Ensure makes sure a transaction that should have a live task (numbered
// ref.Seq) has one: it creates it, due at `at`, when none exists in any verify
// queue, and replaces an archived one (an archived id would block the
// transaction forever). It reports whether it had to repair anything.
func (s *Scheduler) Ensure(ctx context.Context, ref transaction.TaskRef, at time.Time) (bool, error) {
	info, err := s.Task(ref)
	if err != nil {
		return false, err
	}
	if info != nil && info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted {
		return false, nil
	}
	if info != nil {
		if err := s.inspector.DeleteTask(info.Queue, info.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, fmt.Errorf("drop archived check of %s: %w", ref.ID, err)
		}
	}
	return s.enqueue(ctx, tasks.VerifyPayload{TransactionID: ref.ID, RequestID: "sweeper", Seq: ref.Seq, After: "repaired"}, tasks.QueueVerify, at)
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
	Overdue(ctx context.Context, before time.Time, afterID string, limit int) ([]transaction.TaskRef, error)
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
		refs, err := store.Overdue(ctx, before, after, repairBatch)
		if err != nil {
			return r, err
		}
		for _, ref := range refs {
			fixed, err := s.Ensure(ctx, ref, s.now())
			if err != nil {
				return r, fmt.Errorf("repair %s: %w", ref.ID, err)
			}
			if fixed {
				r.Repaired++
			}
		}
		r.Seen += len(refs)
		if len(refs) < repairBatch {
			break
		}
		after = refs[len(refs)-1].ID
	}
	return r, nil
}
