package database_test

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// notices collects what a migration reports.
type notices struct {
	mu   sync.Mutex
	msgs []string
}

func (n *notices) add(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, msg)
}

func (n *notices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// TestClaimsMigrationFlagsAndBackfills: data written under schema 1 — live
// references that collide once leading zeros are ignored, and COMPLETED
// transactions two of which were confirmed by one bank movement (shown with
// different quirks) — is previewed (nothing changes), then migrated: the
// duplicates are flagged with an event, never deleted; each movement gets one
// claim, with the key the bank client computes; the second confirmation is
// reported for review.
func TestClaimsMigrationFlagsAndBackfills(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t)
	ctx := ctxT(t)
	if err := database.MigrateTo(ctx, db.DB.DB, 1); err != nil {
		t.Fatal(err)
	}
	var user string
	if err := db.GetContext(ctx, &user, `INSERT INTO users (email, password_hash, full_name) VALUES ('m@example.test', 'x', 'M') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	insert := func(tid, ref, typ, status, payload string, at time.Duration, deleted bool) string {
		t.Helper()
		var id string
		var p any
		if payload != "" {
			p = payload
		}
		var del any
		if deleted {
			del = base
		}
		if err := db.GetContext(ctx, &id, `INSERT INTO transactions (transaction_id, user_id, status, bank, transaction_type, reference,
				paid_on, customer_full_name, customer_phone, customer_national_id, request_hash, deadline_at, bank_payload, created_at, updated_at, deleted_at)
			VALUES ($1, $2, $3, 'MOBILE_TRANSFER', $4, $5, '2026-08-06', 'Ana', '04141234567', 'V1234', '\x00', now(), $6, $7, $7, $8) RETURNING id`,
			tid, user, status, typ, ref, p, base.Add(at), del); err != nil {
			t.Fatalf("insert %s: %v", tid, err)
		}
		if status == "COMPLETED" {
			if _, err := db.ExecContext(ctx, `INSERT INTO transaction_events (transaction_id, old_status, new_status, actor_type, created_at)
				VALUES ($1, 'IN_PROGRESS', 'COMPLETED', 'SYSTEM', $2)`, id, base.Add(at+time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	const (
		rowE = `{"referenceNumber":"000555666","amount":"10.00","currencyCode":"BS ","accountId":"1340************8514","trnDate":"2026-08-06","trnTime":"10:30:00","trnType":"CR","sourceBankId":"102","destBankId":"0134"}`
		rowF = `{"referenceNumber":"555666","amount":10,"currencyCode":"BS","accountId":" 1340************8514","trnDate":"2026-08-06T00:00:00","trnTime":"00.00.00","trnType":" cr ","sourceBankId":"0102","destBankId":"134"}`
		rowG = `{"referenceNumber":"000777888","amount":1240.5,"accountId":"1340************8514","trnDate":"2026-08-07","trnType":"CR","sourceBankId":134}`
	)
	open := insert("A", "000123456789", "TRANSACTION", "IN_PROGRESS", "", 0, false)
	kept := insert("B", "123456789", "TRANSACTION", "COMPLETED", `{"referenceNumber":"123456789","amount":"1.00","trnDate":"2026-08-06","trnType":"CR","sourceBankId":"0102","accountId":"x"}`, time.Hour, false)
	insert("C", "0123456789", "COMMISSION", "IN_PROGRESS", "", 2*time.Hour, false)
	insert("D", "00123456789", "TRANSACTION", "CANCELED", "", 3*time.Hour, true) // deleted: not live, not flagged
	first := insert("E", "111555666", "TRANSACTION", "COMPLETED", rowE, 4*time.Hour, false)
	second := insert("F", "222555666", "OTHER", "COMPLETED", rowF, 5*time.Hour, false)
	third := insert("G", "777888", "TRANSACTION", "COMPLETED", rowG, 6*time.Hour, false)

	// Preview: the same report, and nothing changed.
	var preview notices
	versions, err := database.Preview(ctx, db.URL, preview.add)
	if err != nil {
		t.Fatalf("Preview: %v", err)
	}
	if !slices.Contains(versions, 2) {
		t.Fatalf("previewed %v, want migration 2 among them", versions)
	}
	wantVersion(t, db.DB, 1)
	var hasColumn bool
	if err := db.GetContext(ctx, &hasColumn, `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'transactions' AND column_name = 'duplicate_of')`); err != nil || hasColumn {
		t.Fatalf("after the preview the schema changed (duplicate_of exists: %v, %v)", hasColumn, err)
	}

	var applied notices
	rdb, err := database.OpenReporting(ctx, db.URL, 1, applied.add)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := database.Migrate(ctx, rdb); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	// Preview and migration ran the same SQL (later migrations may add more,
	// so compare what the claims migration reports).
	report := func(ms []string) []string {
		var out []string
		for _, m := range ms {
			if strings.HasPrefix(m, "duplicate_reference") || strings.HasPrefix(m, "payment_claim") {
				out = append(out, m)
			}
		}
		return out
	}
	if got, want := report(applied.all()), report(preview.all()); !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("migration reported\n%s\npreview reported\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, want := range []string{
		"duplicate_reference: transaction A (reference 000123456789, TRANSACTION, IN_PROGRESS) flagged as a duplicate of B",
		"duplicate_reference: 1 transaction(s) flagged",
		"payment_claim_conflict: COMPLETED transaction F was confirmed by the movement that confirmed E; review it",
		"payment_claims: 3 claim(s) recorded from COMPLETED transactions, 1 conflict(s) to review",
	} {
		if !slices.Contains(applied.all(), want) {
			t.Errorf("missing notice %q in\n%s", want, strings.Join(applied.all(), "\n"))
		}
	}

	// Flagged, not deleted; the kept one and the other type untouched.
	var rows []struct {
		TID         string  `db:"transaction_id"`
		DuplicateOf *string `db:"duplicate_of"`
		Deleted     bool    `db:"deleted"`
	}
	if err := db.SelectContext(ctx, &rows, `SELECT transaction_id, duplicate_of, deleted_at IS NOT NULL AS deleted FROM transactions ORDER BY transaction_id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("%d transactions after the migration, want all 7", len(rows))
	}
	for _, r := range rows {
		wantDup := r.TID == "A"
		if (r.DuplicateOf != nil) != wantDup || (wantDup && *r.DuplicateOf != kept) {
			t.Errorf("%s: duplicate_of %v", r.TID, r.DuplicateOf)
		}
	}
	var flagEvents int
	if err := db.GetContext(ctx, &flagEvents, `SELECT count(*) FROM transaction_events WHERE transaction_id = $1
		AND reason = 'duplicate_reference_flagged' AND metadata->>'duplicate_of_transaction_id' = 'B'`, open); err != nil || flagEvents != 1 {
		t.Errorf("flag events on A: %d, %v; want 1", flagEvents, err)
	}

	// One claim per movement, keyed exactly as the bank client keys rows.
	var claims []struct {
		TxID string `db:"transaction_id"`
		Key  string `db:"movement_key"`
	}
	if err := db.SelectContext(ctx, &claims, `SELECT transaction_id, movement_key FROM payment_claims ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	wantKey := func(raw string) string {
		m, ok := banesco.MovementOf(json.RawMessage(raw))
		if !ok {
			t.Fatalf("bank client cannot read %s", raw)
		}
		return transaction.Movement(m).Key()
	}
	if keyE, keyF := wantKey(rowE), wantKey(rowF); keyE != keyF {
		t.Fatalf("the bank client reads E and F as different movements: %s vs %s", keyE, keyF)
	}
	byTx := map[string]string{}
	for _, c := range claims {
		byTx[c.TxID] = c.Key
	}
	if len(claims) != 3 || byTx[first] != wantKey(rowE) || byTx[third] != wantKey(rowG) || byTx[second] != "" || byTx[kept] == "" {
		t.Errorf("claims %+v; want B's, E's (%s) and G's (%s), none for F", claims, wantKey(rowE), wantKey(rowG))
	}
	var conflict string
	if err := db.GetContext(ctx, &conflict, `SELECT metadata->'claim'->'holder'->>'transaction_id' FROM transaction_events
		WHERE transaction_id = $1 AND reason = 'payment_claim_conflict'`, second); err != nil || conflict != "E" {
		t.Errorf("F's conflict event names holder %q (%v), want E", conflict, err)
	}
}
