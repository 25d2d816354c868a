package transaction_test

// Tests written against the mutants that survived (or were never reached by)
// the mutation run of 2026-12-02 (bench/results/mutation/2026-12-02): each
// pins a behaviour a user or an operator sees that no other test of the
// package pinned.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// eventsOf returns the events of tx with the given reason, oldest first.
func eventsOf(t *testing.T, e *claimEnv, id, reason string) []map[string]any {
	t.Helper()
	events, err := e.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, ev := range events {
		if ev.Reason != reason {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal(ev.Metadata, &m); err != nil {
			t.Fatalf("event %s metadata %s: %v", reason, ev.Metadata, err)
		}
		out = append(out, m)
	}
	return out
}

func (e *claimEnv) byID(t *testing.T, id string) transaction.Transaction {
	t.Helper()
	got, err := e.store.ByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestMutantsConfirmedCheckRecordsRowReasonAndDate: a check that confirms
// stores the bank's row (bank_details), the status_reason bank_confirmed, and
// the movement's booking date in the status-change event; a check that
// changes nothing leaves status_reason empty.
// Kills transition.go:112:24 (NEGATION), 116:17, 134:15.
func TestMutantsConfirmedCheckRecordsRowReasonAndDate(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "4455123456", "TRANSACTION")

	// Nothing found: still IN_PROGRESS, no status_reason although the check
	// carries one (the fallback reason applies only to a change).
	next := time.Now().Add(time.Minute)
	if _, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: tx.ID, CheckedAt: time.Now(),
		NewStatus: transaction.StatusInProgress, Reason: "not_found", NextCheckAt: &next, CountsAttempt: true,
		Metadata: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if got := e.byID(t, tx.ID); got.StatusReason.Valid {
		t.Errorf("after a check that changed nothing: status_reason %q, want none", got.StatusReason.String)
	}

	c := candidate(payment)
	r, err := e.check(ctx, tx, transaction.ClaimRequest{Matches: []transaction.Candidate{c}})
	if err != nil || r.Status != transaction.StatusCompleted || r.Reason != transaction.ReasonBankConfirmed {
		t.Fatalf("confirm: %+v %v", r, err)
	}
	got := e.byID(t, tx.ID)
	if !got.StatusReason.Valid || got.StatusReason.String != transaction.ReasonBankConfirmed {
		t.Errorf("status_reason %v, want %s", got.StatusReason, transaction.ReasonBankConfirmed)
	}
	if got.BankPayload == nil {
		t.Fatal("bank_details empty after a confirmation; want the bank's row")
	}
	var stored, sent map[string]any
	if err := json.Unmarshal(*got.BankPayload, &stored); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(c.Row, &sent)
	if fmt.Sprint(stored) != fmt.Sprint(sent) {
		t.Errorf("bank_details %s, want %s", *got.BankPayload, c.Row)
	}
	changes := eventsOf(t, e, tx.ID, transaction.ReasonBankConfirmed)
	if len(changes) != 1 || changes[0]["bank_date"] != payment.Date {
		t.Errorf("status-change events %v, want one with bank_date %s", changes, payment.Date)
	}
	checks := eventsOf(t, e, tx.ID, "bank_check")
	if len(checks) != 2 || checks[1]["outcome"] != "confirmed" {
		t.Errorf("bank_check events %v, want the second with outcome confirmed", checks)
	}
}

// TestMutantsReviewWithoutRowKeepsNoPayload: a check that sends to review
// with an empty (not nil) row stores no bank_details and still records.
// Kills transition.go:112:24 (BOUNDARY: len >= 0 sends an empty string to the jsonb column).
func TestMutantsReviewWithoutRowKeepsNoPayload(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "4455123457", "TRANSACTION")
	r, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: tx.ID, CheckedAt: time.Now(),
		NewStatus: transaction.StatusToReview, Reason: "data_rejected", BankPayload: json.RawMessage{},
		CountsAttempt: true, Metadata: map[string]any{}})
	if err != nil || r.Status != transaction.StatusToReview {
		t.Fatalf("review with an empty row: %+v %v", r, err)
	}
	if got := e.byID(t, tx.ID); got.BankPayload != nil || got.StatusReason.String != "data_rejected" {
		t.Errorf("bank_details %v reason %v, want none and data_rejected", got.BankPayload, got.StatusReason)
	}
}

// TestMutantsCheckOutcomes: the outcome recorded in the check's event tells
// "someone else's movement" from "nothing at the bank".
// Kills claims.go:206:25 (BOUNDARY and NEGATION).
func TestMutantsCheckOutcomes(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	holder := e.create(t, "4455123456", "TRANSACTION")
	if r, err := e.check(ctx, holder, transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("holder: %+v %v", r, err)
	}
	for _, tc := range []struct {
		name string
		req  transaction.ClaimRequest
		want string
	}{
		{"near misses all held by another", transaction.ClaimRequest{NearMisses: []transaction.Candidate{
			{Movement: payment, Row: candidate(payment).Row, Reason: "amount_mismatch"}}}, "claimed_elsewhere"},
		{"no rows at all", transaction.ClaimRequest{}, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := e.create(t, fmt.Sprintf("88%08d", e.seq), "TRANSACTION")
			r, err := e.check(ctx, tx, tc.req)
			if err != nil || r.Status != transaction.StatusInProgress {
				t.Fatalf("%+v %v, want IN_PROGRESS", r, err)
			}
			checks := eventsOf(t, e, tx.ID, "bank_check")
			if len(checks) != 1 || checks[0]["outcome"] != tc.want {
				t.Errorf("bank_check events %v, want outcome %s", checks, tc.want)
			}
		})
	}
}

// TestMutantsOwnClaimConfirmsAgain: a transaction that already holds the
// movement (put back to IN_PROGRESS after confirming) confirms again with it,
// refusing nothing. Not reachable through the API today (COMPLETED only goes
// to CANCELED, which is final), but it is the store's contract ("one already
// held by id itself confirms again").
// Kills claims.go:173:51.
func TestMutantsOwnClaimConfirmsAgain(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	req := transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}
	tx := e.create(t, "4455123456", "TRANSACTION")
	if r, err := e.check(ctx, tx, req); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("first check: %+v %v", r, err)
	}
	if _, err := e.store.Transition(ctx, transaction.Change{ID: tx.ID, From: []transaction.Status{transaction.StatusCompleted},
		To: transaction.StatusToReview, Reason: "second look", ActorType: transaction.ActorUser, ActorID: "reviewer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Reopen(ctx, tx.ID, time.Hour, "reviewer", "r"); err != nil {
		t.Fatal(err)
	}
	r, err := e.check(ctx, tx, req)
	if err != nil || r.Status != transaction.StatusCompleted || r.ClaimRefused != "" {
		t.Fatalf("check of the holder itself: %+v %v, want COMPLETED, nothing refused", r, err)
	}
	if n := e.refused(transaction.ClaimRaceLost) + e.refused(transaction.ClaimAlreadyClaimed); n != 0 {
		t.Errorf("payment_claims_refused_total = %v, want 0", n)
	}
	if got := e.claims(t); got != 1 {
		t.Errorf("%d live claims, want 1", got)
	}
}

// TestMutantsReleaseClaimsLater: a reviewer who cancelled without releasing
// frees the movement later (PATCH CANCELED + release_claim on a CANCELED
// transaction); the event carries the request id; a second release, a
// release of another status and of an unknown transaction are refused.
// Kills claims.go:231:15, 235:65; covers transition.go:229-247.
func TestMutantsReleaseClaimsLater(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	req := transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}
	holder := e.create(t, "4455123456", "TRANSACTION")
	if r, err := e.check(ctx, holder, req); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("holder: %+v %v", r, err)
	}
	if err := e.store.ReleaseClaims(ctx, holder.ID, "reviewer-2", "req-0"); !errors.Is(err, transaction.ErrInvalidTransition) {
		t.Errorf("release of a COMPLETED transaction: %v, want ErrInvalidTransition", err)
	}
	if _, err := e.store.Transition(ctx, transaction.Change{ID: holder.ID, From: []transaction.Status{transaction.StatusCompleted},
		To: transaction.StatusCanceled, Reason: "wrong claim", ActorType: transaction.ActorUser, ActorID: "reviewer-1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ReleaseClaims(ctx, holder.ID, "reviewer-2", "req-9"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if got := e.claims(t); got != 0 {
		t.Errorf("%d live claims after the release, want 0", got)
	}
	released := eventsOf(t, e, holder.ID, "claim_released")
	if len(released) != 1 || released[0]["request_id"] != "req-9" {
		t.Errorf("claim_released events %v, want one with request_id req-9", released)
	}
	if err := e.store.ReleaseClaims(ctx, holder.ID, "reviewer-2", "req-10"); !errors.Is(err, transaction.ErrNoClaim) {
		t.Errorf("second release: %v, want ErrNoClaim", err)
	}
	if err := e.store.ReleaseClaims(ctx, "00000000-0000-0000-0000-000000000000", "reviewer-2", "req-11"); !errors.Is(err, transaction.ErrNotFound) {
		t.Errorf("release of no transaction: %v, want ErrNotFound", err)
	}
	// The movement confirms another transaction now.
	other := e.create(t, "5455123456", "TRANSACTION")
	if r, err := e.check(ctx, other, req); err != nil || r.Status != transaction.StatusCompleted {
		t.Errorf("after the release: %+v %v, want COMPLETED", r, err)
	}
}

// TestMutantsTransitionReason: a change with a reason records it as
// status_reason; one without leaves none (not an empty string).
// Kills transition.go:192:15.
func TestMutantsTransitionReason(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	with := e.create(t, "1000000001", "TRANSACTION")
	without := e.create(t, "1000000002", "TRANSACTION")
	for _, tc := range []struct {
		tx     transaction.Transaction
		reason string
	}{{with, "customer asked"}, {without, ""}} {
		if _, err := e.store.Transition(ctx, transaction.Change{ID: tc.tx.ID, From: []transaction.Status{transaction.StatusInProgress},
			To: transaction.StatusCanceled, Reason: tc.reason, ActorType: transaction.ActorUser, ActorID: "u"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.byID(t, with.ID); !got.StatusReason.Valid || got.StatusReason.String != "customer asked" {
		t.Errorf("with a reason: status_reason %v", got.StatusReason)
	}
	if got := e.byID(t, without.ID); got.StatusReason.Valid {
		t.Errorf("without a reason: status_reason %q, want none", got.StatusReason.String)
	}
}

// TestMutantsCreateStoresAmount: the amount is stored; without one the
// transaction has none (any amount confirms).
// Kills store.go:85:14.
func TestMutantsCreateStoresAmount(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	with := e.create(t, "1000000001", "TRANSACTION")
	if !with.Amount.Valid || with.Amount.String != "1240.00" {
		t.Errorf("amount %v, want 1240.00", with.Amount)
	}
	if got := e.byID(t, with.ID); !got.Amount.Valid || got.Amount.String != "1240.00" {
		t.Errorf("stored amount %v, want 1240.00", got.Amount)
	}
	req := transaction.CreateRequest{TransactionID: "NO-AMOUNT", Bank: transaction.BankBanesco, TransactionType: "TRANSACTION",
		Reference: "1000000002", Customer: transaction.CustomerRequest{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"}}
	n, fields := req.Validate(time.Now())
	if fields != nil {
		t.Fatal(fields)
	}
	without, _, err := e.store.Create(context.Background(), e.user, n, time.Hour, "test")
	if err != nil {
		t.Fatalf("create without an amount: %v", err)
	}
	if without.Amount.Valid {
		t.Errorf("amount %q, want none", without.Amount.String)
	}
}

// metricValue reads a counter's value or a histogram's sample count from reg
// (-1 when the series does not exist).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// TestMutantsMetrics: creations and status changes are counted; the wait
// users feel is observed only for changes out of IN_PROGRESS.
// Kills metrics.go:44:7, 50:7, 54:10.
func TestMutantsMetrics(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "4455123456", "TRANSACTION")
	if got := metricValue(t, e.reg, "transactions_created_total", map[string]string{"bank": transaction.BankMobileTransfer, "transaction_type": "TRANSACTION"}); got != 1 {
		t.Errorf("transactions_created_total = %v, want 1", got)
	}
	if r, err := e.check(ctx, tx, transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("confirm: %+v %v", r, err)
	}
	if _, err := e.store.Transition(ctx, transaction.Change{ID: tx.ID, From: []transaction.Status{transaction.StatusCompleted},
		To: transaction.StatusCanceled, Reason: "wrong", ActorType: transaction.ActorUser, ActorID: "reviewer"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"transaction_status_transitions_total", map[string]string{"from": "IN_PROGRESS", "to": "COMPLETED"}, 1},
		{"transaction_status_transitions_total", map[string]string{"from": "COMPLETED", "to": "CANCELED"}, 1},
		{"transaction_verification_seconds", map[string]string{"status": "COMPLETED"}, 1},
		// A reversal is not a wait users feel: no CANCELED series at all.
		{"transaction_verification_seconds", map[string]string{"status": "CANCELED"}, -1},
	} {
		if got := metricValue(t, e.reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestMutantsListByReferenceDigits: the reference filter compares digits
// without leading zeros, whichever side has them.
// Kills list.go:120:40 (and 123:9 through ReferenceDigits directly).
func TestMutantsListByReferenceDigits(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	padded := e.create(t, "000123456789", "TRANSACTION")
	e.create(t, "123456789012", "TRANSACTION")
	for _, ref := range []string{"123456789", "000123456789", "0000000123456789"} {
		items, total, _, err := e.store.List(ctx, transaction.Filter{Reference: ref, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if total != 1 || len(items) != 1 || items[0].ID != padded.ID {
			t.Errorf("reference %s: total %d items %d, want only %s", ref, total, len(items), padded.TransactionID)
		}
	}
	for in, want := range map[string]string{"": "", "0": "0", "000": "0", "00120": "120", "120": "120"} {
		if got := transaction.ReferenceDigits(in); got != want {
			t.Errorf("ReferenceDigits(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMutantsListTotalsAtTheLimit: exactly 10 000 matches are counted
// exactly; past it, an estimate below the limit (stale statistics) still
// reports more than 10 000, and every row stays reachable by its page even
// when the estimate is short of the real count.
// Kills list.go:83:11, 88:37; the last page is the bug fixed in list.go:91.
func TestMutantsListTotalsAtTheLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	var user string
	if err := db.GetContext(ctx, &user, `INSERT INTO users (email, password_hash, full_name) VALUES ('limit@example.test', 'x', 'Limit') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	// The planner must keep the statistics of the first load.
	if _, err := db.ExecContext(ctx, `ALTER TABLE transactions SET (autovacuum_enabled = off)`); err != nil {
		t.Fatal(err)
	}
	load := func(status string, from, n int) {
		t.Helper()
		if _, err := db.ExecContext(ctx, `INSERT INTO transactions (transaction_id, user_id, status, bank, reference, paid_on,
				customer_full_name, customer_phone, customer_national_id, request_hash, deadline_at, created_at)
			SELECT 'L-' || g, $1, $2::transaction_status, 'MOBILE_TRANSFER', lpad(g::text, 12, '0'), current_date,
				'Ana Pérez', '04141234567', 'V12345678', '\x00', now(), now() - g * interval '1 second'
			FROM generate_series($3::int, $3::int + $4::int - 1) g`, user, status, from, n); err != nil {
			t.Fatal(err)
		}
	}
	load("COMPLETED", 1, 10_000)
	if _, err := db.ExecContext(ctx, `ANALYZE transactions`); err != nil {
		t.Fatal(err)
	}
	store := transaction.NewStore(db.DB, nil)

	items, total, estimated, err := store.List(ctx, transaction.Filter{Status: "COMPLETED", Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if estimated || total != 10_000 || len(items) != 20 {
		t.Errorf("exactly 10 000: total %d estimated %v items %d; want exactly 10000", total, estimated, len(items))
	}

	// 10 025 TO_REVIEW rows the statistics have never seen: the planner
	// estimates about one.
	const review = 10_025
	load("TO_REVIEW", 20_001, review)
	items, total, estimated, err = store.List(ctx, transaction.Filter{Status: "TO_REVIEW", Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !estimated || total < 10_001 || len(items) != 20 {
		t.Errorf("past the limit with a low estimate: total %d estimated %v items %d; want an estimate of at least 10001", total, estimated, len(items))
	}
	// The last page (502 of 20) lies beyond the estimate: its rows are still listed.
	last, _, _, err := store.List(ctx, transaction.Filter{Status: "TO_REVIEW", Limit: 20, Offset: 10_020})
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != review-10_020 {
		t.Fatalf("page at offset 10020 of %d rows (total %d, estimated): %d items, want %d", review, total, len(last), review-10_020)
	}
	var oldest string
	if err := db.GetContext(ctx, &oldest, `SELECT id FROM transactions WHERE status = 'TO_REVIEW' ORDER BY created_at LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	if last[len(last)-1].ID != oldest {
		t.Errorf("the last row of the last page is not the oldest")
	}
}

// TestMutantsOverdueAndDeferrals: the sweeper's keyset of overdue checks,
// and the two ways a check is moved without being sent.
// Covers transition.go:317, 327, 340.
func TestMutantsOverdueAndDeferrals(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	a := e.create(t, "1000000001", "TRANSACTION")
	b := e.create(t, "1000000002", "TRANSACTION")
	c := e.create(t, "1000000003", "TRANSACTION")
	canceled := e.create(t, "1000000004", "TRANSACTION")
	past := time.Now().Add(-time.Hour).Truncate(time.Microsecond)
	if err := e.store.SetNextCheck(ctx, a.ID, past); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Defer(ctx, b.ID, 3, past, true); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Defer(ctx, c.ID, 1, time.Now().Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	// A late writer (a duplicate run of an older task) never moves the task
	// number back: the sweeper would look for a task that already ran.
	if err := e.store.Defer(ctx, b.ID, 2, past, false); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetNextCheck(ctx, canceled.ID, past); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Transition(ctx, transaction.Change{ID: canceled.ID, From: []transaction.Status{transaction.StatusInProgress},
		To: transaction.StatusCanceled, ActorType: transaction.ActorUser, ActorID: "u"}); err != nil {
		t.Fatal(err)
	}
	// Moving the check of a final transaction changes nothing.
	if err := e.store.SetNextCheck(ctx, canceled.ID, past); err != nil {
		t.Fatal(err)
	}
	if got := e.byID(t, b.ID); got.BankFailures != 1 || got.Attempts != 0 || !got.NextCheckAt.Time.Equal(past) || got.TaskSeq != 3 {
		t.Errorf("deferred after a failure: bank_failures %d attempts %d next %v task_seq %d (want 3)", got.BankFailures, got.Attempts, got.NextCheckAt.Time, got.TaskSeq)
	}
	if got := e.byID(t, c.ID); got.BankFailures != 0 || got.TaskSeq != 1 {
		t.Errorf("deferred without a failure: bank_failures %d task_seq %d (want 1)", got.BankFailures, got.TaskSeq)
	}
	if got := e.byID(t, canceled.ID); got.NextCheckAt.Valid {
		t.Errorf("CANCELED got a next check at %v", got.NextCheckAt.Time)
	}

	want := []transaction.TaskRef{{ID: a.ID}, {ID: b.ID, Seq: 3}}
	slices.SortFunc(want, func(x, y transaction.TaskRef) int { return strings.Compare(x.ID, y.ID) })
	ids, err := e.store.Overdue(ctx, time.Now(), "00000000-0000-0000-0000-000000000000", 10)
	if err != nil || !slices.Equal(ids, want) {
		t.Fatalf("overdue: %v %v, want %v", ids, err, want)
	}
	if ids, err := e.store.Overdue(ctx, time.Now(), want[0].ID, 10); err != nil || !slices.Equal(ids, want[1:]) {
		t.Errorf("overdue after %s: %v %v, want %v", want[0].ID, ids, err, want[1:])
	}
	if ids, err := e.store.Overdue(ctx, time.Now(), "00000000-0000-0000-0000-000000000000", 1); err != nil || !slices.Equal(ids, want[:1]) {
		t.Errorf("overdue, limit 1: %v %v, want %v", ids, err, want[:1])
	}
}

// fakeChecks is the verification queue for CheckNow.
type fakeChecks struct {
	at  time.Time
	err error
	n   int
}

func (f *fakeChecks) Enqueue(context.Context, string, string, time.Time) error { return nil }
func (f *fakeChecks) Cancel(context.Context, transaction.TaskRef) error        { return nil }
func (f *fakeChecks) CheckNow(context.Context, transaction.Transaction, string) (time.Time, error) {
	f.n++
	return f.at, f.err
}

// TestMutantsCheckNow: POST …/verify. Final transactions are refused; TO_REVIEW
// is reopened only when asked (reopenFor > 0); the queue's time is recorded as
// next_check_at; a queue error comes back.
// Covers checknow.go and model.go:27, 30.
func TestMutantsCheckNow(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	at := time.Now().Add(3 * time.Second).Truncate(time.Microsecond)
	checks := &fakeChecks{at: at}

	for s, want := range map[transaction.Status][2]bool{ // Final, Checkable
		transaction.StatusInProgress: {false, true}, transaction.StatusCompleted: {true, false},
		transaction.StatusCanceled: {true, false}, transaction.StatusToReview: {false, false}, transaction.StatusUnknown: {false, false},
	} {
		if s.Final() != want[0] || s.Checkable() != want[1] {
			t.Errorf("%s: Final %v Checkable %v, want %v", s, s.Final(), s.Checkable(), want)
		}
	}

	live := e.create(t, "1000000001", "TRANSACTION")
	got, _, err := e.store.CheckNow(ctx, checks, live, time.Hour, "u", "r")
	if err != nil || !got.Equal(at) {
		t.Fatalf("IN_PROGRESS: %v %v, want %v", got, err, at)
	}
	if row := e.byID(t, live.ID); !row.NextCheckAt.Time.Equal(at) {
		t.Errorf("next_check_at %v, want %v", row.NextCheckAt.Time, at)
	}

	review := e.create(t, "1000000002", "TRANSACTION")
	if _, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: review.ID, CheckedAt: time.Now(),
		NewStatus: transaction.StatusToReview, Reason: "amount_mismatch", Metadata: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	review = e.byID(t, review.ID)
	before := checks.n
	if _, _, err := e.store.CheckNow(ctx, checks, review, 0, "u", "r"); !errors.Is(err, transaction.ErrInvalidTransition) {
		t.Errorf("TO_REVIEW without reopening: %v, want ErrInvalidTransition", err)
	}
	if checks.n != before || e.byID(t, review.ID).Status != transaction.StatusToReview {
		t.Error("TO_REVIEW without reopening was queued or reopened")
	}
	when, reopened, err := e.store.CheckNow(ctx, checks, review, time.Hour, "u", "r")
	if err != nil || reopened.Status != transaction.StatusInProgress || e.byID(t, review.ID).Status != transaction.StatusInProgress {
		t.Errorf("TO_REVIEW reopened: %s %v, want IN_PROGRESS", reopened.Status, err)
	}
	if !when.Equal(at) || checks.n != before+1 || !e.byID(t, review.ID).NextCheckAt.Time.Equal(at) {
		t.Errorf("TO_REVIEW reopened: check at %v (queued %d), want one queued at %v", when, checks.n-before, at)
	}

	final := e.create(t, "1000000003", "TRANSACTION")
	if _, err := e.store.Transition(ctx, transaction.Change{ID: final.ID, From: []transaction.Status{transaction.StatusInProgress},
		To: transaction.StatusCanceled, ActorType: transaction.ActorUser, ActorID: "u"}); err != nil {
		t.Fatal(err)
	}
	final = e.byID(t, final.ID)
	before = checks.n
	if _, _, err := e.store.CheckNow(ctx, checks, final, time.Hour, "u", "r"); !errors.Is(err, transaction.ErrInvalidTransition) || checks.n != before {
		t.Errorf("CANCELED: %v (queued %d), want ErrInvalidTransition and nothing queued", err, checks.n-before)
	}

	checks.err = errors.New("queue down")
	if _, _, err := e.store.CheckNow(ctx, checks, live, time.Hour, "u", "r"); !errors.Is(err, checks.err) {
		t.Errorf("queue error: %v, want it returned", err)
	}
}

// recordingOutbox remembers the changes whose transaction committed.
type recordingOutbox struct {
	mu      sync.Mutex
	changes []transaction.StatusChange
}

func (o *recordingOutbox) Record(_ context.Context, _ *sqlx.Tx, c transaction.StatusChange) (func(context.Context), error) {
	return func(context.Context) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.changes = append(o.changes, c)
	}, nil
}

func (o *recordingOutbox) take() []transaction.StatusChange {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.changes
	o.changes = nil
	return c
}

// TestMutantsOutboxSeesChanges: client apps are told about every status
// change (with the row after it), and about nothing else.
// Covers outbox.go.
func TestMutantsOutboxSeesChanges(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	o := &recordingOutbox{}
	e.store.SetOutbox(o)
	tx := e.create(t, "4455123456", "TRANSACTION")

	next := time.Now().Add(time.Minute)
	if _, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: tx.ID, CheckedAt: time.Now(),
		NewStatus: transaction.StatusInProgress, NextCheckAt: &next, Metadata: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	if got := o.take(); len(got) != 0 {
		t.Errorf("a check that changed nothing notified %+v", got)
	}
	if r, err := e.check(ctx, tx, transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("confirm: %+v %v", r, err)
	}
	got := o.take()
	if len(got) != 1 || got[0].From != transaction.StatusInProgress || got[0].To != transaction.StatusCompleted ||
		got[0].Transaction.Status != transaction.StatusCompleted || got[0].Transaction.ID != tx.ID {
		t.Fatalf("confirmation notified %+v, want one IN_PROGRESS → COMPLETED with the changed row", got)
	}
	cancel := func(from transaction.Status, release bool) {
		t.Helper()
		if _, err := e.store.Transition(ctx, transaction.Change{ID: tx.ID, From: []transaction.Status{from},
			To: transaction.StatusCanceled, Reason: "wrong", ActorType: transaction.ActorUser, ActorID: "reviewer", ReleaseClaim: release}); err != nil {
			t.Fatal(err)
		}
	}
	cancel(transaction.StatusCompleted, false)
	if got := o.take(); len(got) != 1 || got[0].From != transaction.StatusCompleted || got[0].To != transaction.StatusCanceled {
		t.Errorf("cancel notified %+v, want COMPLETED → CANCELED", got)
	}
	// Cancelling again to release the claim changes no status: nobody is told.
	cancel(transaction.StatusCanceled, true)
	if got := o.take(); len(got) != 0 {
		t.Errorf("CANCELED → CANCELED notified %+v", got)
	}
}

// TestMutantsOperatorFigures: the watch gauges and the stuck list.
// Covers watch.go.
func TestMutantsOperatorFigures(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	late := e.create(t, "1000000001", "TRANSACTION")
	e.create(t, "1000000002", "TRANSACTION")
	review := e.create(t, "1000000003", "TRANSACTION")
	if err := e.store.SetNextCheck(ctx, late.ID, time.Now().Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RecordCheck(ctx, transaction.Check{TransactionID: review.ID, CheckedAt: time.Now(),
		NewStatus: transaction.StatusToReview, Reason: "amount_mismatch", Metadata: map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	g, err := e.store.Gauges(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if g.InProgress != 2 || g.ToReview != 1 || g.Unknown != 0 || g.Overdue != 1 || g.OldestOverdue < 590 {
		t.Errorf("gauges %+v, want 2 in progress, 1 to review, 1 overdue by about 600 s", g)
	}
	// Only the check late by more than a minute (the others are due since their creation).
	stuck, err := e.store.Stuck(ctx, time.Now().Add(-time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(stuck) != 2 || stuck[0].ID != late.ID || stuck[1].ID != review.ID || stuck[1].Reason != "amount_mismatch" {
		t.Errorf("stuck %+v, want the late check then the review", stuck)
	}
}

// TestMutantsCaracasIsUTCMinus4: payment days are Venezuela's.
// Covers validate.go:53 (a package variable: never "covered").
func TestMutantsCaracasIsUTCMinus4(t *testing.T) {
	if _, off := time.Now().In(transaction.Caracas).Zone(); off != -4*3600 {
		t.Errorf("Caracas offset %d s, want -14400", off)
	}
}
