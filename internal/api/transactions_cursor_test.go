package api_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
)

// txCursorPage is the keyset envelope of GET /api/v1/transactions?limit=….
type txCursorPage struct {
	Items      []txView `json:"items"`
	NextCursor *string  `json:"next_cursor"`
}

// TestTransactionListCursor walks keyset pages over real HTTP: every row once,
// in order, in both sorts, across rows that share a creation time and rows
// created while the walk is under way; a reviewer gets the TO_REVIEW queue
// oldest first; cursors that this API did not give are refused.
func TestTransactionListCursor(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	b := e.newUser(t)
	ctx := context.Background()

	// 23 of a's transactions: 8 share one creation time (the cursor must break
	// the tie by id), 5 are TO_REVIEW, one is deleted; 2 of b's.
	var mine []txView
	for range 23 {
		mine = append(mine, e.create(t, a, e.txBody()))
	}
	for range 2 {
		e.create(t, b, e.txBody())
	}
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, v := range mine {
		at := base.Add(time.Duration(i) * time.Minute)
		if i >= 5 && i < 13 {
			at = base.Add(5 * time.Minute) // a tie of 8
		}
		if _, err := e.db.ExecContext(ctx, `UPDATE transactions SET created_at = $2 WHERE id = $1`, v.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	review := map[string]bool{}
	for _, i := range []int{20, 2, 9, 7, 15} {
		e.setStatus(t, mine[i].ID, transaction.StatusToReview)
		review[mine[i].ID] = true
	}
	e.do(t, http.MethodDelete, "/api/v1/transactions/"+mine[11].TransactionID, e.admin.token, nil).want(t, http.StatusNoContent)

	// The expected orders, computed from the database's own sort.
	order := func(t *testing.T, query string, args ...any) []string {
		t.Helper()
		var ids []string
		if err := e.db.SelectContext(ctx, &ids, query, args...); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	newest := order(t, `SELECT id FROM transactions WHERE user_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC, id DESC`, a.id)
	oldest := slices.Clone(newest)
	slices.Reverse(oldest)
	var reviewOldest []string
	for _, id := range oldest {
		if review[id] {
			reviewOldest = append(reviewOldest, id)
		}
	}

	walk := func(t *testing.T, who txAccount, query url.Values) (ids []string, pages int) {
		t.Helper()
		cursor := ""
		for pages = 1; pages < 100; pages++ {
			q := url.Values{}
			for k, v := range query {
				q[k] = v
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			r := e.do(t, http.MethodGet, "/api/v1/transactions?"+q.Encode(), who.token, nil)
			r.want(t, http.StatusOK)
			if got := keysOf(t, r.body); !slices.Equal(got, []string{"items", "next_cursor"}) {
				t.Fatalf("keyset page keys = %v", got)
			}
			var p txCursorPage
			r.decode(t, &p)
			for _, v := range p.Items {
				ids = append(ids, v.ID)
			}
			if p.NextCursor == nil {
				return ids, pages
			}
			if len(p.Items) == 0 {
				t.Fatalf("an empty page with a next_cursor")
			}
			cursor = *p.NextCursor
		}
		t.Fatalf("no last page after %d pages", pages)
		return nil, 0
	}

	t.Run("every row once, in order", func(t *testing.T) {
		for _, tt := range []struct {
			query url.Values
			want  []string
			pages int
		}{
			{url.Values{"limit": {"5"}}, newest, 5}, // 22 rows: 5+5+5+5+2
			{url.Values{"limit": {"5"}, "sort": {"-created_at"}}, newest, 5},
			{url.Values{"limit": {"3"}, "sort": {"created_at"}}, oldest, 8},
			{url.Values{"limit": {"22"}}, newest, 1}, // exactly one full page: no empty page after it
			{url.Values{"limit": {"100"}}, newest, 1},
			{url.Values{"limit": {"2"}, "status": {"TO_REVIEW"}, "sort": {"created_at"}}, reviewOldest, 3},
		} {
			got, pages := walk(t, a, tt.query)
			if !slices.Equal(got, tt.want) || pages != tt.pages {
				t.Errorf("?%s: %d rows in %d pages, want %d in %d; order equal: %v",
					tt.query.Encode(), len(got), pages, len(tt.want), tt.pages, slices.Equal(got, tt.want))
			}
		}
	})

	t.Run("the admin's review queue, oldest first", func(t *testing.T) {
		got, _ := walk(t, e.admin, url.Values{"status": {"TO_REVIEW"}, "sort": {"created_at"}, "limit": {"100"}})
		if !slices.Equal(got, reviewOldest) {
			t.Errorf("admin review queue = %v, want %v", got, reviewOldest)
		}
		// The page/size envelope takes the sort too.
		r := e.do(t, http.MethodGet, "/api/v1/transactions?status=TO_REVIEW&sort=created_at&size=2&page=2", e.admin.token, nil)
		r.want(t, http.StatusOK)
		var p txPage
		r.decode(t, &p)
		if len(p.Items) != 2 || p.Items[0].ID != reviewOldest[2] || p.Items[1].ID != reviewOldest[3] || p.Total != 5 {
			t.Errorf("page 2 of the review queue = %+v", p)
		}
	})

	t.Run("rows created during the walk do not shift it", func(t *testing.T) {
		r := e.do(t, http.MethodGet, "/api/v1/transactions?limit=4", a.token, nil)
		r.want(t, http.StatusOK)
		var p txCursorPage
		r.decode(t, &p)
		// An OFFSET listing would now show the first page's last row again.
		e.create(t, a, e.txBody())
		e.create(t, a, e.txBody())
		r = e.do(t, http.MethodGet, "/api/v1/transactions?limit=4&cursor="+url.QueryEscape(*p.NextCursor), a.token, nil)
		r.want(t, http.StatusOK)
		var p2 txCursorPage
		r.decode(t, &p2)
		if len(p2.Items) != 4 || p2.Items[0].ID != newest[4] {
			t.Errorf("second page starts at %v, want %s", p2.Items, newest[4])
		}
	})

	t.Run("a cursor is scoped to the caller", func(t *testing.T) {
		// b takes a's cursor: the position is just a time and an id, and b
		// still sees only b's rows.
		r := e.do(t, http.MethodGet, "/api/v1/transactions?limit=1", a.token, nil)
		var p txCursorPage
		r.decode(t, &p)
		got, _ := walk(t, b, url.Values{"limit": {"10"}, "cursor": {*p.NextCursor}})
		for _, id := range got {
			if slices.Contains(newest, id) {
				t.Errorf("b's walk with a's cursor listed a's transaction %s", id)
			}
		}
	})

	t.Run("bad cursors and limits", func(t *testing.T) {
		r := e.do(t, http.MethodGet, "/api/v1/transactions?limit=2", a.token, nil)
		var p txCursorPage
		r.decode(t, &p)
		newestCursor := *p.NextCursor
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, tt := range []struct {
			query  url.Values
			fields []string
		}{
			{url.Values{"limit": {"0"}}, []string{"limit"}},
			{url.Values{"limit": {"101"}}, []string{"limit"}},
			{url.Values{"limit": {"ten"}}, []string{"limit"}},
			{url.Values{"cursor": {"not base64!"}}, []string{"cursor"}},
			{url.Values{"cursor": {enc("-created_at|2026-11-01T12:00:00Z")}}, []string{"cursor"}},
			{url.Values{"cursor": {enc("-created_at|yesterday|" + mine[0].ID)}}, []string{"cursor"}},
			{url.Values{"cursor": {enc("-created_at|2026-11-01T12:00:00Z|' OR 1=1 --")}}, []string{"cursor"}},
			{url.Values{"cursor": {enc("-created_at|2026-11-01T12:00:00Z|" + mine[0].ID + "|x")}}, []string{"cursor"}},
			{url.Values{"cursor": {newestCursor}, "sort": {"created_at"}}, []string{"cursor"}}, // a cursor of the other order
			{url.Values{"cursor": {newestCursor}, "page": {"2"}}, []string{"cursor"}},
			{url.Values{"limit": {"5"}, "size": {"5"}}, []string{"cursor"}},
			{url.Values{"sort": {"amount"}}, []string{"sort"}},
			{url.Values{"sort": {"amount"}, "limit": {"500"}, "status": {"X"}}, []string{"limit", "sort", "status"}},
		} {
			e.do(t, http.MethodGet, "/api/v1/transactions?"+tt.query.Encode(), a.token, nil).
				wantErr(t, http.StatusUnprocessableEntity, "validation_failed", tt.fields...)
		}
	})
}
