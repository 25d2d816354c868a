package verify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
	"github.com/banesco-verifier/verifier/tasks"
)

// successorOf runs task by hand and returns the successor it handed over to
// (the transaction's live task, from Postgres's task_seq), failing when the
// run did not hand over. Runs the limiter holds back are waited out.
func (b *bundle) successorOf(t *testing.T, h *verify.Handler, tx transaction.Transaction, task *asynq.Task) (*asynq.Task, tasks.VerifyPayload) {
	t.Helper()
	for range 5 {
		before := b.get(t, tx.ID).TaskSeq
		if err := h.ProcessTask(context.Background(), task); err != nil {
			t.Fatalf("ProcessTask: %v", err)
		}
		info := b.taskOf(t, tx.ID)
		if info == nil || b.get(t, tx.ID).TaskSeq == before {
			t.Fatalf("the check did not hand over (task %v)", info)
		}
		next := asynq.NewTask(info.Type, info.Payload)
		p, err := tasks.ParseVerify(next)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.After, "bank limit") {
			return next, p
		}
		// The reference's spacing since the last check: wait for the slot.
		time.Sleep(time.Until(info.NextProcessAt) + 100*time.Millisecond)
		task = next
	}
	t.Fatal("the limiter held the check back five times")
	return nil, tasks.VerifyPayload{}
}

// TestOutageBackoffGrowsInARow: each check in a row that gets no real answer
// (here 503) waits the next step of VERIFY_OUTAGE_BACKOFF, says how many came
// in a row, and records the HTTP status the bank answered with.
func TestOutageBackoffGrowsInARow(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1, outage: []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour}, deadline: 24 * time.Hour})
	tx := b.newTx(t, transaction.BankMobileTransfer)
	b.bank.Script(tail(tx), banksandbox.Reply{HTTPStatus: http.StatusServiceUnavailable}, banksandbox.Reply{HTTPStatus: http.StatusServiceUnavailable},
		banksandbox.Reply{HTTPStatus: http.StatusBadGateway})
	task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: tx.ID}, tasks.QueueVerify, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		var p tasks.VerifyPayload
		task, p = b.successorOf(t, b.handler, tx, task)
		got := b.get(t, tx.ID)
		if d := got.NextCheckAt.Time.Sub(got.LastCheckedAt.Time); d != want || got.BankFailures != i+1 {
			t.Errorf("after %d failure(s) in a row: next check in %s, bank_failures %d; want %s and %d", i+1, d, got.BankFailures, want, i+1)
		}
		if wantWhy := fmt.Sprintf(", %d check(s) in a row without an answer", i+1); !strings.Contains(p.After, wantWhy) {
			t.Errorf("successor %d waits for %q: want it to say %d check(s) in a row without an answer", i+1, p.After, i+1)
		}
	}
	cs := checks(b.events(t, tx.ID))
	if len(cs) != 3 {
		t.Fatalf("%d check events, want 3", len(cs))
	}
	for i, want := range []float64{503, 503, 502} {
		if m := meta(t, cs[i]); m["http_status"] != want || m["outcome"] != "unavailable" {
			t.Errorf("check %d metadata %v: want http_status %v, outcome unavailable", i+1, m, want)
		}
	}
}

// TestRangeTooWideSaysHowManyInARow: 70005 answers are counted in a row, in
// the successor's reason and, when they send the transaction to review, in the
// error log an operator reads.
func TestRangeTooWideSaysHowManyInARow(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1, outage: []time.Duration{time.Hour}, deadline: 24 * time.Hour})
	tx := b.newTx(t, transaction.BankMobileTransfer)
	r := banksandbox.Reply{HTTPStatus: http.StatusOK, StatusCode: "70005"}
	b.bank.Script(tail(tx), r, r, r)
	task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: tx.ID}, tasks.QueueVerify, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var p tasks.VerifyPayload
		task, p = b.successorOf(t, b.handler, tx, task)
		if want := fmt.Sprintf("70005 (date range too wide), %d in a row", i+1); !strings.Contains(p.After, want) {
			t.Errorf("successor %d waits for %q: want %q", i+1, p.After, want)
		}
	}
	for range 5 { // the third 70005 sends it to review (the limiter may hold it back first)
		if err := b.handler.ProcessTask(context.Background(), task); err != nil {
			t.Fatal(err)
		}
		if b.get(t, tx.ID).Status == transaction.StatusToReview {
			break
		}
		info := b.taskOf(t, tx.ID)
		time.Sleep(time.Until(info.NextProcessAt) + 100*time.Millisecond)
		task = asynq.NewTask(info.Type, info.Payload)
	}
	if got := b.get(t, tx.ID); got.Status != transaction.StatusToReview {
		t.Fatalf("status %s after three 70005, want TO_REVIEW", got.Status)
	}
	if logs := b.logs.tail(20_000); !strings.Contains(logs, `"in_a_row":3`) || !strings.Contains(logs, "keeps answering 70005") {
		t.Errorf("the error log does not say 3 in a row:\n%s", logs)
	}
}

// TestCheckOutcomesAreCounted: verify_checks_total counts what the bank's
// rows decided once the claims were settled: confirmed, review for a payment
// that already confirmed another transaction.
func TestCheckOutcomesAreCounted(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: -1})
	reg := prometheus.NewRegistry()
	m := verify.NewMetrics(reg)
	h := verify.NewHandler(b.store, b.client, b.limiter, b.scheduler, b.o.policy(), m, b.log)
	first := b.newTxRef(t, transaction.BankBanesco, "777000111")
	b.bank.AddPayment(payment(first))
	// The same movement claimed again under another type: review.
	second := b.newTxWith(t, transaction.BankBanesco, "777000111", "COMMISSION")
	for _, tx := range []transaction.Transaction{first, second} {
		task, err := tasks.NewVerifyTask(tasks.VerifyPayload{TransactionID: tx.ID}, tasks.QueueVerify, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			if err := h.ProcessTask(context.Background(), task); err != nil {
				t.Fatal(err)
			}
			if b.get(t, tx.ID).Status != transaction.StatusInProgress {
				break
			}
			info := b.taskOf(t, tx.ID) // held back by the reference's spacing
			time.Sleep(time.Until(info.NextProcessAt) + 100*time.Millisecond)
			task = asynq.NewTask(info.Type, info.Payload)
		}
	}
	if got := b.get(t, second.ID); got.Status != transaction.StatusToReview {
		t.Fatalf("second claim: %s, want TO_REVIEW", got.Status)
	}
	for outcome, want := range map[string]float64{"confirmed": 1, "review": 1} {
		var dm dto.Metric
		if err := m.Checks().WithLabelValues(outcome).Write(&dm); err != nil {
			t.Fatal(err)
		}
		if got := dm.GetCounter().GetValue(); got != want {
			t.Errorf("verify_checks_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	// One warning, about the refused claim (a possible fraud attempt), not
	// about the one that confirmed.
	var warned []string
	for _, line := range strings.Split(b.logs.tail(100_000), "\n") {
		if strings.Contains(line, "already confirmed another transaction") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], second.ID) || !strings.Contains(warned[0], `"level":"warn"`) {
		t.Errorf("warnings that the payment already confirmed another transaction: %q; want one, at warn level, for %s", warned, second.ID)
	}
}
