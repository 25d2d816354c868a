package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/config"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

const opsUsage = `usage: worker ops <command>
  stuck [-grace 2m] [-limit 50]        IN_PROGRESS past next_check_at+grace, UNKNOWN, TO_REVIEW
  requeue <transaction_id>...          check now (earliest time the bank limit allows)
  requeue -all-stuck [-grace 2m]       give every overdue IN_PROGRESS without a live task a new one
  show <transaction_id>                the transaction, its events and its task in Asynq
transaction_id is the client's id or our UUID. Safe while workers run: tasks are
keyed by transaction (asynq.TaskID), so a check is never queued twice.`

// opsCommand runs `worker ops …` against DATABASE_URL and REDIS_URL.
func opsCommand(ctx context.Context, cfg config.Config, out io.Writer, args []string) error {
	if len(args) == 0 {
		return errors.New(opsUsage)
	}
	db, rdb, err := connect(ctx, cfg, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	defer rdb.Close()
	return newOpsTool(db, rdb, queue.Spacing(cfg.BanescoPerTxPerMinute), out).run(ctx, args)
}

// opsTool holds what the ops commands need.
type opsTool struct {
	db        *sqlx.DB
	store     *transaction.Store
	inspector *asynq.Inspector
	scheduler *queue.Scheduler
	out       io.Writer
}

func newOpsTool(db *sqlx.DB, rdb redis.UniversalClient, spacing time.Duration, out io.Writer) *opsTool {
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	client := asynq.NewClientFromRedisClient(rdb)
	return &opsTool{db: db, store: transaction.NewStore(db, nil), inspector: inspector,
		scheduler: queue.NewScheduler(client, inspector, spacing), out: out}
}

func (o *opsTool) run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ops "+args[0], flag.ContinueOnError)
	fs.SetOutput(o.out)
	grace := fs.Duration("grace", 2*time.Minute, "how late a check may be before it counts as stuck")
	limit := fs.Int("limit", 50, "rows per status")
	allStuck := fs.Bool("all-stuck", false, "requeue every overdue IN_PROGRESS transaction without a live task")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "stuck":
		return o.stuck(ctx, *grace, *limit)
	case "requeue":
		if *allStuck {
			return o.requeueAll(ctx, *grace)
		}
		if fs.NArg() == 0 {
			return errors.New("requeue: give transaction ids or -all-stuck")
		}
		for _, id := range fs.Args() {
			if err := o.requeue(ctx, id); err != nil {
				return err
			}
		}
		return nil
	case "show":
		if fs.NArg() != 1 {
			return errors.New("show: give one transaction id")
		}
		return o.show(ctx, fs.Arg(0))
	}
	return fmt.Errorf("unknown ops command %q\n%s", args[0], opsUsage)
}

func (o *opsTool) stuck(ctx context.Context, grace time.Duration, limit int) error {
	rows, err := o.store.Stuck(ctx, time.Now().Add(-grace), limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tTRANSACTION_ID\tID\tATTEMPTS\tNEXT_CHECK_AT\tDEADLINE_AT\tTASK\tREASON")
	for _, r := range rows {
		task := "-"
		if r.Status == transaction.StatusInProgress {
			task = o.taskSummary(transaction.TaskRef{ID: r.ID, Seq: r.TaskSeq})
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Status, r.TransactionID, r.ID, r.Attempts,
			fmtTime(r.NextCheckAt), fmtTime(&r.DeadlineAt), task, r.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%d transaction(s)\n", len(rows))
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func (o *opsTool) taskSummary(ref transaction.TaskRef) string {
	info, err := o.scheduler.Task(ref)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case info == nil:
		return "none"
	case info.NextProcessAt.IsZero():
		return info.Queue + "/" + info.State.String()
	}
	return info.Queue + "/" + info.State.String() + "@" + info.NextProcessAt.UTC().Format(time.RFC3339)
}

// lookup finds a live transaction by the client's id, else by our UUID.
func (o *opsTool) lookup(ctx context.Context, id string) (transaction.Transaction, error) {
	t, err := o.store.Get(ctx, id, "")
	if errors.Is(err, transaction.ErrNotFound) && looksLikeUUID(id) {
		t, err = o.store.ByID(ctx, id)
		if err == nil && t.DeletedAt.Valid {
			err = transaction.ErrNotFound
		}
	}
	if errors.Is(err, transaction.ErrNotFound) {
		return t, fmt.Errorf("transaction %q: not found", id)
	}
	return t, err
}

func looksLikeUUID(s string) bool {
	return len(s) == 36 && strings.Count(s, "-") == 4
}

// requeue moves one IN_PROGRESS transaction's check to now (as POST …/verify does).
func (o *opsTool) requeue(ctx context.Context, id string) error {
	t, err := o.lookup(ctx, id)
	if err != nil {
		return err
	}
	if t.Status != transaction.StatusInProgress {
		return fmt.Errorf("transaction %s is %s: only IN_PROGRESS transactions are checked with the bank (settle it with PATCH /api/v1/transactions/%s)",
			t.TransactionID, t.Status, t.TransactionID)
	}
	// The same path as POST …/verify, without reopening.
	at, _, err := o.store.CheckNow(ctx, o.scheduler, t, 0, "ops", "ops")
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%s: check queued for %s (%s)\n", t.TransactionID, at.UTC().Format(time.RFC3339), o.taskSummary(t.Task()))
	return nil
}

// requeueAll does what the sweeper does, now and with the operator's grace.
func (o *opsTool) requeueAll(ctx context.Context, grace time.Duration) error {
	res, err := o.scheduler.RepairOverdue(ctx, o.store, time.Now().Add(-grace), 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%d overdue transaction(s) got a new task; %d already had a live one\n", res.Repaired, res.Seen-res.Repaired)
	return nil
}

func (o *opsTool) show(ctx context.Context, id string) error {
	t, err := o.lookup(ctx, id)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	reason := "-"
	if t.StatusReason.Valid {
		reason = t.StatusReason.String
	}
	var last *time.Time
	if t.LastCheckedAt.Valid {
		last = &t.LastCheckedAt.Time
	}
	var next *time.Time
	if t.NextCheckAt.Valid {
		next = &t.NextCheckAt.Time
	}
	for _, kv := range [][2]string{
		{"transaction_id", t.TransactionID}, {"id", t.ID}, {"status", string(t.Status)}, {"status_reason", reason},
		{"bank", t.Bank}, {"transaction_type", t.TransactionType}, {"attempts", fmt.Sprint(t.Attempts)},
		{"created_at", fmtTime(&t.CreatedAt)}, {"last_checked_at", fmtTime(last)}, {"next_check_at", fmtTime(next)},
		{"deadline_at", fmtTime(&t.DeadlineAt)}, {"task", o.taskSummary(t.Task())},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if info, err := o.scheduler.Task(t.Task()); err == nil && info != nil {
		fmt.Fprintf(o.out, "task: queue=%s state=%s retried=%d next_process_at=%s last_failed_at=%s\n", info.Queue, info.State,
			info.Retried, fmtOptTime(info.NextProcessAt), fmtOptTime(info.LastFailedAt))
		if info.LastErr != "" {
			fmt.Fprintf(o.out, "task last error: %s\n", info.LastErr)
		}
	}
	events, err := o.store.Events(ctx, t.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "\nevents (%d):\n", len(events))
	tw = tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tFROM\tTO\tREASON\tACTOR\tMETADATA")
	for _, e := range events {
		from := "-"
		if e.OldStatus != nil {
			from = string(*e.OldStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s:%s\t%s\n", e.CreatedAt.UTC().Format(time.RFC3339), from, e.NewStatus,
			e.Reason, e.ActorType, e.ActorID, e.Metadata)
	}
	return tw.Flush()
}

func fmtOptTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
