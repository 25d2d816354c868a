package verify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// TestBankReplies takes every row of the bank's status-code table
// (bank-api.md §2) through a real worker and checks what the transaction
// ends as and what its history says.
func TestBankReplies(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})

	transient := func(reply banksandbox.Reply, code string) func(t *testing.T, tx transaction.Transaction) {
		return func(t *testing.T, tx transaction.Transaction) {
			b.bank.AddPayment(payment(tx))
			b.bank.Script(tail(tx), reply)
			b.run(t, tx)
			tx = b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
			ev := b.events(t, tx.ID)
			cs := checks(ev)
			// The bank gave no real answer: recorded, but not an attempt.
			if len(cs) != 2 || tx.Attempts != 1 || tx.BankFailures != 0 {
				t.Fatalf("%d checks, attempts %d, bank_failures %d: want the failed one (not an attempt), then the hit (resetting the count)",
					len(cs), tx.Attempts, tx.BankFailures)
			}
			m := meta(t, cs[0])
			if m["bank_status_code"] != code || m["outcome"] != "unavailable" || m["error"] == nil || m["attempt"] != float64(0) {
				t.Errorf("first check metadata %v: want bank_status_code %s, outcome unavailable, the error text, attempt 0", m, code)
			}
			if got := transitions(ev); len(got) != 1 || got[0] != "IN_PROGRESS→COMPLETED" {
				t.Errorf("transitions %v: want only IN_PROGRESS→COMPLETED (it stayed IN_PROGRESS after the failure)", got)
			}
		}
	}
	review := func(reason string, arrange func(tx transaction.Transaction)) func(t *testing.T, tx transaction.Transaction) {
		return func(t *testing.T, tx transaction.Transaction) {
			arrange(tx)
			b.run(t, tx)
			tx = b.waitStatus(t, tx.ID, transaction.StatusToReview, 20*time.Second)
			if !tx.StatusReason.Valid || tx.StatusReason.String != reason {
				t.Errorf("status_reason %v, want %s", tx.StatusReason, reason)
			}
			if tx.NextCheckAt.Valid || tx.Attempts != 1 {
				t.Errorf("next_check_at %v, attempts %d: want no next check after 1", tx.NextCheckAt, tx.Attempts)
			}
			if got := transitions(b.events(t, tx.ID)); len(got) != 1 || got[0] != "IN_PROGRESS→TO_REVIEW" {
				t.Errorf("transitions %v, want IN_PROGRESS→TO_REVIEW", got)
			}
			eventually(t, 5*time.Second, func() (bool, string) {
				return b.taskOf(t, tx.ID) == nil, "a TO_REVIEW transaction still has a task"
			})
		}
	}
	script := func(r banksandbox.Reply) func(tx transaction.Transaction) {
		return func(tx transaction.Transaction) { b.bank.Script(tail(tx), r) }
	}

	for _, tc := range []struct {
		name string
		bank string
		test func(t *testing.T, tx transaction.Transaction)
	}{
		{"200 hit", transaction.BankMobileTransfer, func(t *testing.T, tx transaction.Transaction) {
			b.bank.AddPayment(payment(tx))
			b.run(t, tx)
			tx = b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
			if tx.Attempts != 1 || tx.BankPayload == nil || tx.StatusReason.String != "bank_confirmed" {
				t.Errorf("attempts %d, bank payload %v, reason %v: want 1 check, the row, bank_confirmed", tx.Attempts, tx.BankPayload, tx.StatusReason)
			}
		}},
		{"200 hit, transfer", transaction.BankBanesco, func(t *testing.T, tx transaction.Transaction) {
			b.bank.AddPayment(payment(tx))
			b.run(t, tx)
			b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
		}},
		{"70005 once is retried", transaction.BankMobileTransfer, func(t *testing.T, tx transaction.Transaction) {
			b.bank.AddPayment(payment(tx))
			b.bank.Script(tail(tx), banksandbox.Reply{HTTPStatus: http.StatusOK, StatusCode: "70005"})
			b.run(t, tx)
			tx = b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
			cs := checks(b.events(t, tx.ID))
			if len(cs) != 2 || tx.Attempts != 1 || tx.RangeTooWide != 0 {
				t.Fatalf("%d checks, attempts %d, range_too_wide %d: want 70005 (not an attempt), then the hit", len(cs), tx.Attempts, tx.RangeTooWide)
			}
			if m := meta(t, cs[0]); m["bank_status_code"] != "70005" || m["outcome"] != "rejected" {
				t.Errorf("first check %v: want 70005", m)
			}
		}},
		{"70005 three times in a row goes to review", transaction.BankMobileTransfer, func(t *testing.T, tx transaction.Transaction) {
			r := banksandbox.Reply{HTTPStatus: http.StatusOK, StatusCode: "70005"}
			b.bank.Script(tail(tx), r, r, r)
			b.run(t, tx)
			tx = b.waitStatus(t, tx.ID, transaction.StatusToReview, 20*time.Second)
			if tx.StatusReason.String != "date_range_too_wide" || tx.RangeTooWide != 3 || tx.Attempts != 1 {
				t.Errorf("reason %v, range_too_wide %d, attempts %d: want date_range_too_wide after 3", tx.StatusReason, tx.RangeTooWide, tx.Attempts)
			}
			if n := len(checks(b.events(t, tx.ID))); n != 3 {
				t.Errorf("%d checks, want 3", n)
			}
		}},
		{"VDE01 invalid input", transaction.BankBanesco,
			review("bank_rejected_VDE01", script(banksandbox.Reply{HTTPStatus: http.StatusBadRequest, StatusCode: "VDE01"}))},
		{"VDE02 invalid input", transaction.BankMobileTransfer,
			review("bank_rejected_VDE02", script(banksandbox.Reply{HTTPStatus: http.StatusBadRequest, StatusCode: "VDE02"}))},
		{"amount mismatch", transaction.BankMobileTransfer, review("amount_mismatch", func(tx transaction.Transaction) {
			p := payment(tx)
			p.Amount = "1239.99"
			b.bank.AddPayment(p)
		})},
		{"two movements and no amount to tell them apart", transaction.BankBanesco, review("ambiguous_match", func(tx transaction.Transaction) {
			if _, err := b.db.ExecContext(context.Background(), `UPDATE transactions SET amount = NULL WHERE id = $1`, tx.ID); err != nil {
				panic(err)
			}
			p := payment(tx)
			b.bank.AddPayment(p)
			p.Amount = "99.00"
			b.bank.AddPayment(p)
		})},
		{"VRN04 maintenance", transaction.BankMobileTransfer,
			transient(banksandbox.Reply{HTTPStatus: http.StatusServiceUnavailable, StatusCode: "VRN04"}, "VRN04")},
		{"VRN06 unavailable", transaction.BankBanesco,
			transient(banksandbox.Reply{HTTPStatus: http.StatusFailedDependency, StatusCode: "VRN06"}, "VRN06")},
		{"500", transaction.BankMobileTransfer, transient(banksandbox.Reply{HTTPStatus: http.StatusInternalServerError}, "500")},
		{"503", transaction.BankBanesco, transient(banksandbox.Reply{HTTPStatus: http.StatusServiceUnavailable}, "503")},
		{"504", transaction.BankMobileTransfer, transient(banksandbox.Reply{HTTPStatus: http.StatusGatewayTimeout}, "504")},
		{"VRN05 with Retry-After", transaction.BankMobileTransfer, func(t *testing.T, tx transaction.Transaction) {
			const retryAfter = 2 * time.Second
			b.bank.AddPayment(payment(tx))
			b.bank.Script(tail(tx), banksandbox.Reply{HTTPStatus: http.StatusTooManyRequests, StatusCode: "VRN05", RetryAfter: retryAfter})
			b.run(t, tx)
			// While it waits: Scheduled, not a failure.
			eventually(t, 10*time.Second, func() (bool, string) {
				info := b.taskOf(t, tx.ID)
				if info == nil {
					return false, "no task"
				}
				return info.State == asynq.TaskStateScheduled && strings.Contains(string(info.Payload), "VRN05"),
					"task " + info.State.String() + ": " + string(info.Payload)
			})
			if info := b.taskOf(t, tx.ID); info != nil && (info.Retried != 0 || info.LastErr != "") {
				t.Errorf("retried %d (%q) after a 429: the wait counted as a failure", info.Retried, info.LastErr)
			}
			tx = b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
			if tx.Attempts != 1 {
				t.Errorf("attempts %d: the 429 must not count", tx.Attempts)
			}
			at := b.arrivals.of(tail(tx))
			if len(at) != 2 {
				t.Fatalf("the bank saw %d checks, want 2", len(at))
			}
			if gap := at[1].Sub(at[0]); gap < retryAfter {
				t.Errorf("asked again %s after a Retry-After of %s", gap, retryAfter)
			}
			cs := checks(b.events(t, tx.ID))
			if m := meta(t, cs[0]); m["bank_status_code"] != "VRN05" || m["outcome"] != "rate_limited" {
				t.Errorf("429 check metadata %v: want VRN05 rate_limited", m)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, b.newTx(t, tc.bank))
		})
	}
}

// run enqueues the first check of a transaction made with newTx.
func (b *bundle) run(t *testing.T, tx transaction.Transaction) {
	t.Helper()
	if err := b.scheduler.Enqueue(context.Background(), tx.ID, "test", time.Now()); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
}

// TestNotFoundYetIsScheduled: 70001 keeps the transaction IN_PROGRESS and hands
// over to a successor task, Scheduled at the next check of VERIFY_SCHEDULE
// with a reason an operator can read: not a retried failure. Asynq's Retry
// list and failure counters stay empty, as an operator sees them in Asynqmon.
func TestNotFoundYetIsScheduled(t *testing.T) {
	t.Parallel()
	b := setup(t, options{schedule: []time.Duration{time.Hour}, deadline: 24 * time.Hour})
	tx := b.newTx(t, transaction.BankMobileTransfer)
	b.bank.Script(tail(tx), banksandbox.Reply{HTTPStatus: http.StatusOK, StatusCode: "70001"})
	b.run(t, tx)

	var info *asynq.TaskInfo
	eventually(t, 10*time.Second, func() (bool, string) {
		s := b.tasksOf(t, tx.ID, tasks.QueueVerify, asynq.TaskStateScheduled)
		if len(s) == 1 {
			info = s[0]
			return true, ""
		}
		return false, fmt.Sprintf("%d scheduled tasks of the transaction in %s", len(s), tasks.QueueVerify)
	})
	if info.ID != tasks.VerifyTaskID(tx.ID, 1) {
		t.Errorf("scheduled task %s, want the first one's successor %s", info.ID, tasks.VerifyTaskID(tx.ID, 1))
	}
	var p tasks.VerifyPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil || p.TransactionID != tx.ID || p.Seq != 1 || p.RequestID != "test" {
		t.Errorf("successor payload %s (%v): want the transaction id, seq 1 and the request id that started it", info.Payload, err)
	}
	if !strings.Contains(p.After, "not found at the bank yet after 1 check(s)") {
		t.Errorf("successor's reason %q: want a readable 'not found at the bank yet' text", p.After)
	}
	if info.Retried != 0 || info.LastErr != "" {
		t.Errorf("retried %d, last error %q: a miss is not a failure", info.Retried, info.LastErr)
	}
	if r := b.tasksOf(t, tx.ID, tasks.QueueVerify, asynq.TaskStateRetry); len(r) != 0 {
		t.Errorf("%d tasks of the transaction in the Retry list", len(r))
	}
	if q, err := b.inspector.GetQueueInfo(tasks.QueueVerify); err != nil || q.Retry != 0 || q.FailedTotal != 0 {
		t.Errorf("queue %s: retry %d, failed %d (%v): want 0 and 0", tasks.QueueVerify, q.Retry, q.FailedTotal, err)
	}
	if wantAt := time.Now().Add(time.Hour); info.NextProcessAt.Before(wantAt.Add(-time.Minute)) || info.NextProcessAt.After(wantAt.Add(time.Minute)) {
		t.Errorf("next process at %s, want about an hour from now", info.NextProcessAt)
	}
	got := b.get(t, tx.ID)
	if got.Status != transaction.StatusInProgress || got.Attempts != 1 || !got.LastCheckedAt.Valid || !got.NextCheckAt.Valid {
		t.Fatalf("status %s attempts %d last %v next %v: want IN_PROGRESS after 1 check with a next one",
			got.Status, got.Attempts, got.LastCheckedAt, got.NextCheckAt)
	}
	if d := got.NextCheckAt.Time.Sub(got.LastCheckedAt.Time); d != time.Hour {
		t.Errorf("next check %s after the last, want 1h (VERIFY_SCHEDULE)", d)
	}
	cs := checks(b.events(t, tx.ID))
	if len(cs) != 1 {
		t.Fatalf("%d check events, want 1", len(cs))
	}
	if m := meta(t, cs[0]); m["bank_status_code"] != "70001" || m["outcome"] != "not_found" {
		t.Errorf("check metadata %v: want 70001 not_found", m)
	}
	if got.TaskSeq != 1 {
		t.Errorf("task_seq %d, want 1: Postgres names the successor", got.TaskSeq)
	}
}

// TestCredentialsRejected: a check the bank rejects for its token (VRN01)
// is not re-sent at once (the bank counted it toward the reference's limit):
// it is recorded as unavailable, not an attempt, the token is dropped, and
// the next check, in its own slot, goes with a new token.
func TestCredentialsRejected(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	tx := b.newTx(t, transaction.BankMobileTransfer)
	b.bank.AddPayment(payment(tx))
	vrn01 := banksandbox.Reply{HTTPStatus: http.StatusUnauthorized, StatusCode: "VRN01"}
	b.bank.Script(tail(tx), vrn01, vrn01)
	b.run(t, tx)

	tx = b.waitStatus(t, tx.ID, transaction.StatusCompleted, 20*time.Second)
	ev := b.events(t, tx.ID)
	cs := checks(ev)
	if len(cs) != 3 || tx.Attempts != 1 {
		t.Fatalf("%d checks, attempts %d: want two rejected ones (not attempts), then the hit", len(cs), tx.Attempts)
	}
	for _, c := range cs[:2] {
		if m := meta(t, c); m["bank_status_code"] != "VRN01" || m["outcome"] != "unavailable" {
			t.Errorf("rejected check metadata %v: want VRN01 unavailable", m)
		}
	}
	if got := transitions(ev); len(got) != 1 || got[0] != "IN_PROGRESS→COMPLETED" {
		t.Errorf("transitions %v: want only IN_PROGRESS→COMPLETED", got)
	}
	if st := b.bank.Stats(); st.TokenRequests != 3 {
		t.Errorf("token requests %d, want 3: the first token and one after each rejection", st.TokenRequests)
	}
	at := b.arrivals.of(tail(tx))
	if len(at) != 3 {
		t.Fatalf("the bank saw %d check requests, want 3: one per check, nothing re-sent", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < b.limiter.PerTransactionSpacing() {
			t.Errorf("requests %d and %d %s apart, want at least the spacing %s", i-1, i, gap, b.limiter.PerTransactionSpacing())
		}
	}
}

// TestDeadlinePassedIsUnknown: a payment the bank never shows is UNKNOWN once
// VERIFY_DEADLINE has passed.
func TestDeadlinePassedIsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deadline: 1500 * time.Millisecond})
	tx := b.create(t, transaction.BankMobileTransfer)
	tx = b.waitStatus(t, tx.ID, transaction.StatusUnknown, 20*time.Second)
	if tx.StatusReason.String != "not_found_by_deadline" || tx.NextCheckAt.Valid {
		t.Errorf("reason %v next %v: want not_found_by_deadline and no next check", tx.StatusReason, tx.NextCheckAt)
	}
	if tx.Attempts < 2 {
		t.Errorf("attempts %d: want a check before and one at the deadline", tx.Attempts)
	}
	if got := transitions(b.events(t, tx.ID)); len(got) != 1 || got[0] != "IN_PROGRESS→UNKNOWN" {
		t.Errorf("transitions %v, want IN_PROGRESS→UNKNOWN", got)
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		return b.taskOf(t, tx.ID) == nil, "an UNKNOWN transaction still has a task"
	})
}
