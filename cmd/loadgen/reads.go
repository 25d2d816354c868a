package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// readPoint is one query of scenario 4.
type readPoint struct {
	Name     string
	Reqs     int // requests measured (fewer for the slow OFFSET contrast)
	Path     string
	P50, P99 time.Duration
	Items    int
	Total    int
	// Estimated: the API answered total_estimated (more than 10 000
	// matches: Postgres's estimate, not a count).
	Estimated bool
	Explain   string
}

var statuses = []string{"COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "COMPLETED", "IN_PROGRESS", "TO_REVIEW", "UNKNOWN", "CANCELED"}

// loadRows COPYs rows transactions: half owned by each of two users, created
// over the last year, statuses mostly COMPLETED.
func loadRows(ctx context.Context, c *systest.Cluster, rows int, users []string, prefix string, status string) error {
	tx, err := c.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("transactions", "transaction_id", "user_id", "status", "bank", "transaction_type",
		"reference", "amount", "payer_bank_code", "paid_on", "customer_full_name", "customer_phone", "customer_national_id",
		"request_hash", "next_check_at", "deadline_at", "created_at", "updated_at"))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	hash := sha256.Sum256([]byte("bench"))
	types := []string{"TRANSACTION", "TRANSACTION", "TRANSACTION", "COMMISSION", "OTHER"}
	for i := 0; i < rows; i++ {
		created := now.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
		st := status
		if st == "" {
			st = statuses[rng.IntN(len(statuses))]
		}
		bank := "MOBILE_TRANSFER"
		if i%3 == 0 {
			bank = "BANESCO"
		}
		phone := fmt.Sprintf("0414%07d", rng.IntN(200_000))
		nid := fmt.Sprintf("V%08d", rng.IntN(300_000))
		if _, err := stmt.ExecContext(ctx, fmt.Sprintf("%s-%07d", prefix, i), users[i%len(users)], st, bank, types[i%len(types)],
			fmt.Sprintf("%s%012d", strings.Repeat("9", 2), i), "1240.00", "0102", created.Format(time.DateOnly), "Ana Pérez", phone, nid,
			hash[:], now, now.Add(24*time.Hour), created, created); err != nil {
			return err
		}
		if i%20000 == 0 {
			bar("COPY transactions", i, rows)
		}
	}
	bar("COPY transactions", rows, rows)
	if _, err := stmt.ExecContext(ctx); err != nil {
		return err
	}
	if err := stmt.Close(); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// VACUUM as autovacuum would in production: sets the visibility map so
	// index-only scans skip the heap.
	_, err = c.DB.ExecContext(ctx, `VACUUM ANALYZE transactions`)
	return err
}

func benchReads(ctx context.Context, s settings, r *report) error {
	c, err := cluster(ctx, s, "reads", systest.Options{Workers: 0})
	if err != nil {
		return err
	}
	defer c.Close()
	// A plain user, to measure the owner-scoped listing.
	if code, b, err := c.Do(ctx, http.MethodPost, "/api/v1/auth/register", map[string]string{"email": "reader@example.com", "password": "reader-password-1", "full_name": "Reader One"}); err != nil || code != http.StatusCreated {
		return fmt.Errorf("register: %d %s %v", code, b, err)
	}
	var users []string
	if err := c.DB.SelectContext(ctx, &users, `SELECT id FROM users ORDER BY email`); err != nil {
		return err
	}
	progress(fmt.Sprintf("reads: loading %d transactions with COPY", s.readRows))
	t0 := time.Now()
	if err := loadRows(ctx, c, s.readRows, users, "R", ""); err != nil {
		return err
	}
	r.readLoad = time.Since(t0)
	var sample struct {
		TransactionID string `db:"transaction_id"`
		Reference     string `db:"reference"`
		Phone         string `db:"customer_phone"`
		NationalID    string `db:"customer_national_id"`
	}
	if err := c.DB.GetContext(ctx, &sample, `SELECT transaction_id, reference, customer_phone, customer_national_id FROM transactions ORDER BY created_at DESC OFFSET 1000 LIMIT 1`); err != nil {
		return err
	}
	week := time.Now().In(transaction.Caracas).AddDate(0, 0, -7).Format(time.DateOnly)
	today := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	adminToken := c.Token()
	userToken, err := c.LoginAs(ctx, "reader@example.com", "reader-password-1")
	if err != nil {
		return err
	}
	// Keyset pages at depth: the cursor of the row before, as the list would
	// have answered it on the previous page.
	at := func(depth int, filter transaction.Filter) (*transaction.Position, string, error) {
		page, _ := transaction.ListQuery(transaction.Filter{Status: filter.Status, Oldest: filter.Oldest, Limit: 1, Offset: depth - 1})
		var row transaction.Transaction
		if err := c.DB.GetContext(ctx, &row, page.Text, page.Args...); err != nil {
			return nil, "", fmt.Errorf("cursor at %d: %w", depth, err)
		}
		p := transaction.PositionOf(row)
		return p, url.QueryEscape(transaction.ListCursor(p, filter.Oldest)), nil
	}
	mid, last, reviewDepth := s.readRows/2, s.readRows-20, s.readRows/10/4
	midPos, midCur, err := at(mid, transaction.Filter{})
	if err != nil {
		return err
	}
	lastPos, lastCur, err := at(last, transaction.Filter{})
	if err != nil {
		return err
	}
	reviewPos, reviewCur, err := at(reviewDepth, transaction.Filter{Status: "TO_REVIEW", Oldest: true})
	if err != nil {
		return err
	}
	queries := []struct {
		name, path, token string
		filter            transaction.Filter
		reqs              int // 0: s.readReqs × s.runs
	}{
		{"admin, no filter", "/api/v1/transactions", adminToken, transaction.Filter{}, 0},
		{"user-scoped, no filter", "/api/v1/transactions", userToken, transaction.Filter{OwnerID: users[1]}, 0},
		{"status=TO_REVIEW", "/api/v1/transactions?status=TO_REVIEW", adminToken, transaction.Filter{Status: "TO_REVIEW"}, 0},
		{"bank=BANESCO", "/api/v1/transactions?bank=BANESCO", adminToken, transaction.Filter{Bank: "BANESCO"}, 0},
		{"transaction_type=COMMISSION", "/api/v1/transactions?transaction_type=COMMISSION", adminToken, transaction.Filter{TransactionType: "COMMISSION"}, 0},
		{"reference", "/api/v1/transactions?reference=" + sample.Reference, adminToken, transaction.Filter{Reference: sample.Reference}, 0},
		{"phone", "/api/v1/transactions?phone=" + sample.Phone, adminToken, transaction.Filter{Phone: sample.Phone}, 0},
		{"national_id", "/api/v1/transactions?national_id=" + sample.NationalID, adminToken, transaction.Filter{NationalID: sample.NationalID}, 0},
		{"last 7 days", "/api/v1/transactions?from_date=" + week + "&to_date=" + today, adminToken, transaction.Filter{From: mustDate(week), To: mustDate(today).AddDate(0, 0, 1)}, 0},
		{"page 50, no filter", "/api/v1/transactions?page=50", adminToken, transaction.Filter{Offset: 980}, 0},
		{"status lookup", "/api/v1/transactions/" + sample.TransactionID + "/status", adminToken, transaction.Filter{}, 0},
		{"keyset, first page", "/api/v1/transactions?limit=20", adminToken, transaction.Filter{}, 0},
		{fmt.Sprintf("keyset at row %d", mid), "/api/v1/transactions?limit=20&cursor=" + midCur, adminToken, transaction.Filter{After: midPos}, 0},
		{fmt.Sprintf("keyset, last page (row %d)", last), "/api/v1/transactions?limit=20&cursor=" + lastCur, adminToken, transaction.Filter{After: lastPos}, 0},
		{fmt.Sprintf("TO_REVIEW oldest first, keyset at row %d of the queue", reviewDepth),
			"/api/v1/transactions?status=TO_REVIEW&sort=created_at&limit=20&cursor=" + reviewCur, adminToken,
			transaction.Filter{Status: "TO_REVIEW", Oldest: true, After: reviewPos}, 0},
		// The contrast: the same depth as an OFFSET page (20 requests: each
		// reads and discards half the table).
		{fmt.Sprintf("OFFSET page at row %d (page=%d)", mid, mid/20+1), fmt.Sprintf("/api/v1/transactions?size=20&page=%d", mid/20+1), adminToken,
			transaction.Filter{Offset: mid}, 20},
	}
	for qi, q := range queries {
		var lat []time.Duration
		var items, total int
		var estimated bool
		reqs := s.readReqs * s.runs
		if q.reqs > 0 {
			reqs = min(q.reqs, reqs)
		}
		for i := 0; i < reqs; i++ {
			t0 := time.Now()
			code, b, err := c.DoAs(ctx, q.token, http.MethodGet, q.path)
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("%s: %d %s %v", q.name, code, b, err)
			}
			lat = append(lat, time.Since(t0))
			var page struct {
				Items     []json.RawMessage `json:"items"`
				Total     int               `json:"total"`
				Estimated bool              `json:"total_estimated"`
			}
			_ = json.Unmarshal(b, &page)
			items, total, estimated = len(page.Items), page.Total, page.Estimated
			bar(fmt.Sprintf("read %d/%d", qi+1, len(queries)), i+1, reqs)
		}
		rp := readPoint{Name: q.name, Path: q.path, Reqs: reqs, P50: pct(lat, .5), P99: pct(lat, .99), Items: items, Total: total, Estimated: estimated}
		if q.name != "status lookup" {
			f := q.filter
			if f.Limit == 0 {
				f.Limit = 20
			}
			page, _ := transaction.ListQuery(f)
			var plan []string
			if err := c.DB.SelectContext(ctx, &plan, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) "+page.Text, page.Args...); err != nil {
				return fmt.Errorf("explain %s: %w", q.name, err)
			}
			rp.Explain = strings.Join(plan, "\n")
		} else {
			var plan []string
			if err := c.DB.SelectContext(ctx, &plan, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT * FROM transactions WHERE transaction_id = $1`, sample.TransactionID); err != nil {
				return err
			}
			rp.Explain = strings.Join(plan, "\n")
		}
		r.reads = append(r.reads, rp)
	}
	return benchExports(ctx, c, s, r)
}

func mustDate(s string) time.Time {
	d, err := time.ParseInLocation(time.DateOnly, s, transaction.Caracas)
	if err != nil {
		panic(err)
	}
	return d
}
