package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

func TestTransactionPatch(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t, allTxPerms...)
	tests := []struct {
		name   string
		from   transaction.Status
		body   any
		status int
		code   string
		fields []string
	}{
		{"IN_PROGRESS to CANCELED", "IN_PROGRESS", map[string]string{"status": "CANCELED", "reason": "client gave up"}, 200, "", nil},
		{"IN_PROGRESS to COMPLETED", "IN_PROGRESS", map[string]string{"status": "COMPLETED"}, 409, "invalid_transition", nil},
		{"TO_REVIEW to COMPLETED", "TO_REVIEW", map[string]string{"status": "COMPLETED", "reason": "seen in the statement"}, 200, "", nil},
		{"TO_REVIEW to CANCELED", "TO_REVIEW", map[string]string{"status": "CANCELED", "reason": "fraud"}, 200, "", nil},
		{"UNKNOWN to COMPLETED", "UNKNOWN", map[string]string{"status": "COMPLETED", "reason": "late"}, 200, "", nil},
		{"UNKNOWN to CANCELED", "UNKNOWN", map[string]string{"status": "CANCELED"}, 200, "", nil},
		{"COMPLETED to COMPLETED", "COMPLETED", map[string]string{"status": "COMPLETED"}, 409, "invalid_transition", nil},
		// A reviewer may reverse a confirmation, saying why.
		{"COMPLETED to CANCELED", "COMPLETED", map[string]string{"status": "CANCELED", "reason": "confirmed by a payment that belongs to another order"}, 200, "", nil},
		{"COMPLETED to CANCELED without a reason", "COMPLETED", map[string]string{"status": "CANCELED"}, 422, "validation_failed", []string{"reason"}},
		{"release_claim with COMPLETED", "TO_REVIEW", map[string]any{"status": "COMPLETED", "release_claim": true}, 422, "validation_failed", []string{"release_claim"}},
		{"release_claim not a boolean", "COMPLETED", map[string]any{"status": "CANCELED", "reason": "x", "release_claim": "yes"}, 422, "validation_failed", []string{"release_claim"}},
		{"CANCELED to COMPLETED", "CANCELED", map[string]string{"status": "COMPLETED"}, 409, "invalid_transition", nil},
		{"CANCELED to CANCELED", "CANCELED", map[string]string{"status": "CANCELED"}, 409, "invalid_transition", nil},
		{"to IN_PROGRESS", "TO_REVIEW", map[string]string{"status": "IN_PROGRESS"}, 422, "validation_failed", []string{"status"}},
		{"to TO_REVIEW", "IN_PROGRESS", map[string]string{"status": "TO_REVIEW"}, 422, "validation_failed", []string{"status"}},
		{"to UNKNOWN", "IN_PROGRESS", map[string]string{"status": "UNKNOWN"}, 422, "validation_failed", []string{"status"}},
		{"lower case", "TO_REVIEW", map[string]string{"status": "completed"}, 422, "validation_failed", []string{"status"}},
		{"no status", "TO_REVIEW", map[string]string{"reason": "x"}, 422, "validation_failed", []string{"status"}},
		{"sql in status", "TO_REVIEW", map[string]string{"status": "COMPLETED' OR 1=1 --"}, 422, "validation_failed", []string{"status"}},
		{"reason too long", "TO_REVIEW", map[string]string{"status": "COMPLETED", "reason": strings.Repeat("x", 501)}, 422, "validation_failed", []string{"reason"}},
		{"unknown field", "TO_REVIEW", map[string]string{"status": "COMPLETED", "amount": "1"}, 422, "validation_failed", []string{"amount"}},
		{"malformed", "TO_REVIEW", `{"status":`, 400, "malformed_json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := e.create(t, a, e.txBody())
			if tt.from != transaction.StatusInProgress {
				e.setStatus(t, v.ID, tt.from)
			}
			before := e.events(t, a, v.TransactionID)
			r, err := e.send(http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, a.token, tt.body,
				map[string]string{"X-Request-ID": "req-patch-" + v.TransactionID})
			if err != nil {
				t.Fatal(err)
			}
			after := e.events(t, a, v.TransactionID)
			got := e.get(t, a, v.TransactionID)
			if tt.code != "" {
				r.wantErr(t, tt.status, tt.code, tt.fields...)
				if len(after) != len(before) || got.Status != string(tt.from) {
					t.Errorf("a refused change wrote: status %s, %d events (was %d)", got.Status, len(after), len(before))
				}
				if tt.from == transaction.StatusInProgress && e.task(t, tasks.QueueVerify, v.ID) == nil {
					t.Errorf("a refused change removed the pending check")
				}
				return
			}
			r.want(t, tt.status)
			var rv txView
			r.decode(t, &rv)
			req := tt.body.(map[string]string)
			wantReason := req["reason"]
			if wantReason == "" {
				wantReason = "<nil>" // no reason given: status_reason stays null
			}
			if rv.Status != req["status"] || got.Status != req["status"] || deref(rv.StatusReason) != wantReason {
				t.Errorf("reply status %s reason %s, stored %s; want %s %q", rv.Status, deref(rv.StatusReason), got.Status, req["status"], req["reason"])
			}
			if rv.NextCheckAt != nil {
				t.Errorf("a settled transaction still has next_check_at %v", rv.NextCheckAt)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("%d events after the change, want %d", len(after), len(before)+1)
			}
			// Oldest first: the creation, then every change in order.
			if after[0].OldStatus != nil || after[0].NewStatus != "IN_PROGRESS" || after[0].Reason != "created" {
				t.Errorf("first event = %+v, want the creation", after[0])
			}
			for i := 1; i < len(after); i++ {
				if after[i].ID <= after[i-1].ID || after[i].CreatedAt.Before(after[i-1].CreatedAt) {
					t.Errorf("events out of order: %+v before %+v", after[i-1], after[i])
				}
			}
			ev := after[len(after)-1]
			if deref(ev.OldStatus) != string(tt.from) || ev.NewStatus != req["status"] || ev.ActorType != "USER" ||
				ev.ActorID != a.id || ev.Reason != req["reason"] {
				t.Errorf("event = %+v, want %s → %s by USER %s", ev, tt.from, req["status"], a.id)
			}
			var meta map[string]any
			if err := json.Unmarshal(ev.Metadata, &meta); err != nil || meta["request_id"] != "req-patch-"+v.TransactionID {
				t.Errorf("event metadata = %s", ev.Metadata)
			}
			if tt.from == transaction.StatusInProgress {
				e.wantNoTask(t, v.ID)
			}
			// A second identical change is refused: the status is final.
			e.do(t, http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, a.token, tt.body).wantErr(t, 409, "invalid_transition")
		})
	}
}

func TestTransactionDelete(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t, allTxPerms...)
	body := e.txBody()
	v := e.create(t, a, body)
	kept := e.create(t, a, e.txBody())
	path := "/api/v1/transactions/" + v.TransactionID
	if e.task(t, tasks.QueueVerify, v.ID) == nil {
		t.Fatal("no task before the delete")
	}

	r := e.do(t, http.MethodDelete, path, a.token, nil)
	r.want(t, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %s", r.body)
	}
	for _, p := range []string{path, path + "/status", path + "/events"} {
		e.do(t, http.MethodGet, p, a.token, nil).wantErr(t, http.StatusNotFound, "not_found")
		e.do(t, http.MethodGet, p, e.admin.token, nil).wantErr(t, http.StatusNotFound, "not_found")
	}
	e.do(t, http.MethodPost, path+"/verify", a.token, nil).wantErr(t, http.StatusNotFound, "not_found")
	e.do(t, http.MethodPatch, path, a.token, map[string]string{"status": "CANCELED"}).wantErr(t, http.StatusNotFound, "not_found")
	e.do(t, http.MethodDelete, path, a.token, nil).wantErr(t, http.StatusNotFound, "not_found")
	e.wantNoTask(t, v.ID)

	for _, who := range []txAccount{a, e.admin} {
		lr := e.do(t, http.MethodGet, "/api/v1/transactions", who.token, nil)
		lr.want(t, http.StatusOK)
		var p txPage
		lr.decode(t, &p)
		if p.Total != 1 || len(p.Items) != 1 || p.Items[0].ID != kept.ID {
			t.Errorf("list after delete = %s", lr.body)
		}
	}
	// The row is kept (soft delete) with a "deleted" event by the user.
	if n := e.countRows(t, `SELECT count(*) FROM transaction_events WHERE transaction_id = $1 AND reason = 'deleted'
		AND actor_type = 'USER' AND actor_id = $2`, v.ID, a.id); n != 1 {
		t.Errorf("%d deletion events, want 1", n)
	}
	// The transaction_id stays taken, for the same body (a replay would show a
	// transaction every other route calls not found) and for another body.
	e.do(t, http.MethodPost, "/api/v1/transactions", a.token, body).
		wantErr(t, http.StatusConflict, "transaction_id_conflict", "transaction_id")
	e.do(t, http.MethodPost, "/api/v1/transactions", a.token, with(body, "amount", "99.99")).
		wantErr(t, http.StatusConflict, "transaction_id_conflict", "transaction_id")
	e.do(t, http.MethodPost, "/api/v1/transactions", a.token, with(body, "reference", "999999999")).
		wantErr(t, http.StatusConflict, "transaction_id_conflict", "transaction_id")
	// Its reference is free again for a new transaction_id.
	e.create(t, a, with(body, "transaction_id", "NEW-"+v.TransactionID))
}

func TestTransactionVerify(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	v := e.create(t, a, e.txBody())
	path := "/api/v1/transactions/" + v.TransactionID + "/verify"

	before := time.Now()
	r := e.do(t, http.MethodPost, path, a.token, nil)
	r.want(t, http.StatusAccepted)
	if got := keysOf(t, r.body); !slices.Equal(got, []string{"next_check_at"}) {
		t.Errorf("keys = %v, want [next_check_at]", got)
	}
	var out struct {
		NextCheckAt time.Time `json:"next_check_at"`
	}
	r.decode(t, &out)
	if out.NextCheckAt.Before(before.Add(-time.Second)) || out.NextCheckAt.After(time.Now().Add(time.Second)) {
		t.Errorf("next_check_at = %v, want now (never checked)", out.NextCheckAt)
	}
	// The check moved to the on-demand queue: one task, not two.
	if e.task(t, tasks.QueueVerifyNow, v.ID) == nil {
		t.Errorf("no task in %s", tasks.QueueVerifyNow)
	}
	if e.task(t, tasks.QueueVerify, v.ID) != nil {
		t.Errorf("the routine task is still in %s", tasks.QueueVerify)
	}
	// Asking again is fine.
	e.do(t, http.MethodPost, path, a.token, nil).want(t, http.StatusAccepted)

	// Checked a moment ago: the next check waits for the per-transaction spacing.
	last := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := e.db.ExecContext(context.Background(), `UPDATE transactions SET last_checked_at = $2 WHERE id = $1`, v.ID, last); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, http.MethodPost, path, a.token, nil)
	r.want(t, http.StatusAccepted)
	r.decode(t, &out)
	if want := last.Add(queue.Spacing(2)); !out.NextCheckAt.Equal(want) {
		t.Errorf("next_check_at = %v, want last check + spacing = %v", out.NextCheckAt, want)
	}

	for _, final := range []transaction.Status{transaction.StatusCompleted, transaction.StatusCanceled} {
		f := e.create(t, a, e.txBody())
		e.setStatus(t, f.ID, final)
		e.do(t, http.MethodPost, "/api/v1/transactions/"+f.TransactionID+"/verify", a.token, nil).
			wantErr(t, http.StatusConflict, "invalid_transition")
	}
}
