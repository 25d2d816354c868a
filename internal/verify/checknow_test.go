package verify_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestVerifyNowAndCancelOverHTTP: POST …/verify brings a check scheduled an
// hour away to the earliest moment the bank's per-transaction limit allows, and
// the checks after it return to the routine queue; DELETE and PATCH CANCELED
// remove the pending check for good.
func TestVerifyNowAndCancelOverHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true, schedule: []time.Duration{time.Hour}, deadline: 24 * time.Hour})
	spacing := b.limiter.PerTransactionSpacing()

	// checkedOnce creates a transaction over HTTP and waits until its first
	// check found nothing and the next one is Scheduled an hour away.
	checkedOnce := func(t *testing.T) transaction.View {
		t.Helper()
		v := b.postTx(t, transaction.BankMobileTransfer)
		eventually(t, 10*time.Second, func() (bool, string) {
			info := b.taskOf(t, v.ID)
			if info == nil {
				return false, "no task"
			}
			return info.State == asynq.TaskStateScheduled && info.Queue == tasks.QueueVerify && time.Until(info.NextProcessAt) > 50*time.Minute,
				"task " + info.Queue + " " + info.State.String() + " at " + info.NextProcessAt.String()
		})
		return v
	}
	verifyNow := func(t *testing.T, v transaction.View) time.Time {
		t.Helper()
		r := b.do(t, http.MethodPost, "/api/v1/transactions/"+v.TransactionID+"/verify", b.userToken, nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("POST …/verify: %d %s", r.status, r.body)
		}
		var out struct {
			NextCheckAt time.Time `json:"next_check_at"`
		}
		r.decode(t, &out)
		return out.NextCheckAt
	}
	checksOf := func(v transaction.View) int { return len(b.arrivals.of(v.Reference[len(v.Reference)-6:])) }

	t.Run("verify", func(t *testing.T) {
		t.Parallel()
		v := checkedOnce(t)
		last := b.get(t, v.ID).LastCheckedAt.Time
		b.bank.AddPayment(payment(b.get(t, v.ID)))
		asked := time.Now()
		at := verifyNow(t, v)
		earliest := last.Add(spacing)
		if asked.After(earliest) {
			earliest = asked
		}
		if d := at.Sub(earliest); d < -10*time.Millisecond || d > time.Second {
			t.Errorf("next_check_at %s: want the earliest the limit allows, %s (last check %s + %s)", at, earliest, last, spacing)
		}
		info := b.taskOf(t, v.ID)
		if info == nil || info.Queue != tasks.QueueVerifyNow {
			t.Fatalf("task after POST …/verify = %+v, want it in %s", info, tasks.QueueVerifyNow)
		}
		if info.NextProcessAt.After(at.Add(time.Second)) {
			t.Errorf("task runs at %s, want %s", info.NextProcessAt, at)
		}
		if old := b.tasksOf(t, v.ID, tasks.QueueVerify, asynq.TaskStateScheduled); len(old) != 0 {
			t.Errorf("the hour-away check is still scheduled in %s: %s", tasks.QueueVerify, old[0].ID)
		}
		r := b.do(t, http.MethodGet, "/api/v1/transactions/"+v.TransactionID+"/status", b.userToken, nil)
		var st transaction.StatusView
		r.decode(t, &st)
		if st.NextCheckAt == nil || !st.NextCheckAt.Equal(at.Truncate(time.Microsecond)) {
			t.Errorf("GET …/status next_check_at = %v, want %s as POST …/verify said", st.NextCheckAt, at)
		}

		got := b.waitStatus(t, v.ID, transaction.StatusCompleted, 10*time.Second)
		if got.Attempts != 2 {
			t.Errorf("attempts %d, want 2", got.Attempts)
		}
		if arr := b.arrivals.of(v.Reference[len(v.Reference)-6:]); len(arr) != 2 || arr[1].Sub(arr[0]) < spacing {
			t.Errorf("bank saw %d checks (%v): want 2, at least %s apart", len(arr), arr, spacing)
		}

		r = b.do(t, http.MethodPost, "/api/v1/transactions/"+v.TransactionID+"/verify", b.userToken, nil)
		var e errorBody
		r.decode(t, &e)
		if r.status != http.StatusConflict || e.Error.Code != "invalid_transition" {
			t.Errorf("POST …/verify on COMPLETED: %d %s, want 409 invalid_transition", r.status, r.body)
		}
	})

	t.Run("verify, still not found", func(t *testing.T) {
		t.Parallel()
		v := checkedOnce(t)
		at := verifyNow(t, v)
		// The check asked for runs, finds nothing, and the next one is back
		// in the routine queue on the schedule, not in verify_now.
		eventually(t, time.Until(at)+15*time.Second, func() (bool, string) {
			got := b.get(t, v.ID)
			info := b.taskOf(t, v.ID)
			if got.Attempts != 2 || info == nil {
				return false, fmt.Sprintf("attempts %d, task %v", got.Attempts, info)
			}
			return info.Queue == tasks.QueueVerify && info.State == asynq.TaskStateScheduled && time.Until(info.NextProcessAt) > 50*time.Minute,
				fmt.Sprintf("task %s %s %s at %s", info.ID, info.Queue, info.State, info.NextProcessAt)
		})
		if now := b.tasksOf(t, v.ID, tasks.QueueVerifyNow, asynq.TaskStateScheduled); len(now) != 0 {
			t.Errorf("a check is still in %s: %s", tasks.QueueVerifyNow, now[0].ID)
		}
	})

	for _, tc := range []struct {
		name   string
		cancel func(t *testing.T, v transaction.View)
	}{
		{"DELETE", func(t *testing.T, v transaction.View) {
			r := b.do(t, http.MethodDelete, "/api/v1/transactions/"+v.TransactionID, b.adminToken, nil)
			if r.status != http.StatusNoContent {
				t.Fatalf("DELETE: %d %s", r.status, r.body)
			}
		}},
		{"PATCH CANCELED", func(t *testing.T, v transaction.View) {
			r := b.do(t, http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, b.adminToken,
				map[string]string{"status": "CANCELED", "reason": "the customer withdrew"})
			if r.status != http.StatusOK {
				t.Fatalf("PATCH: %d %s", r.status, r.body)
			}
			got := b.get(t, v.ID)
			if got.Status != transaction.StatusCanceled {
				t.Errorf("status %s, want CANCELED", got.Status)
			}
			if tr := transitions(b.events(t, v.ID)); len(tr) != 1 || tr[0] != "IN_PROGRESS→CANCELED" {
				t.Errorf("transitions %v, want IN_PROGRESS→CANCELED", tr)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := checkedOnce(t)
			b.bank.AddPayment(payment(b.get(t, v.ID)))
			// Bring the check close, then cancel before it runs.
			at := verifyNow(t, v)
			tc.cancel(t, v)
			if info := b.taskOf(t, v.ID); info != nil {
				t.Fatalf("task after cancel = %s %s, want none", info.Queue, info.State)
			}
			time.Sleep(time.Until(at) + 2*time.Second)
			if n := checksOf(v); n != 1 {
				t.Errorf("the bank saw %d checks, want only the first: the worker checked a canceled transaction", n)
			}
			if got := b.get(t, v.ID); got.Status == transaction.StatusCompleted || got.Attempts != 1 {
				t.Errorf("status %s attempts %d after cancel, want no further check", got.Status, got.Attempts)
			}
		})
	}
}
