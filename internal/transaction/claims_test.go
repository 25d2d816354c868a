package transaction_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// claimEnv is a store over a private database with its own metrics.
type claimEnv struct {
	db      *pgtest.DB
	store   *transaction.Store
	metrics *transaction.Metrics
	reg     *prometheus.Registry
	user    string
	seq     int
}

func newClaimEnv(t *testing.T) *claimEnv {
	t.Helper()
	e := &claimEnv{db: pgtest.New(t), reg: prometheus.NewRegistry()}
	e.metrics = transaction.NewMetrics(e.reg)
	e.store = transaction.NewStore(e.db.DB, e.metrics)
	if err := e.db.GetContext(context.Background(), &e.user, `INSERT INTO users (email, password_hash, full_name)
		VALUES ('claims@example.test', 'x', 'Claims') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	return e
}

// create stores an IN_PROGRESS transaction with the reference and type.
func (e *claimEnv) create(t *testing.T, ref, typ string) transaction.Transaction {
	t.Helper()
	e.seq++
	amount := "1240.00"
	req := transaction.CreateRequest{TransactionID: fmt.Sprintf("CLAIM-%d", e.seq), Bank: transaction.BankMobileTransfer,
		TransactionType: typ, Reference: ref, Amount: &amount, PayerBankCode: "0102",
		Customer: transaction.CustomerRequest{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"}}
	n, fields := req.Validate(time.Now())
	if fields != nil {
		t.Fatalf("invalid: %v", fields)
	}
	tx, _, err := e.store.Create(context.Background(), e.user, n, time.Hour, "test")
	if err != nil {
		t.Fatalf("create %s: %v", ref, err)
	}
	return tx
}

var payment = transaction.Movement{Reference: "4455123456", Date: "2026-11-30", Amount: "1240.00", TrnType: "CR",
	SourceBank: "0102", Account: "1340************0000"}

func candidate(m transaction.Movement) transaction.Candidate {
	row, _ := json.Marshal(map[string]string{"referenceNumber": m.Reference, "amount": m.Amount, "trnDate": m.Date,
		"trnType": m.TrnType, "sourceBankId": m.SourceBank, "accountId": m.Account})
	return transaction.Candidate{Movement: m, Row: row}
}

// check records one bank check of tx that found the given rows.
func (e *claimEnv) check(ctx context.Context, tx transaction.Transaction, req transaction.ClaimRequest) (transaction.Recorded, error) {
	next := time.Now().Add(time.Minute)
	return e.store.RecordCheck(ctx, transaction.Check{TransactionID: tx.ID, CheckedAt: time.Now(), NewStatus: transaction.StatusInProgress,
		NextCheckAt: &next, CountsAttempt: true, Metadata: map[string]any{"bank_status_code": "200"}, Claim: &req})
}

func (e *claimEnv) refused(cause string) float64 {
	var m dto.Metric
	if err := e.metrics.ClaimsRefused(cause).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func (e *claimEnv) claims(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.GetContext(context.Background(), &n, `SELECT count(*) FROM payment_claims WHERE released_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClaimRaceHasOneWinner: eight checks of eight claims for one movement
// reach the claim INSERT at the same instant (held at a table lock until all
// eight wait on it, then released together). The unique index decides: one
// COMPLETED, seven TO_REVIEW payment_already_claimed with cause race_lost, each
// naming the winner as holder.
func TestClaimRaceHasOneWinner(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	const n = 8
	txs := make([]transaction.Transaction, n)
	for i := range txs {
		// Different references (leading digits, other types) that the bank
		// answers with the same movement.
		txs[i] = e.create(t, fmt.Sprintf("%d%s", 10+i, "123456"), "TRANSACTION")
	}

	gate, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gate.ExecContext(ctx, `LOCK TABLE payment_claims IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	results := make([]transaction.Recorded, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range txs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.check(ctx, txs[i], transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}})
		}()
	}
	// Every check has read "free" and waits at its INSERT.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		if err := e.db.GetContext(ctx, &waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO payment_claims%'`); err != nil {
			t.Fatal(err)
		}
		if waiting == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d checks reached the claim", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := gate.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	winner := -1
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("check %d: %v", i, errs[i])
		}
		switch {
		case r.Status == transaction.StatusCompleted:
			if winner >= 0 {
				t.Fatalf("two winners: %s and %s", txs[winner].TransactionID, txs[i].TransactionID)
			}
			winner = i
		case r.Status != transaction.StatusToReview || r.Reason != transaction.ReasonPaymentAlreadyClaimed || r.ClaimRefused != transaction.ClaimRaceLost:
			t.Errorf("check %d: %+v, want TO_REVIEW payment_already_claimed (race_lost)", i, r)
		}
	}
	if winner < 0 {
		t.Fatal("nobody won the movement")
	}
	if got := e.claims(t); got != 1 {
		t.Errorf("%d live claims, want 1", got)
	}
	if got := e.refused(transaction.ClaimRaceLost); got != n-1 {
		t.Errorf("payment_claims_refused_total{cause=race_lost} = %v, want %d", got, n-1)
	}
	// Each loser's history names the winner (for admins).
	for i, tx := range txs {
		if i == winner {
			continue
		}
		holder := claimOf(t, e.store, tx.ID)
		if holder["id"] != txs[winner].ID || holder["transaction_id"] != txs[winner].TransactionID {
			t.Errorf("%s: holder %v, want %s", tx.TransactionID, holder, txs[winner].TransactionID)
		}
		got, err := e.store.ByID(ctx, tx.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.BankPayload != nil {
			t.Errorf("%s: bank_details %s: another transaction's row must not be shown to this owner", tx.TransactionID, *got.BankPayload)
		}
	}
}

// claimOf returns the holder named by the TO_REVIEW event of a refused claim.
func claimOf(t *testing.T, s *transaction.Store, id string) map[string]any {
	t.Helper()
	events, err := s.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if ev.NewStatus != transaction.StatusToReview || ev.OldStatus == nil || *ev.OldStatus == ev.NewStatus {
			continue
		}
		var m struct {
			Claim struct {
				Movement string         `json:"movement"`
				Holder   map[string]any `json:"holder"`
			} `json:"claim"`
		}
		if err := json.Unmarshal(ev.Metadata, &m); err != nil {
			t.Fatal(err)
		}
		if m.Claim.Movement == "" {
			t.Errorf("event %s has no movement", ev.Metadata)
		}
		// And the owner's view of the same history has none of it.
		stripped := transaction.StripRestricted([]transaction.Event{ev})
		var o map[string]any
		if err := json.Unmarshal(stripped[0].Metadata, &o); err != nil || o["claim"] != nil || o["bank_status_code"] == nil {
			t.Errorf("owner's view of the event: %s", stripped[0].Metadata)
		}
		return m.Claim.Holder
	}
	t.Fatalf("no TO_REVIEW event for %s", id)
	return nil
}

// TestClaimRules: the decision table of a check that found rows, one case per
// rule, each against the claims that earlier cases left.
func TestClaimRules(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	commission := payment
	commission.Amount = "12.40"
	other := payment
	other.SourceBank = "0105"

	holder := e.create(t, "4455123456", "TRANSACTION")
	r, err := e.check(ctx, holder, transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}})
	if err != nil || r.Status != transaction.StatusCompleted || r.ClaimRefused != "" {
		t.Fatalf("first claim: %+v, %v; want COMPLETED", r, err)
	}

	for _, tc := range []struct {
		name       string
		req        transaction.ClaimRequest
		wantStatus transaction.Status
		wantReason string
		refused    string
	}{
		{"the same movement again: already claimed",
			transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}},
			transaction.StatusToReview, transaction.ReasonPaymentAlreadyClaimed, transaction.ClaimAlreadyClaimed},
		{"the first unclaimed match wins",
			transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment), candidate(other)}},
			transaction.StatusCompleted, transaction.ReasonBankConfirmed, ""},
		{"without an amount, two free movements are ambiguous",
			transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(commission), candidate(func() transaction.Movement {
				m := commission
				m.Date = "2026-11-29"
				return m
			}())}, OneOnly: true},
			transaction.StatusToReview, transaction.ReasonAmbiguousMatch, ""},
		{"without an amount, one free movement beside claimed ones confirms",
			transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment), candidate(commission)}, OneOnly: true},
			transaction.StatusCompleted, transaction.ReasonBankConfirmed, ""},
		{"a near miss held by another is someone else's movement: not found yet",
			transaction.ClaimRequest{NearMisses: []transaction.Candidate{{Movement: payment, Row: candidate(payment).Row, Reason: "amount_mismatch"}}},
			transaction.StatusInProgress, "", ""},
		{"a free near miss goes to review with its reason",
			transaction.ClaimRequest{NearMisses: []transaction.Candidate{{Movement: transaction.Movement{Reference: "9", Amount: "1.00"}, Row: json.RawMessage(`{}`), Reason: "amount_mismatch"}}},
			transaction.StatusToReview, "amount_mismatch", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := e.create(t, fmt.Sprintf("77%08d", e.seq), "TRANSACTION")
			before := e.refused(transaction.ClaimAlreadyClaimed)
			r, err := e.check(ctx, tx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.wantStatus || r.Reason != tc.wantReason || r.ClaimRefused != tc.refused {
				t.Fatalf("got %+v, want %s %q refused %q", r, tc.wantStatus, tc.wantReason, tc.refused)
			}
			got, err := e.store.ByID(ctx, tx.ID)
			if err != nil || got.Status != tc.wantStatus {
				t.Fatalf("stored status %s, %v", got.Status, err)
			}
			if tc.refused == transaction.ClaimAlreadyClaimed {
				if e.refused(transaction.ClaimAlreadyClaimed) != before+1 {
					t.Error("payment_claims_refused_total{cause=already_claimed} did not count it")
				}
				if h := claimOf(t, e.store, tx.ID); h["transaction_id"] != holder.TransactionID {
					t.Errorf("holder %v, want %s", h, holder.TransactionID)
				}
			}
		})
	}
	// A duplicate run of a check by the holder confirms nothing twice and
	// refuses nothing: the transaction is no longer IN_PROGRESS.
	if _, err := e.check(ctx, holder, transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}); err != transaction.ErrInvalidTransition {
		t.Errorf("second check of the holder: %v, want ErrInvalidTransition", err)
	}
}

// TestReleaseClaim: cancelling the holder keeps its claim unless asked; a
// released movement can confirm another transaction; soft delete never frees it.
func TestReleaseClaim(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	req := transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(payment)}}

	holder := e.create(t, "4455123456", "TRANSACTION")
	if r, err := e.check(ctx, holder, req); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("holder: %+v %v", r, err)
	}
	// A soft delete frees nothing: deleting a confirmed transaction and filing
	// the payment again must not confirm it twice.
	other := payment
	other.Reference = "5555000111"
	gone := e.create(t, "5555000111", "TRANSACTION")
	otherReq := transaction.ClaimRequest{Matches: []transaction.Candidate{candidate(other)}}
	if r, err := e.check(ctx, gone, otherReq); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("gone: %+v %v", r, err)
	}
	if err := e.store.SoftDelete(ctx, gone.ID, "someone"); err != nil {
		t.Fatal(err)
	}
	refiled := e.create(t, "5555000111", "TRANSACTION") // the reference is free again after the delete
	if r, err := e.check(ctx, refiled, otherReq); err != nil || r.Reason != transaction.ReasonPaymentAlreadyClaimed {
		t.Fatalf("re-filed after delete: %+v %v; want payment_already_claimed", r, err)
	}

	cancel := func(release bool) {
		t.Helper()
		if _, err := e.store.Transition(ctx, transaction.Change{ID: holder.ID, From: []transaction.Status{transaction.StatusCompleted, transaction.StatusCanceled},
			To: transaction.StatusCanceled, Reason: "wrong claim", ActorType: transaction.ActorUser, ActorID: "reviewer-1", ReleaseClaim: release}); err != nil {
			t.Fatalf("cancel: %v", err)
		}
	}
	cancel(false)
	second := e.create(t, "6655123456", "TRANSACTION")
	if r, err := e.check(ctx, second, req); err != nil || r.Reason != transaction.ReasonPaymentAlreadyClaimed {
		t.Fatalf("after a cancel without release: %+v %v; want payment_already_claimed", r, err)
	}

	cancel(true)
	if got := e.claims(t); got != 1 {
		t.Fatalf("%d live claims after release, want 1 (the deleted transaction's)", got)
	}
	var released struct {
		By     string `db:"released_by"`
		Events int    `db:"events"`
	}
	if err := e.db.GetContext(ctx, &released, `SELECT c.released_by,
			(SELECT count(*) FROM transaction_events WHERE transaction_id = c.transaction_id AND reason = 'claim_released' AND actor_id = 'reviewer-1') AS events
		FROM payment_claims c WHERE c.transaction_id = $1`, holder.ID); err != nil {
		t.Fatal(err)
	}
	if released.By != "reviewer-1" || released.Events != 1 {
		t.Errorf("release recorded by %q with %d events, want reviewer-1 and 1", released.By, released.Events)
	}
	third := e.create(t, "7755123456", "TRANSACTION")
	if r, err := e.check(ctx, third, req); err != nil || r.Status != transaction.StatusCompleted {
		t.Fatalf("after release: %+v %v; want COMPLETED", r, err)
	}
}

// TestDuplicateReferenceByDigits: references compare without leading zeros,
// across users; another type is a different claim.
func TestDuplicateReferenceByDigits(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	e.create(t, "000123456789", "TRANSACTION")
	amount := "1.00"
	for _, tc := range []struct {
		ref, typ string
		want     error
	}{
		{"123456789", "TRANSACTION", transaction.ErrDuplicateReference},
		{"0123456789", "TRANSACTION", transaction.ErrDuplicateReference},
		{"00000000123456789", "TRANSACTION", transaction.ErrDuplicateReference},
		{"123456789", "COMMISSION", nil},
		{"1234567890", "TRANSACTION", nil},
	} {
		e.seq++
		req := transaction.CreateRequest{TransactionID: fmt.Sprintf("DUP-%d", e.seq), Bank: transaction.BankBanesco,
			TransactionType: tc.typ, Reference: tc.ref, Amount: &amount,
			Customer: transaction.CustomerRequest{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"}}
		n, fields := req.Validate(time.Now())
		if fields != nil {
			t.Fatal(fields)
		}
		_, _, err := e.store.Create(context.Background(), e.user, n, time.Hour, "test")
		if err != tc.want {
			t.Errorf("create %s %s: %v, want %v", tc.ref, tc.typ, err, tc.want)
		}
	}
}
