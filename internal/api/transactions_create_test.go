package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

func TestTransactionCreateValidation(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	base := e.txBody()
	raw := func(s string) any { return s }
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		fields []string
	}{
		{"transaction_id missing", with(base, "transaction_id", txDelete), 422, "validation_failed", []string{"transaction_id"}},
		{"transaction_id with a space", with(base, "transaction_id", "ORD 1"), 422, "validation_failed", []string{"transaction_id"}},
		{"transaction_id with a slash", with(base, "transaction_id", "ORD/1"), 422, "validation_failed", []string{"transaction_id"}},
		{"transaction_id 101 chars", with(base, "transaction_id", strings.Repeat("a", 101)), 422, "validation_failed", []string{"transaction_id"}},
		{"bank missing", with(base, "bank", txDelete), 422, "validation_failed", []string{"bank"}},
		{"bank unknown", with(base, "bank", "MERCANTIL"), 422, "validation_failed", []string{"bank"}},
		{"transaction_type unknown", with(base, "transaction_type", "REFUND"), 422, "validation_failed", []string{"transaction_type"}},
		{"reference missing", with(base, "reference", txDelete), 422, "validation_failed", []string{"reference"}},
		{"reference 5 digits", with(base, "reference", "12345"), 422, "validation_failed", []string{"reference"}},
		{"reference 21 digits", with(base, "reference", strings.Repeat("1", 21)), 422, "validation_failed", []string{"reference"}},
		{"reference letters", with(base, "reference", "1234567A"), 422, "validation_failed", []string{"reference"}},
		{"reference as a number", with(base, "reference", 12345678), 422, "validation_failed", []string{"reference"}},
		{"amount 0", with(base, "amount", "0"), 422, "validation_failed", []string{"amount"}},
		{"amount -1", with(base, "amount", "-1"), 422, "validation_failed", []string{"amount"}},
		{"amount 1.234", with(base, "amount", "1.234"), 422, "validation_failed", []string{"amount"}},
		{"amount abc", with(base, "amount", "abc"), 422, "validation_failed", []string{"amount"}},
		{"amount as a number", with(base, "amount", 1240), 422, "validation_failed", []string{"amount"}},
		{"amount as a decimal number", raw(`{"transaction_id":"X1","amount":1240.00}`), 422, "validation_failed", []string{"amount"}},
		{"payer_bank_code 3 digits", with(base, "payer_bank_code", "102"), 422, "validation_failed", []string{"payer_bank_code"}},
		{"payer_bank_code letters", with(base, "payer_bank_code", "ABCD"), 422, "validation_failed", []string{"payer_bank_code"}},
		{"paid_on not a date", with(base, "paid_on", "05/01/2026"), 422, "validation_failed", []string{"paid_on"}},
		{"paid_on in the future", with(base, "paid_on", "2999-01-01"), 422, "validation_failed", []string{"paid_on"}},
		{"full_name missing", with(base, "customer.full_name", txDelete), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name one letter", with(base, "customer.full_name", "A"), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name digits", with(base, "customer.full_name", "Ana 2"), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name script", with(base, "customer.full_name", "<script>alert(1)</script>"), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name 256", with(base, "customer.full_name", strings.Repeat("a", 256)), 422, "validation_failed", []string{"customer.full_name"}},
		{"phone bad operator", with(base, "customer.phone", "04151234567"), 422, "validation_failed", []string{"customer.phone"}},
		{"phone short", with(base, "customer.phone", "0414123456"), 422, "validation_failed", []string{"customer.phone"}},
		{"phone as a number", with(base, "customer.phone", 4141234567), 422, "validation_failed", []string{"customer.phone"}},
		{"national_id J", with(base, "customer.national_id", "J12345678"), 422, "validation_failed", []string{"customer.national_id"}},
		{"national_id 3 digits", with(base, "customer.national_id", "V123"), 422, "validation_failed", []string{"customer.national_id"}},
		{"concept 501", with(base, "customer.concept", strings.Repeat("x", 501)), 422, "validation_failed", []string{"customer.concept"}},
		{"customer missing", with(base, "customer", txDelete), 422, "validation_failed",
			[]string{"customer.full_name", "customer.national_id", "customer.phone"}},
		{"several bad fields", with(base, "bank", "X", "reference", "1", "amount", "-1", "paid_on", "2999-12-31",
			"customer.phone", "1", "customer.national_id", "X1"), 422, "validation_failed",
			[]string{"amount", "bank", "customer.national_id", "customer.phone", "paid_on", "reference"}},
		{"empty object", raw(`{}`), 422, "validation_failed",
			[]string{"bank", "customer.full_name", "customer.national_id", "customer.phone", "reference", "transaction_id"}},
		{"unknown field", with(base, "status", "COMPLETED"), 422, "validation_failed", []string{"status"}},
		// encoding/json names a nested unknown field without its path ("email"), so
		// only the status and code are pinned here.
		{"unknown customer field", with(base, "customer.email", "a@b.c"), 422, "validation_failed", nil},
		{"malformed JSON", raw(`{"transaction_id":`), 400, "malformed_json", nil},
		{"not JSON", raw(`transaction_id=ORD-1`), 400, "malformed_json", nil},
		{"empty body", raw(``), 400, "malformed_json", nil},
		{"an array", raw(`[]`), 400, "malformed_json", nil},
		{"two objects", raw(`{}{}`), 400, "malformed_json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e.do(t, http.MethodPost, "/api/v1/transactions", a.token, tt.body).wantErr(t, tt.status, tt.code, tt.fields...)
		})
	}
	t.Cleanup(func() {
		if n := e.countRows(t, `SELECT count(*) FROM transactions`); n != 0 {
			t.Errorf("%d rows stored by invalid requests", n)
		}
	})
}

func TestTransactionCreate(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	body := with(e.txBody(), "customer.full_name", "  maría   o'neil-pérez ", "customer.concept", "Pago de consulta")
	r, err := e.send(http.MethodPost, "/api/v1/transactions", a.token, body, map[string]string{"X-Request-ID": "req-create-1"})
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusCreated)
	if got, want := r.header.Get("Location"), "/api/v1/transactions/"+body["transaction_id"].(string); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a first create says Idempotent-Replayed: %q", r.header.Get("Idempotent-Replayed"))
	}
	wantKeys := []string{"amount", "attempts", "bank", "bank_details", "created_at", "customer", "id", "last_checked_at",
		"next_check_at", "paid_on", "payer_bank_code", "reference", "status", "status_reason", "transaction_id",
		"transaction_type", "updated_at"}
	if got := keysOf(t, r.body); !slices.Equal(got, wantKeys) {
		t.Errorf("keys = %v, want %v", got, wantKeys)
	}
	var v txView
	r.decode(t, &v)
	checks := []struct{ what, got, want string }{
		{"status", v.Status, "IN_PROGRESS"},
		{"transaction_id", v.TransactionID, body["transaction_id"].(string)},
		{"amount", deref(v.Amount), "1240.00"},
		{"bank", v.Bank, "MOBILE_TRANSFER"},
		{"transaction_type", v.TransactionType, "TRANSACTION"},
		{"reference", v.Reference, body["reference"].(string)},
		{"payer_bank_code", v.PayerBankCode, "0102"},
		{"paid_on", v.PaidOn, "2026-01-05"},
		{"full_name", v.Customer.FullName, "María O'Neil-Pérez"},
		{"phone", v.Customer.Phone, "04141234567"},
		{"national_id", v.Customer.NationalID, "V12345678"},
		{"concept", deref(v.Customer.Concept), "Pago de consulta"},
		{"bank_details", string(v.BankDetails), "null"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if v.ID == "" || v.Attempts != 0 || v.LastCheckedAt != nil || v.NextCheckAt == nil || v.StatusReason != nil {
		t.Errorf("scheduling fields of a new transaction: %s", r.body)
	}
	if time.Since(v.CreatedAt).Abs() > time.Minute || v.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v, want now in UTC", v.CreatedAt)
	}

	// Defaults: type, bank code, no amount, paid_on today in Caracas.
	d := e.create(t, a, with(e.txBody(), "transaction_type", txDelete, "payer_bank_code", txDelete, "amount", txDelete,
		"paid_on", txDelete, "customer.concept", txDelete))
	today := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	if d.TransactionType != "TRANSACTION" || d.PayerBankCode != "0134" || d.Amount != nil || d.PaidOn != today || d.Customer.Concept != nil {
		t.Errorf("defaults: type %q, bank code %q, amount %v, paid_on %q (want %s), concept %v",
			d.TransactionType, d.PayerBankCode, d.Amount, d.PaidOn, today, d.Customer.Concept)
	}

	// One creation event, by the user.
	evs := e.events(t, a, v.TransactionID)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want one", evs)
	}
	if ev := evs[0]; ev.OldStatus != nil || ev.NewStatus != "IN_PROGRESS" || ev.ActorType != "USER" || ev.ActorID != a.id {
		t.Errorf("creation event = %+v", ev)
	}

	// The check is queued: one task, ids only.
	info := e.task(t, tasks.QueueVerify, v.ID)
	if info == nil {
		t.Fatalf("no task %s in queue %s", tasks.VerifyTaskID(v.ID, 0), tasks.QueueVerify)
	}
	if info.ID != "verify:"+v.ID || info.Type != tasks.TypeVerify || info.Queue != "verify" {
		t.Errorf("task = id %q type %q queue %q", info.ID, info.Type, info.Queue)
	}
	if got := keysOf(t, info.Payload); !slices.Equal(got, []string{"request_id", "transaction_id"}) {
		t.Errorf("payload keys = %v, want request_id and transaction_id (%s)", got, info.Payload)
	}
	var p tasks.VerifyPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil || p.TransactionID != v.ID || p.RequestID != "req-create-1" {
		t.Errorf("payload = %s, want transaction_id %s and request_id req-create-1 (%v)", info.Payload, v.ID, err)
	}
	if e.task(t, tasks.QueueVerifyNow, v.ID) != nil {
		t.Errorf("a routine check landed in %s", tasks.QueueVerifyNow)
	}
	// No customer data anywhere in Redis: not in the payload, not in any key.
	secrets := []string{"04141234567", "12345678", "María", "Mar\\u00eda", "Pérez", "O'Neil", "consulta"}
	for _, s := range secrets {
		if bytes.Contains(bytes.ToLower(info.Payload), bytes.ToLower([]byte(s))) {
			t.Errorf("task payload %s contains %q", info.Payload, s)
		}
	}
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump, err := e.rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("dump %s: %v", k, err)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(k+dump), strings.ToLower(s)) {
				t.Errorf("redis key %s holds %q", k, s)
			}
		}
	}

	// Status and events on the fresh transaction.
	sr := e.do(t, http.MethodGet, "/api/v1/transactions/"+v.TransactionID+"/status", a.token, nil)
	sr.want(t, http.StatusOK)
	if got, want := keysOf(t, sr.body), []string{"attempts", "last_checked_at", "next_check_at", "status", "transaction_id", "updated_at"}; !slices.Equal(got, want) {
		t.Errorf("status keys = %v, want %v", got, want)
	}
	var st struct {
		TransactionID string     `json:"transaction_id"`
		Status        string     `json:"status"`
		Attempts      int        `json:"attempts"`
		LastCheckedAt *time.Time `json:"last_checked_at"`
		NextCheckAt   *time.Time `json:"next_check_at"`
		UpdatedAt     time.Time  `json:"updated_at"`
	}
	sr.decode(t, &st)
	if st.TransactionID != v.TransactionID || st.Status != "IN_PROGRESS" || st.Attempts != 0 || st.LastCheckedAt != nil ||
		st.NextCheckAt == nil || !st.UpdatedAt.Equal(v.UpdatedAt) {
		t.Errorf("status = %s", sr.body)
	}
	if got := e.get(t, a, v.TransactionID); got.ID != v.ID || got.Customer.FullName != v.Customer.FullName {
		t.Errorf("GET = %+v, want the created transaction", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestTransactionIdempotency(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a, b := e.newUser(t), e.newUser(t)
	body := e.txBody()
	id := body["transaction_id"].(string)
	first := e.create(t, a, body)

	tests := []struct {
		name    string
		who     txAccount
		body    map[string]any
		status  int
		code    string
		fields  []string
		replays bool
	}{
		{"same body", a, body, 200, "", nil, true},
		{"same body written differently", a, with(body, "amount", "1240.00", "customer.national_id", "V12345678",
			"customer.full_name", "ANA PÉREZ"), 200, "", nil, true},
		{"other amount", a, with(body, "amount", "1240.01"), 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"other phone", a, with(body, "customer.phone", "04121234567"), 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"paid_on dropped", a, with(body, "paid_on", txDelete), 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"same body from another user", b, body, 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"same reference and type under another id", a, with(body, "transaction_id", id+"-B"), 409, "duplicate_reference", []string{"reference"}, false},
		{"same reference and type from another user", b, with(body, "transaction_id", id+"-C"), 409, "duplicate_reference", []string{"reference"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, "/api/v1/transactions", tt.who.token, tt.body)
			if tt.code != "" {
				r.wantErr(t, tt.status, tt.code, tt.fields...)
				return
			}
			r.want(t, tt.status)
			if r.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("Idempotent-Replayed = %q, want true", r.header.Get("Idempotent-Replayed"))
			}
			if got := r.header.Get("Location"); got != "/api/v1/transactions/"+id {
				t.Errorf("Location = %q", got)
			}
			var v txView
			r.decode(t, &v)
			if v.ID != first.ID || v.Status != "IN_PROGRESS" || deref(v.Amount) != "1240.00" {
				t.Errorf("replay = %s, want the stored transaction %s", r.body, first.ID)
			}
		})
	}
	if n := e.countRows(t, `SELECT count(*) FROM transactions`); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	if evs := e.events(t, a, id); len(evs) != 1 {
		t.Errorf("%d events after replays, want 1", len(evs))
	}

	// Another type with the same reference is another payment.
	other := e.create(t, a, with(body, "transaction_id", id+"-D", "transaction_type", "COMMISSION"))
	if other.TransactionType != "COMMISSION" || other.Reference != first.Reference {
		t.Errorf("commission = %+v", other)
	}
	if e.task(t, tasks.QueueVerify, other.ID) == nil {
		t.Errorf("no task for the commission")
	}
}

// TestTransactionConcurrentCreate sends n creates of one transaction (or of
// one reference) together and holds them at a gate the test opens only when
// Postgres shows every one of them waiting, so they meet at the insert on
// every run, whatever the machine's load:
//
//   - the test holds a SHARE lock on transaction_events, which stops a create
//     after it inserted its row (uncommitted) and before it records the
//     creation event;
//   - the first create is sent alone and waits there with its row inserted;
//   - the other n-1 are sent and each waits on that uncommitted row at its own
//     insert: by then each has done whatever it does before the insert, and
//     with nothing committed yet a check-then-insert has found nothing;
//   - the gate opens; only a create that is one guarded insert answers the
//     others as replays (or duplicate references), a check-then-insert fails.
func TestTransactionConcurrentCreate(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	const n = 20
	// Every create holds a connection of the store's pool while it waits at
	// the gate: let all n have one.
	e.storeDB.SetMaxOpenConns(2 * n)

	race := func(t *testing.T, atOnce bool, bodies func(i int) map[string]any) map[string]int {
		t.Helper()
		ctx := context.Background()
		gate, err := e.db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer gate.Rollback()
		table := "transaction_events"
		if atOnce {
			table = "transactions" // every create stops before its insert
		}
		if _, err := gate.ExecContext(ctx, `LOCK TABLE `+table+` IN SHARE MODE`); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var answered atomic.Int64
		codes := map[string]int{}
		send := func(i int) {
			wg.Go(func() {
				defer answered.Add(1)
				r, err := e.send(http.MethodPost, "/api/v1/transactions", a.token, bodies(i), nil)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					codes[err.Error()]++
					return
				}
				key := fmt.Sprint(r.status)
				if r.status == http.StatusOK && r.header.Get("Idempotent-Replayed") == "true" {
					key += " replayed"
				}
				if r.status == http.StatusConflict {
					var eb struct {
						Error struct{ Code string } `json:"error"`
					}
					_ = json.Unmarshal(r.body, &eb)
					key += " " + eb.Error.Code
				}
				codes[key]++
			})
		}
		// waiting returns once k creates wait for a lock in this database (at
		// the gate, or on a row the gate keeps uncommitted), or any answered:
		// none may answer while the gate is closed. The limit only turns a
		// hang into a failure.
		waiting := func(k int) {
			t.Helper()
			hang := time.Now().Add(2 * time.Minute)
			for {
				var w int
				if err := e.db.GetContext(ctx, &w, `SELECT count(*) FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock'`); err != nil {
					t.Fatal(err)
				}
				if done := answered.Load(); done > 0 {
					t.Errorf("%d creates answered while the gate was closed (%d waiting)", done, w)
					return
				}
				if w >= k {
					return
				}
				if time.Now().After(hang) {
					t.Fatalf("only %d of %d creates wait at the gate", w, k)
				}
				time.Sleep(time.Millisecond)
			}
		}
		if atOnce {
			for i := range n {
				send(i)
			}
		} else {
			send(0)
			waiting(1)
			for i := 1; i < n; i++ {
				send(i)
			}
		}
		waiting(n)
		if err := gate.Rollback(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		return codes
	}

	sameID := func(atOnce bool) func(t *testing.T) {
		return func(t *testing.T) {
			body := e.txBody()
			codes := race(t, atOnce, func(int) map[string]any { return body })
			if want := map[string]int{"201": 1, "200 replayed": n - 1}; !maps.Equal(codes, want) {
				t.Errorf("replies = %v, want %v", codes, want)
			}
			if c := e.countRows(t, `SELECT count(*) FROM transactions WHERE transaction_id = $1`, body["transaction_id"]); c != 1 {
				t.Errorf("%d rows, want 1", c)
			}
			if c := e.countRows(t, `SELECT count(*) FROM transaction_events ev JOIN transactions tx ON tx.id = ev.transaction_id
				WHERE tx.transaction_id = $1`, body["transaction_id"]); c != 1 {
				t.Errorf("%d events, want 1", c)
			}
		}
	}
	t.Run("same transaction_id", sameID(false))
	t.Run("same reference under different ids", func(t *testing.T) {
		body := e.txBody()
		codes := race(t, false, func(i int) map[string]any { return with(body, "transaction_id", fmt.Sprintf("RACE-%d", i)) })
		if want := map[string]int{"201": 1, "409 duplicate_reference": n - 1}; !maps.Equal(codes, want) {
			t.Errorf("replies = %v, want %v", codes, want)
		}
		if c := e.countRows(t, `SELECT count(*) FROM transactions WHERE reference = $1`, body["reference"]); c != 1 {
			t.Errorf("%d rows, want 1", c)
		}
	})
	// Creates of one transaction that all pass INSERT … ON CONFLICT
	// (transaction_id)'s arbiter check before any of them has inserted meet
	// at the reference's unique index instead, which is no arbiter: Postgres
	// raises a unique violation there. Store.Create must still answer them
	// as replays, not 409 duplicate_reference. Here the creates wait before
	// their insert and are let go together.
	t.Run("same transaction_id, all past the id check at once", func(t *testing.T) {
		sameID(true)(t)
	})
}

func TestTransactionCreateWhenEnqueueFails(t *testing.T) {
	t.Parallel()
	checks := &failingChecks{}
	e := txSetup(t, checks)
	a := e.newUser(t, allTxPerms...)
	v := e.create(t, a, e.txBody())
	if checks.calls.Load() != 1 {
		t.Errorf("Enqueue called %d times, want 1", checks.calls.Load())
	}
	// Stored, with next_check_at set so the sweeper finds it overdue and enqueues it.
	got := e.get(t, a, v.TransactionID)
	if got.Status != "IN_PROGRESS" || got.NextCheckAt == nil {
		t.Errorf("stored = %+v, want IN_PROGRESS with next_check_at", got)
	}
	ids, err := e.store.Overdue(context.Background(), time.Now().Add(time.Second), "00000000-0000-0000-0000-000000000000", 10)
	if err != nil || !slices.Equal(ids, []transaction.TaskRef{{ID: v.ID}}) {
		t.Errorf("overdue = %v (%v), want the transaction for the sweeper", ids, err)
	}
	if !strings.Contains(e.logs.String(), "enqueue failed") {
		t.Errorf("the failed enqueue was not logged")
	}
	// Cancelling still answers 200 (a leftover task is harmless), deleting 204.
	e.do(t, http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, a.token, map[string]string{"status": "CANCELED"}).want(t, http.StatusOK)
	e.do(t, http.MethodDelete, "/api/v1/transactions/"+v.TransactionID, a.token, nil).want(t, http.StatusNoContent)
	if strings.Contains(e.logs.String(), `"status":500`) {
		t.Errorf("a queue failure became a 500:\n%s", e.logs.String())
	}
}
