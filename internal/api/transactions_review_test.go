package api_test

import (
	"net/http"
	"testing"

	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestVerifyReopensReviewAndUnknown: POST …/verify on a TO_REVIEW or UNKNOWN
// transaction puts it back to IN_PROGRESS with one USER event and a queued
// check; on a final one it is 409.
func TestVerifyReopensReviewAndUnknown(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	for _, from := range []transaction.Status{transaction.StatusToReview, transaction.StatusUnknown} {
		v := e.create(t, e.admin, e.txBody())
		e.setStatus(t, v.ID, from)
		before := len(e.events(t, e.admin, v.TransactionID))
		r := e.do(t, http.MethodPost, "/api/v1/transactions/"+v.TransactionID+"/verify", e.admin.token, nil)
		r.want(t, http.StatusAccepted)
		got := e.get(t, e.admin, v.TransactionID)
		if got.Status != string(transaction.StatusInProgress) {
			t.Errorf("%s + verify: status %s, want IN_PROGRESS", from, got.Status)
		}
		events := e.events(t, e.admin, v.TransactionID)
		if len(events) != before+1 {
			t.Fatalf("%s + verify: %d new events, want 1", from, len(events)-before)
		}
		last := events[len(events)-1]
		if last.OldStatus == nil || *last.OldStatus != string(from) || last.NewStatus != "IN_PROGRESS" || last.ActorType != "USER" || last.Reason != "recheck_requested" {
			t.Errorf("%s + verify: event %+v", from, last)
		}
		if e.task(t, tasks.QueueVerifyNow, v.ID) == nil {
			t.Errorf("%s + verify: no check queued in %s", from, tasks.QueueVerifyNow)
		}
	}
	for _, final := range []transaction.Status{transaction.StatusCompleted, transaction.StatusCanceled} {
		v := e.create(t, e.admin, e.txBody())
		e.setStatus(t, v.ID, final)
		e.do(t, http.MethodPost, "/api/v1/transactions/"+v.TransactionID+"/verify", e.admin.token, nil).
			wantErr(t, http.StatusConflict, "invalid_transition")
	}
}

// TestErrorsNameEveryField: a nested unknown field is named by its path, and a
// list request with bad paging and a bad filter names both.
func TestErrorsNameEveryField(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	body := with(e.txBody(), "customer.email", "ana@example.com")
	e.do(t, http.MethodPost, "/api/v1/transactions", e.admin.token, body).
		wantErr(t, http.StatusUnprocessableEntity, "validation_failed", "customer.email")
	e.do(t, http.MethodGet, "/api/v1/transactions?status=FOO&size=1000", e.admin.token, nil).
		wantErr(t, http.StatusUnprocessableEntity, "validation_failed", "size", "status")
}

// TestPatchWithoutReasonLeavesReasonNull: no reason means no status_reason.
func TestPatchWithoutReasonLeavesReasonNull(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	v := e.create(t, e.admin, e.txBody())
	r := e.do(t, http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, e.admin.token, map[string]any{"status": "CANCELED"})
	r.want(t, http.StatusOK)
	var got struct {
		StatusReason *string `json:"status_reason"`
	}
	r.decode(t, &got)
	if got.StatusReason != nil {
		t.Errorf("status_reason = %q, want null", *got.StatusReason)
	}
}
