package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/webhook"
	"github.com/banesco-verifier/verifier/tasks"
)

// failAfter records the event (as the real outbox does) and then fails, as
// anything later in the status change's transaction might: the whole change
// must roll back, event and deliveries with it.
type failAfter struct{ real transaction.Outbox }

func (f failAfter) Record(ctx context.Context, tx *sqlx.Tx, c transaction.StatusChange) (func(context.Context), error) {
	if _, err := f.real.Record(ctx, tx, c); err != nil {
		return nil, err
	}
	return nil, errors.New("injected failure after the outbox write")
}

func (e *env) txUUID(t *testing.T, clientID string) string {
	t.Helper()
	var v struct{ ID string }
	e.do(t, http.MethodGet, "/api/v1/transactions/"+clientID, nil).decode(t, &v)
	return v.ID
}

func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.srv.DB.GetContext(context.Background(), &n, `SELECT count(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) createOnly(t *testing.T) string {
	t.Helper()
	n := e.seq.Add(1)
	id := fmt.Sprintf("WH-OB-%d", n)
	r := e.do(t, http.MethodPost, "/api/v1/transactions", map[string]any{"transaction_id": id, "bank": "MOBILE_TRANSFER",
		"reference": fmt.Sprintf("9%011d", n), "customer": map[string]any{"full_name": "Ana Pérez", "phone": "04141234567", "national_id": "V12345678"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return id
}

// TestNoEventForARolledBackChange: the event is written inside the status
// change's transaction, so a change that rolls back leaves no event, no
// delivery, no task and no request; the same change committed leaves
// exactly one of each.
func TestNoEventForARolledBackChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ep := e.register(t)
	id := e.createOnly(t)
	uuid := e.txUUID(t, id)
	real := webhook.NewOutbox(e.srv.Enqueuer)
	change := transaction.Change{ID: uuid, From: []transaction.Status{transaction.StatusInProgress}, To: transaction.StatusCanceled,
		Reason: "rollback test", ActorType: transaction.ActorUser, ActorID: e.userID}

	e.srv.Store.SetOutbox(failAfter{real})
	if _, err := e.srv.Store.Transition(context.Background(), change); err == nil {
		t.Fatal("Transition succeeded although the outbox failed")
	}
	var v struct{ Status string }
	e.do(t, http.MethodGet, "/api/v1/transactions/"+id, nil).decode(t, &v)
	if v.Status != "IN_PROGRESS" {
		t.Fatalf("status %s after the rolled-back change, want IN_PROGRESS", v.Status)
	}
	if n, d := e.count(t, "outbox_events"), e.count(t, "webhook_deliveries"); n != 0 || d != 0 {
		t.Fatalf("%d events and %d deliveries for a change that rolled back", n, d)
	}
	if q, err := e.srv.Inspector.GetQueueInfo(tasks.QueueWebhooks); err == nil && q.Size > 0 {
		t.Fatalf("%d webhook tasks queued for a change that rolled back", q.Size)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(e.rcv.Deliveries()); n != 0 {
		t.Fatalf("the receiver got %d requests for a change that rolled back", n)
	}

	e.srv.Store.SetOutbox(real)
	if _, err := e.srv.Store.Transition(context.Background(), change); err != nil {
		t.Fatal(err)
	}
	e.settled(t, ep.ID, 1)
	if n, d := e.count(t, "outbox_events"), e.count(t, "webhook_deliveries"); n != 1 || d != 1 {
		t.Errorf("%d events and %d deliveries for one committed change, want 1 and 1", n, d)
	}
	if acc := e.rcv.Accepted(); len(acc) != 1 {
		t.Errorf("receiver accepted %v, want one event", acc)
	}
}

// TestLostDeliveriesAreRepaired: deliveries whose task is gone — Redis
// wiped, or Redis down when the change committed — are found by the
// delivery sweeper and sent.
func TestLostDeliveriesAreRepaired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	ep := e.register(t)

	// 1. Enqueued, then Redis loses everything.
	e.cancelNew(t)
	if err := e.srv.RDB.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// 2. Committed while the delivery queue's Redis is unreachable.
	dead := asynq.NewClientFromRedisClient(redis.NewClient(&redis.Options{Addr: redistest.ClosedAddr(t), MaxRetries: -1}))
	deadInspector := asynq.NewInspectorFromRedisClient(redis.NewClient(&redis.Options{Addr: redistest.ClosedAddr(t), MaxRetries: -1}))
	e.srv.Store.SetOutbox(webhook.NewOutbox(webhook.NewEnqueuer(dead, deadInspector, zerolog.Nop())))
	id := e.createOnly(t)
	if _, err := e.srv.Store.Transition(context.Background(), transaction.Change{ID: e.txUUID(t, id),
		From: []transaction.Status{transaction.StatusInProgress}, To: transaction.StatusCanceled, Reason: "redis down",
		ActorType: transaction.ActorUser, ActorID: e.userID}); err != nil {
		t.Fatalf("a status change failed because Redis was down: %v", err)
	}
	if ds := e.deliveries(t, ep.ID); len(ds) != 2 || ds[0].Status != webhook.StatusPending || ds[1].Status != webhook.StatusPending {
		t.Fatalf("deliveries %+v: want two pending", ds)
	}

	// The sweeper leaves a delivery alone for a grace period past its due
	// time (its task may be on its way); move the clock past it.
	if _, err := e.srv.DB.ExecContext(context.Background(), `UPDATE webhook_deliveries SET next_attempt_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	n, err := e.sweeper.Repair(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("Repair = %d, %v; want 2 re-enqueued", n, err)
	}
	if n, err := e.sweeper.Repair(context.Background()); err != nil || n != 0 {
		t.Errorf("a second Repair = %d, %v; want 0 (tasks are live)", n, err)
	}
	e.startWorker()
	e.settled(t, ep.ID, 2)
	if acc := e.rcv.Accepted(); len(acc) != 2 {
		t.Errorf("receiver accepted %v, want both events", acc)
	}
}
