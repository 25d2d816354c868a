package transaction_test

import (
	"context"
	"testing"

	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// TestListTotalIsExactUpToTenThousand: small listings count exactly; past
// 10 000 matches the total is the planner's estimate, flagged as such, so a
// million-row listing never waits for a full count.
func TestListTotalIsExactUpToTenThousand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.New(t)
	var user string
	if err := db.GetContext(ctx, &user, `INSERT INTO users (email, password_hash, full_name) VALUES ('count@example.test', 'x', 'Count') RETURNING id`); err != nil {
		t.Fatal(err)
	}
	const rows = 12_000
	if _, err := db.ExecContext(ctx, `INSERT INTO transactions (transaction_id, user_id, status, bank, reference, paid_on,
			customer_full_name, customer_phone, customer_national_id, request_hash, deadline_at, created_at)
		SELECT 'C-' || g, $1, CASE WHEN g % 1000 = 0 THEN 'TO_REVIEW' ELSE 'COMPLETED' END::transaction_status, 'MOBILE_TRANSFER',
			lpad(g::text, 12, '0'), current_date, 'Ana Pérez', '04141234567', 'V12345678', '\x00', now(), now() - g * interval '1 second'
		FROM generate_series(1, $2) g`, user, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE transactions`); err != nil {
		t.Fatal(err)
	}
	store := transaction.NewStore(db.DB, nil)

	items, total, estimated, err := store.List(ctx, transaction.Filter{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !estimated || total < 10_001 || total > 2*rows || len(items) != 20 {
		t.Errorf("unfiltered: total %d estimated %v items %d; want an estimate near %d and 20 items", total, estimated, len(items), rows)
	}
	items, total, estimated, err = store.List(ctx, transaction.Filter{Status: "TO_REVIEW", Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if estimated || total != rows/1000 || len(items) != rows/1000 {
		t.Errorf("TO_REVIEW: total %d estimated %v items %d; want exactly %d", total, estimated, len(items), rows/1000)
	}
}
