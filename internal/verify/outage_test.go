package verify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// TestMaintenanceLongerThanTheDeadline: the bank answers CRT503 for longer
// than VERIFY_DEADLINE. Those checks are not attempts and cannot end a
// transaction: once the bank answers again, the paid one is COMPLETED and the
// unpaid one becomes UNKNOWN only after a real "not found".
func TestMaintenanceLongerThanTheDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deadline: 2 * time.Second, sandbox: banksandbox.Config{
		Faults: banksandbox.Faults{MaintenanceFor: 5 * time.Second, MaintenanceCode: "CRT503"}}})
	start := time.Now()
	paid := b.newTx(t, transaction.BankMobileTransfer)
	b.bank.AddPayment(payment(paid))
	unpaid := b.newTx(t, transaction.BankBanesco)
	b.run(t, paid)
	b.run(t, unpaid)

	paid = b.waitStatus(t, paid.ID, transaction.StatusCompleted, 30*time.Second)
	unpaid = b.waitStatus(t, unpaid.ID, transaction.StatusUnknown, 30*time.Second)
	if time.Since(start) < 5*time.Second {
		t.Fatalf("settled %s after the start, inside the maintenance window", time.Since(start))
	}
	for _, tx := range []transaction.Transaction{paid, unpaid} {
		cs := checks(b.events(t, tx.ID))
		var maint, real int
		for _, c := range cs {
			switch m := meta(t, c); m["bank_status_code"] {
			case "CRT503":
				maint++
				if m["outcome"] != "unavailable" {
					t.Errorf("%s: CRT503 check outcome %v", tx.TransactionID, m["outcome"])
				}
			default:
				real++
			}
		}
		if maint == 0 || real != 1 || tx.Attempts != 1 {
			t.Errorf("%s: %d maintenance checks, %d real, attempts %d: want some, then exactly one real answer that counts",
				tx.TransactionID, maint, real, tx.Attempts)
		}
	}
	if got := transitions(b.events(t, unpaid.ID)); len(got) != 1 || got[0] != "IN_PROGRESS→UNKNOWN" {
		t.Errorf("unpaid transitions %v", got)
	}
}

// TestTokenRefusedPausesChecks: the bank refuses every token for a while. No
// check reaches the bank, nothing is recorded as an attempt or an event, the
// deadline does not turn anything UNKNOWN, and checks resume by themselves
// when tokens work again.
func TestTokenRefusedPausesChecks(t *testing.T) {
	t.Parallel()
	b := setup(t, options{deadline: time.Second, sandbox: banksandbox.Config{
		Faults: banksandbox.Faults{TokenRefusal: "unauthorized_client"}}})
	txs := []transaction.Transaction{b.newTx(t, transaction.BankMobileTransfer), b.newTx(t, transaction.BankBanesco)}
	for _, tx := range txs {
		b.bank.AddPayment(payment(tx))
		b.run(t, tx)
	}
	time.Sleep(3 * time.Second) // past the deadline, tokens refused all along
	for _, tx := range txs {
		got := b.get(t, tx.ID)
		if got.Status != transaction.StatusInProgress || got.Attempts != 0 || len(checks(b.events(t, tx.ID))) != 0 || got.BankFailures == 0 {
			t.Fatalf("%s during the refusal: %s, attempts %d, %d check events, bank_failures %d; want IN_PROGRESS, nothing counted",
				tx.TransactionID, got.Status, got.Attempts, len(checks(b.events(t, tx.ID))), got.BankFailures)
		}
	}
	if st := b.bank.Stats(); st.Checks != 0 {
		t.Fatalf("the bank saw %d checks without a token", st.Checks)
	}
	if info := b.taskOf(t, txs[0].ID); info == nil || !strings.Contains(waitsFor(t, info), "no bank token") || info.Retried != 0 {
		t.Errorf("task %v: want one waiting for 'no bank token', not a retried failure", info)
	}
	b.bank.SetFaults(banksandbox.Faults{})
	b.waitAll(t, txs, transaction.StatusCompleted, 90*time.Second)
	for _, tx := range txs {
		if got := b.get(t, tx.ID); got.Attempts != 1 || got.BankFailures != 0 {
			t.Errorf("%s: attempts %d, bank_failures %d after resuming, want 1 and 0", tx.TransactionID, got.Attempts, got.BankFailures)
		}
	}
}

// TestKnownMaintenanceWindowSendsNothing: inside BANESCO_MAINTENANCE_WINDOW a
// due check is not sent; it waits for the window's end, without an event.
func TestKnownMaintenanceWindowSendsNothing(t *testing.T) {
	t.Parallel()
	now := time.Now().In(time.FixedZone("VET", -4*3600))
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	since := now.Sub(midnight).Truncate(time.Minute)
	window := banesco.Window{Start: since, End: since + 2*time.Minute}
	if window.End >= 24*time.Hour {
		window.End -= 24 * time.Hour
	}
	b := setup(t, options{bankConfig: func(c *banesco.Config) { c.MaintenanceWindow = window }})
	tx := b.newTx(t, transaction.BankMobileTransfer)
	b.bank.AddPayment(payment(tx))
	b.run(t, tx)
	end, _ := window.Until(time.Now())
	eventually(t, 10*time.Second, func() (bool, string) {
		info := b.taskOf(t, tx.ID)
		return info != nil && info.State == asynq.TaskStateScheduled && strings.Contains(waitsFor(t, info), "maintenance window") &&
			!info.NextProcessAt.Before(end), "the task does not wait for the window"
	})
	got := b.get(t, tx.ID)
	if !got.NextCheckAt.Valid || !got.NextCheckAt.Time.Equal(end) || got.Attempts != 0 || len(checks(b.events(t, tx.ID))) != 0 {
		t.Errorf("next check %v (want %s), attempts %d, %d check events", got.NextCheckAt, end, got.Attempts, len(checks(b.events(t, tx.ID))))
	}
	if st := b.bank.Stats(); st.Checks != 0 {
		t.Errorf("the bank saw %d checks inside the window", st.Checks)
	}
}
