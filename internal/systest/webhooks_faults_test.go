//go:build faults

package systest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/webhooktest"
)

// TestFaultWebhooks: every final status of the fault suite's transactions
// (n COMPLETED, reuses TO_REVIEW) reaches a receiver that fails the first two
// attempts of every event, through a worker kill -9, a Redis FLUSHALL and a
// secret rotation in the middle. Each event is delivered (validly signed,
// answered 2xx) at least once; there is exactly one event per committed final
// status change and none without one.
func TestFaultWebhooks(t *testing.T) {
	rcv := webhooktest.Start(t)
	rcv.Decide(func(_ string, attempt int) webhooktest.Behavior {
		if attempt <= 2 {
			return webhooktest.Fail
		}
		return webhooktest.OK
	})
	var endpointID string
	run(t, scenario{
		opts: Options{Workers: 3, MaxRPS: 25, Concurrency: 10, ExtraEnv: []string{
			"WEBHOOK_ALLOW_HTTP=true", "WEBHOOK_ALLOW_PRIVATE=true", // the receiver is on 127.0.0.1
			"WEBHOOK_SCHEDULE=1s,1s,2s,3s,5s,5s,5s,5s,5s,5s", "WEBHOOK_TIMEOUT=5s", "WEBHOOK_CONCURRENCY=10",
		}},
		setup: func(t *testing.T, ctx context.Context, c *Cluster) {
			code, body, err := c.Do(ctx, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": rcv.URL, "description": "fault suite"})
			var ep struct{ ID, Secret string }
			if err != nil || code != http.StatusCreated || json.Unmarshal(body, &ep) != nil {
				t.Fatalf("register the receiver: %d %s %v", code, body, err)
			}
			endpointID = ep.ID
			rcv.SetSecrets(ep.Secret)
		},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, n/4)
			c.Workers[0].Kill()
			t.Logf("killed worker-0 at %d checks", n/4)
			waitChecks(t, ctx, c, n/2)
			rdb := c.Redis.Client()
			defer rdb.Close()
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Errorf("flushall: %v", err)
			}
			t.Logf("FLUSHALL at %d checks", n/2)
			code, body, err := c.Do(ctx, http.MethodPost, "/api/v1/webhooks/"+endpointID+"/rotate-secret", nil)
			var rot struct{ Secret string }
			if err != nil || code != http.StatusOK || json.Unmarshal(body, &rot) != nil {
				t.Errorf("rotate: %d %s %v", code, body, err)
				return
			}
			// The receiver deploys the new secret beside the old one, then
			// drops the old: every delivery from then on must verify under
			// the new secret alone.
			old := rcv.Secrets()
			rcv.SetSecrets(append(old, rot.Secret)...)
			time.Sleep(5 * time.Second)
			rcv.SetSecrets(rot.Secret)
			t.Log("secret rotated; the receiver now holds only the new one")
		},
		wait: 8 * time.Minute,
		after: func(t *testing.T, ctx context.Context, c *Cluster) {
			// One event per committed final status change, and no other.
			var orphan, missing, events int
			if err := c.DB.GetContext(ctx, &orphan, `SELECT count(*) FROM outbox_events o WHERE o.type LIKE 'transaction.%'
				AND NOT EXISTS (SELECT 1 FROM transaction_events e WHERE e.transaction_id = o.transaction_id
					AND e.old_status IS DISTINCT FROM e.new_status
					AND lower(e.new_status::text) = substr(o.type, length('transaction.') + 1))`); err != nil {
				t.Fatal(err)
			}
			if err := c.DB.GetContext(ctx, &missing, `SELECT count(*) FROM transaction_events e
				WHERE e.new_status IN ('COMPLETED', 'TO_REVIEW', 'UNKNOWN', 'CANCELED') AND e.old_status IS DISTINCT FROM e.new_status
				  AND (SELECT count(*) FROM outbox_events o WHERE o.transaction_id = e.transaction_id
					AND o.type = 'transaction.' || lower(e.new_status::text)) <> 1`); err != nil {
				t.Fatal(err)
			}
			if err := c.DB.GetContext(ctx, &events, `SELECT count(*) FROM outbox_events`); err != nil {
				t.Fatal(err)
			}
			if orphan != 0 || missing != 0 || events != n+reuses {
				t.Errorf("%d events without their committed change, %d changes without exactly one event, %d events (want %d)",
					orphan, missing, events, n+reuses)
			}
			// Every event reaches the receiver, however long the schedule takes.
			deadline := time.Now().Add(3 * time.Minute)
			var pending int
			for {
				if err := c.DB.GetContext(ctx, &pending, `SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'`); err != nil {
					t.Fatal(err)
				}
				if pending == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Second)
			}
			var ids []string
			if err := c.DB.SelectContext(ctx, &ids, `SELECT 'evt_' || id FROM outbox_events`); err != nil {
				t.Fatal(err)
			}
			accepted := rcv.Accepted()
			lost, twice := 0, 0
			for _, id := range ids {
				switch {
				case accepted[id] == 0:
					lost++
				case accepted[id] > 1:
					twice++
				}
			}
			invalid := 0
			for _, d := range rcv.Deliveries() {
				if !d.Valid {
					invalid++
				}
			}
			var attempts struct {
				Min int `db:"min"`
				Max int `db:"max"`
			}
			_ = c.DB.GetContext(ctx, &attempts, `SELECT min(attempts) AS min, max(attempts) AS max FROM webhook_deliveries`)
			t.Logf("webhooks: %d events, %d requests, %d delivered twice or more (at least once allows it), attempts %d..%d, %d badly signed",
				len(ids), len(rcv.Deliveries()), twice, attempts.Min, attempts.Max, invalid)
			if pending != 0 || lost != 0 {
				t.Errorf("%d deliveries not succeeded, %d events never accepted by the receiver", pending, lost)
			}
			if invalid != 0 {
				t.Errorf("%d deliveries did not verify (rotation must keep signatures valid)", invalid)
			}
			// The receiver failed two attempts of every event before accepting
			// it. A worker killed between a request and its record loses the
			// count of that one attempt (never the delivery), so with one
			// kill -9 the record may say 2, never less.
			if attempts.Min < 2 {
				t.Errorf("a delivery is recorded with %d attempts, but the receiver fails the first two", attempts.Min)
			}
		},
	})
}
