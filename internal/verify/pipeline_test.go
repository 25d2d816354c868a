package verify_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// TestCreateOverHTTPIsVerifiedByTheWorker is the whole pipeline as a client app
// sees it: POST a payment, a real worker asks the bank sandbox, and the
// transaction, its history and its bank details say COMPLETED.
func TestCreateOverHTTPIsVerifiedByTheWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true, sandbox: banksandbox.Config{Demo: true, SettleAfter: time.Second}})

	for _, tc := range []struct {
		name, bank string
		registered bool // the bank already has the payment; else the demo settles it later
		minChecks  int
	}{
		{"pago móvil, already at the bank", transaction.BankMobileTransfer, true, 1},
		{"transfer, settles after a while", transaction.BankBanesco, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := b.createBody(tc.bank)
			if tc.registered {
				b.bank.AddPayment(banksandbox.Payment{Reference: body["reference"].(string), Amount: testAmount,
					Phone: payerPhone, BankID: payerBank, Mode: banksandbox.ModeMobile})
			}
			r := b.do(t, http.MethodPost, "/api/v1/transactions", b.userToken, body)
			if r.status != http.StatusCreated {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
			var created transaction.View
			r.decode(t, &created)
			if created.Status != transaction.StatusInProgress {
				t.Fatalf("created with status %s, want IN_PROGRESS", created.Status)
			}
			path := "/api/v1/transactions/" + created.TransactionID

			var got transaction.View
			eventually(t, 20*time.Second, func() (bool, string) {
				r := b.do(t, http.MethodGet, path, b.userToken, nil)
				r.decode(t, &got)
				return got.Status == transaction.StatusCompleted, "status " + string(got.Status)
			})
			if got.StatusReason == nil || *got.StatusReason != "bank_confirmed" {
				t.Errorf("status_reason = %v, want bank_confirmed", got.StatusReason)
			}
			if got.Attempts < tc.minChecks || got.LastCheckedAt == nil || got.NextCheckAt != nil {
				t.Errorf("attempts %d, last_checked_at %v, next_check_at %v: want ≥ %d checks, a last check and no next",
					got.Attempts, got.LastCheckedAt, got.NextCheckAt, tc.minChecks)
			}
			if got.BankDetails == nil {
				t.Fatal("bank_details is null")
			}
			var row map[string]any
			if err := json.Unmarshal(*got.BankDetails, &row); err != nil {
				t.Fatalf("bank_details %s: %v", *got.BankDetails, err)
			}
			ref, _ := row["referenceNumber"].(string)
			if ref == "" {
				ref = strings.TrimSpace(strings.Trim(string(mustJSON(t, row["referenceNumber"])), `"`))
			}
			if !strings.HasSuffix(strings.TrimLeft(created.Reference, "0"), strings.TrimLeft(ref, "0")) || row["trnType"] != "CR" {
				t.Errorf("bank_details = %s: want the CR row of reference %s", *got.BankDetails, created.Reference)
			}

			r = b.do(t, http.MethodGet, path+"/status", b.userToken, nil)
			var st transaction.StatusView
			r.decode(t, &st)
			if r.status != http.StatusOK || st.Status != transaction.StatusCompleted || st.Attempts != got.Attempts {
				t.Errorf("GET …/status = %d %s", r.status, r.body)
			}

			r = b.do(t, http.MethodGet, path+"/events", b.userToken, nil)
			var page struct{ Items []apiEvent }
			r.decode(t, &page)
			ev := page.Items
			if len(ev) < 2+tc.minChecks {
				t.Fatalf("events = %s: want creation, ≥ %d checks and the change", r.body, tc.minChecks)
			}
			first, last := ev[0], ev[len(ev)-1]
			if first.OldStatus != nil || first.NewStatus != "IN_PROGRESS" || first.ActorType != "USER" || first.Reason != "created" {
				t.Errorf("first event = %+v: want the USER creation", first)
			}
			if last.OldStatus == nil || *last.OldStatus != "IN_PROGRESS" || last.NewStatus != "COMPLETED" ||
				last.ActorType != "SYSTEM" || last.Reason != "bank_confirmed" {
				t.Errorf("last event = %+v: want SYSTEM IN_PROGRESS→COMPLETED", last)
			}
			for i, e := range ev[1 : len(ev)-1] {
				if e.Reason != "bank_check" || e.ActorType != "EXTERNAL" || e.OldStatus == nil ||
					*e.OldStatus != "IN_PROGRESS" || e.NewStatus != "IN_PROGRESS" {
					t.Errorf("event %d = %+v: want an EXTERNAL bank_check IN_PROGRESS→IN_PROGRESS", i+1, e)
				}
				if _, ok := e.Metadata["bank_status_code"]; !ok {
					t.Errorf("check event %d metadata %v: no bank_status_code", i+1, e.Metadata)
				}
				if _, ok := e.Metadata["latency_ms"]; !ok {
					t.Errorf("check event %d metadata %v: no latency_ms", i+1, e.Metadata)
				}
			}
			if lastCheck := ev[len(ev)-2]; lastCheck.Metadata["bank_status_code"] != "200" {
				t.Errorf("confirming check metadata %v: want bank_status_code 200", lastCheck.Metadata)
			}
			if !tc.registered {
				if c := ev[1]; c.Metadata["bank_status_code"] != "70001" || c.Metadata["outcome"] != "not_found" {
					t.Errorf("first check metadata %v: want 70001 not_found", c.Metadata)
				}
			}
			eventually(t, 5*time.Second, func() (bool, string) {
				task := b.taskOf(t, created.ID)
				return task == nil, "a COMPLETED transaction still has a task"
			})
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestSchedulesAndDeadlinesPerBank: VERIFY_SCHEDULE_<bank> and
// VERIFY_DEADLINE_<bank> apply to that bank's transactions only; the others
// keep VERIFY_SCHEDULE and VERIFY_DEADLINE.
func TestSchedulesAndDeadlinesPerBank(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true, deadline: 24 * time.Hour, schedule: []time.Duration{7 * time.Minute},
		byBank:       map[string][]time.Duration{transaction.BankBanesco: {time.Hour}},
		deadlineBank: map[string]time.Duration{transaction.BankBanesco: 3 * time.Hour}})
	for _, tc := range []struct {
		bank               string
		deadline, nextWait time.Duration
	}{
		{transaction.BankBanesco, 3 * time.Hour, time.Hour},
		{transaction.BankMobileTransfer, 24 * time.Hour, 7 * time.Minute},
	} {
		v := b.postTx(t, tc.bank) // no payment at the bank: "not found yet"
		deadline := time.Now().Add(20 * time.Second)
		var tx transaction.Transaction
		for tx = b.get(t, v.ID); tx.Attempts == 0 && time.Now().Before(deadline); tx = b.get(t, v.ID) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := tx.DeadlineAt.Sub(tx.CreatedAt); got != tc.deadline {
			t.Errorf("%s: deadline %s after creation, want %s", tc.bank, got, tc.deadline)
		}
		if tx.Attempts != 1 || !tx.NextCheckAt.Valid || !tx.LastCheckedAt.Valid {
			t.Fatalf("%s: attempts %d, next %v: want one check and a next one", tc.bank, tx.Attempts, tx.NextCheckAt)
		}
		if got := tx.NextCheckAt.Time.Sub(tx.LastCheckedAt.Time); got != tc.nextWait {
			t.Errorf("%s: next check %s after the first, want %s", tc.bank, got, tc.nextWait)
		}
	}
}
