package transaction_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// planRows is how many transactions the plan test loads: enough for the planner
// to cost like it would on a big table, fast enough to load in one statement.
const planRows = 200_000

// planNode is the part of an EXPLAIN (FORMAT JSON) node the test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	IndexCond    string     `json:"Index Cond"`
	Plans        []planNode `json:"Plans"`
	// With ANALYZE: the rows a node returned and the rows its filter read and
	// threw away, together what it read.
	ActualRows      float64 `json:"Actual Rows"`
	RemovedByFilter float64 `json:"Rows Removed by Filter"`
}

// walk visits every node of the plan.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// explain returns the root of query's plan with args bound.
func explain(t *testing.T, db *pgtest.DB, query string, args []any) planNode {
	t.Helper()
	return explainWith(t, db, "EXPLAIN (FORMAT JSON) ", query, args)
}

func explainWith(t *testing.T, db *pgtest.DB, prefix, query string, args []any) planNode {
	t.Helper()
	var raw []byte
	if err := db.GetContext(context.Background(), &raw, prefix+query, args...); err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("decode plan %s: %v", raw, err)
	}
	return plans[0].Plan
}

// TestListQueryPlans loads a big table and checks that the page query of every
// list the API builds reads an index, never the whole table: listing must stay
// fast at a million rows.
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	start := time.Now()

	// 50 users; 200k transactions, newest first by i, spread over ~70 days, five
	// statuses, each phone used twice and each national id four times, 1% deleted.
	if _, err := db.ExecContext(ctx, `INSERT INTO users (email, password_hash, full_name)
		SELECT 'u' || g || '@example.test', 'x', 'User ' || g FROM generate_series(1, 50) g`); err != nil {
		t.Fatalf("users: %v", err)
	}
	// Unlogged tables skip the WAL, and building each index once after the load
	// is much cheaper than maintaining seven of them row by row; the planner
	// costs the result exactly like the migrated table (same index definitions).
	// (The outbox's reference to transactions would forbid it; this test
	// writes no events.)
	if _, err := db.ExecContext(ctx, `ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_transaction_id_fkey;
		ALTER TABLE transaction_events SET UNLOGGED;
		ALTER TABLE payment_claims SET UNLOGGED; ALTER TABLE transactions SET UNLOGGED`); err != nil {
		t.Fatalf("unlogged: %v", err)
	}
	var indexDefs []string
	if err := db.SelectContext(ctx, &indexDefs, `SELECT indexdef FROM pg_indexes
		WHERE schemaname = 'public' AND tablename = 'transactions' AND indexname <> 'transactions_pkey'`); err != nil || len(indexDefs) < 6 {
		t.Fatalf("index definitions: %v %v", indexDefs, err)
	}
	if _, err := db.ExecContext(ctx, `DO $$ DECLARE r record; BEGIN
		FOR r IN SELECT indexname FROM pg_indexes
			WHERE schemaname = 'public' AND tablename = 'transactions' AND indexname <> 'transactions_pkey'
		LOOP EXECUTE 'DROP INDEX ' || quote_ident(r.indexname); END LOOP; END $$`); err != nil {
		t.Fatalf("drop indexes: %v", err)
	}
	if _, err := db.ExecContext(ctx, `WITH u AS (SELECT array_agg(id ORDER BY email) AS ids FROM users)
		INSERT INTO transactions (transaction_id, user_id, status, bank, transaction_type, reference, amount,
			paid_on, customer_full_name, customer_phone, customer_national_id, request_hash,
			next_check_at, deadline_at, created_at, updated_at, deleted_at)
		SELECT 'ORD-' || i, u.ids[1 + i % 50],
			(ARRAY['IN_PROGRESS','COMPLETED','CANCELED','TO_REVIEW','UNKNOWN']::transaction_status[])[1 + i % 5],
			(ARRAY['BANESCO','MOBILE_TRANSFER']::bank_name[])[1 + i % 2],
			(ARRAY['TRANSACTION','COMMISSION','OTHER']::transaction_type[])[1 + i % 3],
			lpad(i::text, 12, '0'), (i % 1000 + 1)::numeric, DATE '2026-01-01',
			'Cliente Numero', '0414' || lpad((i % 100000)::text, 7, '0'), 'V' || (1000000 + i % 50000),
			'\x00'::bytea, now(), now() + interval '1 day',
			TIMESTAMPTZ '2026-03-01 00:00:00+00' - i * interval '30 seconds',
			TIMESTAMPTZ '2026-03-01 00:00:00+00' - i * interval '30 seconds',
			CASE WHEN i % 100 = 0 THEN now() END
		FROM generate_series(1, $1) i, u`, planRows); err != nil {
		t.Fatalf("load: %v", err)
	}
	loaded := time.Now()
	for _, def := range indexDefs {
		if _, err := db.ExecContext(ctx, def); err != nil {
			t.Fatalf("%s: %v", def, err)
		}
	}
	if _, err := db.ExecContext(ctx, `ANALYZE transactions`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	var someUser string
	if err := db.GetContext(ctx, &someUser, `SELECT id FROM users ORDER BY email LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d rows in %v (indexes and statistics: %v)", planRows,
		time.Since(start).Round(time.Millisecond), time.Since(loaded).Round(time.Millisecond))

	day := func(s string) time.Time {
		d, err := time.ParseInLocation(time.DateOnly, s, transaction.Caracas)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name   string
		filter transaction.Filter
	}{
		{"admin unfiltered", transaction.Filter{}},
		{"admin deep page", transaction.Filter{Offset: 5000}},
		{"user scoped", transaction.Filter{OwnerID: someUser}},
		{"status", transaction.Filter{Status: "TO_REVIEW"}},
		{"user and status", transaction.Filter{OwnerID: someUser, Status: "UNKNOWN"}},
		{"reference", transaction.Filter{Reference: "000000123456"}},
		{"user and reference", transaction.Filter{OwnerID: someUser, Reference: "000000123450"}},
		{"reference and type", transaction.Filter{Reference: "000000123456", TransactionType: "TRANSACTION"}},
		{"phone", transaction.Filter{Phone: "04140012345"}},
		{"user and phone", transaction.Filter{OwnerID: someUser, Phone: "04140012345"}},
		{"national_id", transaction.Filter{NationalID: "V1012345"}},
		{"user and national_id", transaction.Filter{OwnerID: someUser, NationalID: "V1012345"}},
		{"date range", transaction.Filter{From: day("2026-02-10"), To: day("2026-02-12")}},
		{"user and date range", transaction.Filter{OwnerID: someUser, From: day("2026-02-10"), To: day("2026-02-12")}},
		{"from date only", transaction.Filter{From: day("2026-02-20")}},
		{"bank", transaction.Filter{Bank: "BANESCO"}},
		{"type", transaction.Filter{TransactionType: "COMMISSION"}},
		{"everything", transaction.Filter{OwnerID: someUser, Status: "IN_PROGRESS", Bank: "BANESCO",
			TransactionType: "OTHER", Phone: "04140012345", NationalID: "V1012345", From: day("2026-01-01"), To: day("2026-03-02")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			f.Limit = 20
			page, count := transaction.ListQuery(f)
			root := explain(t, db, page.Text, page.Args)
			var nodes, indexes []string
			root.walk(func(n planNode) {
				nodes = append(nodes, n.NodeType)
				if n.NodeType == "Seq Scan" && n.RelationName == "transactions" {
					t.Errorf("page query scans the whole table: %v", nodes)
				}
				if n.IndexName != "" {
					indexes = append(indexes, n.NodeType+" using "+n.IndexName)
				}
			})
			if len(indexes) == 0 {
				t.Errorf("page query uses no index: %v", nodes)
			}
			t.Logf("page: %s", strings.Join(indexes, ", "))

			// The count is logged, not asserted: counting an unfiltered table reads it.
			var countIdx []string
			explain(t, db, count.Text, count.Args).walk(func(n planNode) {
				if n.IndexName != "" {
					countIdx = append(countIdx, n.NodeType+" using "+n.IndexName)
				} else if n.RelationName != "" {
					countIdx = append(countIdx, n.NodeType+" on "+n.RelationName)
				}
			})
			t.Logf("count: %s", strings.Join(countIdx, ", "))

			// The query runs and returns rows of the filter.
			var got []transaction.Transaction
			if err := db.SelectContext(context.Background(), &got, page.Text, page.Args...); err != nil {
				t.Fatalf("run: %v", err)
			}
			for i, tx := range got {
				if tx.DeletedAt.Valid {
					t.Errorf("row %d is deleted", i)
				}
				if f.OwnerID != "" && tx.UserID != f.OwnerID {
					t.Errorf("row %d belongs to %s", i, tx.UserID)
				}
				if i > 0 && tx.CreatedAt.After(got[i-1].CreatedAt) != f.Oldest {
					t.Errorf("row %d is out of order (oldest first: %v)", i, f.Oldest)
				}
				if f.After != nil && (tx.CreatedAt.After(f.After.CreatedAt) != f.Oldest) {
					t.Errorf("row %d (%v) is not after the cursor (%v)", i, tx.CreatedAt, f.After.CreatedAt)
				}
			}
		})
	}

	// A keyset page deep in the table reads about its own rows: the position
	// is a condition of the index scan, not a filter over everything before it.
	// The OFFSET page at the same depth is the contrast the test measures
	// against (it reads every row it skips).
	deep := &transaction.Position{CreatedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(-150_000 * 30 * time.Second),
		ID: "00000000-0000-0000-0000-000000000000"}
	rowsRead := func(t *testing.T, f transaction.Filter) float64 {
		page, _ := transaction.ListQuery(f)
		var read float64
		explainWith(t, db, "EXPLAIN (ANALYZE, FORMAT JSON) ", page.Text, page.Args).walk(func(n planNode) {
			if n.RelationName == "transactions" {
				read += n.ActualRows + n.RemovedByFilter
			}
		})
		return read
	}
	if read := rowsRead(t, transaction.Filter{Limit: 21, Offset: 148_000}); read < 148_000 {
		t.Errorf("OFFSET 148000 read %v rows; the contrast is wrong", read)
	}
	for _, tt := range []struct {
		name   string
		filter transaction.Filter
	}{
		{"admin newest first", transaction.Filter{After: deep}},
		{"admin oldest first", transaction.Filter{After: deep, Oldest: true}},
		{"user", transaction.Filter{OwnerID: someUser, After: deep}},
		{"TO_REVIEW oldest first", transaction.Filter{Status: "TO_REVIEW", Oldest: true, After: deep}},
		{"TO_REVIEW newest first", transaction.Filter{Status: "TO_REVIEW", After: deep}},
	} {
		t.Run("keyset "+tt.name, func(t *testing.T) {
			f := tt.filter
			f.Limit = 21
			// Deleted rows (1 %) and other owners' rows are filtered, so
			// "about its own rows" allows a few hundred.
			read := rowsRead(t, f)
			if read > 1_500 {
				t.Errorf("keyset page at depth 150000 read %v rows, want about %d", read, f.Limit)
			}
			t.Logf("read %v rows", read)
		})
	}
}
