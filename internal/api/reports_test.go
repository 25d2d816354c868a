package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
)

// reportRow seeds one of a's or b's transactions directly in the database.
type reportRow struct {
	owner   txAccount
	status  transaction.Status
	bank    string
	amount  any // nil: sent without an amount
	created string
}

func (e *txEnv) seedReportRows(t *testing.T, rows []reportRow) []string {
	t.Helper()
	ids := make([]string, len(rows))
	for i, r := range rows {
		n := e.seq.Add(1)
		err := e.db.GetContext(context.Background(), &ids[i], `INSERT INTO transactions (transaction_id, user_id, status, bank, reference,
				amount, paid_on, customer_full_name, customer_phone, customer_national_id, request_hash, deadline_at, created_at, updated_at)
			VALUES ('REP-' || $1::text, $2, $3, $4, '4' || lpad($1::text, 11, '0'), $5, DATE '2026-11-01', 'Ana Pérez', '04141234567', 'V12345678',
				'\x00', now(), $6, $6) RETURNING id`, n, r.owner.id, r.status, r.bank, r.amount, r.created)
		if err != nil {
			t.Fatalf("seed row %d: %v", i, err)
		}
	}
	return ids
}

type tally struct {
	Count      int    `json:"count"`
	Amount     string `json:"amount"`
	WithAmount int    `json:"with_amount"`
}

type summaryGroup struct {
	Key string `json:"key"`
	tally
	ByStatus map[string]tally `json:"by_status"`
}

type summaryReply struct {
	GroupBy  string         `json:"group_by"`
	FromDate *string        `json:"from_date"`
	ToDate   *string        `json:"to_date"`
	TimeZone string         `json:"time_zone"`
	Groups   []summaryGroup `json:"groups"`
	Total    summaryGroup   `json:"total"`
}

// TestReportSummary: counts and exact decimal sums per day (in Caracas), bank
// and status, each split by status; owners see their own, admins everything;
// the list's filters apply.
func TestReportSummary(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	b := e.newUser(t)
	const (
		c, r, ip = transaction.StatusCompleted, transaction.StatusToReview, transaction.StatusInProgress
		bn, mt   = "BANESCO", "MOBILE_TRANSFER"
	)
	e.seedReportRows(t, []reportRow{
		{a, c, bn, "0.10", "2026-11-20T03:59:59Z"},    // 2026-11-19 23:59:59 in Caracas
		{a, c, bn, "0.20", "2026-11-20T04:00:00Z"},    // 2026-11-20 00:00
		{a, c, mt, "1240.00", "2026-11-20T15:00:00Z"}, // 2026-11-20
		{a, r, mt, "99.99", "2026-11-20T16:00:00Z"},
		{a, ip, bn, nil, "2026-11-21T12:00:00Z"}, // no amount: counted, sums nothing
		{a, c, bn, "9999999999999.99", "2026-11-21T13:00:00Z"},
		{b, c, bn, "5.00", "2026-11-20T15:00:00Z"},
	})
	zero := tally{Amount: "0.00"}
	summary := func(t *testing.T, who txAccount, q url.Values) summaryReply {
		t.Helper()
		resp := e.do(t, http.MethodGet, "/api/v1/reports/summary?"+q.Encode(), who.token, nil)
		resp.want(t, http.StatusOK)
		var s summaryReply
		resp.decode(t, &s)
		for _, g := range append(slices.Clone(s.Groups), s.Total) {
			if len(g.ByStatus) != 5 {
				t.Errorf("group %s lists %d statuses, want all 5: %v", g.Key, len(g.ByStatus), g.ByStatus)
			}
		}
		return s
	}
	keys := func(s summaryReply) []string {
		var k []string
		for _, g := range s.Groups {
			k = append(k, g.Key)
		}
		return k
	}

	t.Run("by day, the owner's own", func(t *testing.T) {
		s := summary(t, a, url.Values{})
		if s.GroupBy != "day" || s.TimeZone != "America/Caracas" || s.FromDate != nil || s.ToDate != nil {
			t.Errorf("envelope = %+v", s)
		}
		if got := keys(s); !slices.Equal(got, []string{"2026-11-19", "2026-11-20", "2026-11-21"}) {
			t.Fatalf("days = %v", got)
		}
		d20 := s.Groups[1]
		if d20.tally != (tally{3, "1340.19", 3}) || d20.ByStatus["COMPLETED"] != (tally{2, "1240.20", 2}) ||
			d20.ByStatus["TO_REVIEW"] != (tally{1, "99.99", 1}) || d20.ByStatus["UNKNOWN"] != zero {
			t.Errorf("2026-11-20 = %+v", d20)
		}
		d21 := s.Groups[2]
		if d21.tally != (tally{2, "9999999999999.99", 1}) || d21.ByStatus["IN_PROGRESS"] != (tally{1, "0.00", 0}) {
			t.Errorf("2026-11-21 = %+v", d21)
		}
		if s.Total.tally != (tally{6, "10000000001340.28", 5}) || s.Total.ByStatus["COMPLETED"] != (tally{4, "10000000001240.29", 4}) {
			t.Errorf("total = %+v", s.Total)
		}
	})

	t.Run("by bank and by status", func(t *testing.T) {
		s := summary(t, a, url.Values{"group_by": {"bank"}})
		if got := keys(s); !slices.Equal(got, []string{"BANESCO", "MOBILE_TRANSFER"}) {
			t.Fatalf("banks = %v", got)
		}
		if s.Groups[0].tally != (tally{4, "10000000000000.29", 3}) || s.Groups[1].ByStatus["TO_REVIEW"] != (tally{1, "99.99", 1}) {
			t.Errorf("by bank = %+v", s.Groups)
		}
		s = summary(t, a, url.Values{"group_by": {"status"}})
		if got := keys(s); !slices.Equal(got, []string{"COMPLETED", "IN_PROGRESS", "TO_REVIEW"}) {
			t.Fatalf("statuses = %v", got)
		}
		if s.Groups[0].tally != (tally{4, "10000000001240.29", 4}) || s.Groups[0].ByStatus["COMPLETED"] != s.Groups[0].tally {
			t.Errorf("by status = %+v", s.Groups[0])
		}
	})

	t.Run("filters and scope", func(t *testing.T) {
		s := summary(t, a, url.Values{"from_date": {"2026-11-20"}, "to_date": {"2026-11-20"}})
		if got := keys(s); !slices.Equal(got, []string{"2026-11-20"}) || s.Total.Count != 3 ||
			s.FromDate == nil || *s.FromDate != "2026-11-20" || s.ToDate == nil || *s.ToDate != "2026-11-20" {
			t.Errorf("one day = %v %+v", got, s)
		}
		s = summary(t, a, url.Values{"status": {"COMPLETED"}, "bank": {"BANESCO"}})
		if s.Total.tally != (tally{3, "10000000000000.29", 3}) {
			t.Errorf("completed at Banesco = %+v", s.Total)
		}
		if s := summary(t, b, url.Values{}); s.Total.tally != (tally{1, "5.00", 1}) {
			t.Errorf("b sees %+v, want only its own", s.Total)
		}
		if s := summary(t, e.admin, url.Values{}); s.Total.Count != 7 || s.Total.Amount != "10000000001345.28" {
			t.Errorf("admin sees %+v, want everyone's 7", s.Total)
		}
		if s := summary(t, a, url.Values{"from_date": {"2027-01-01"}}); len(s.Groups) != 0 || s.Total.tally != zero {
			t.Errorf("an empty range = %+v", s)
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		for _, tt := range []struct {
			query  url.Values
			fields []string
		}{
			{url.Values{"group_by": {"week"}}, []string{"group_by"}},
			{url.Values{"group_by": {"' OR 1=1 --"}}, []string{"group_by"}},
			{url.Values{"group_by": {"month"}, "from_date": {"today"}}, []string{"from_date", "group_by"}},
			{url.Values{"status": {"DONE"}}, []string{"status"}},
		} {
			e.do(t, http.MethodGet, "/api/v1/reports/summary?"+tt.query.Encode(), a.token, nil).
				wantErr(t, http.StatusUnprocessableEntity, "validation_failed", tt.fields...)
		}
	})

	t.Run("Postgres down", func(t *testing.T) {
		e2 := txSetup(t, nil)
		e2.storeDB.Close()
		e2.do(t, http.MethodGet, "/api/v1/reports/summary", e2.admin.token, nil).wantUnavailable(t)
	})
}

// exportCSV downloads an export and parses it as RFC 4180 (the reader is
// strict: a bare quote or a ragged row is an error).
func (e *txEnv) exportCSV(t *testing.T, who txAccount, q url.Values) (http.Header, [][]string) {
	t.Helper()
	resp := e.do(t, http.MethodGet, "/api/v1/transactions/export?"+q.Encode(), who.token, nil)
	resp.want(t, http.StatusOK)
	if !strings.Contains(string(resp.body), "\r\n") {
		t.Errorf("records are not CRLF-terminated")
	}
	rd := csv.NewReader(strings.NewReader(string(resp.body)))
	rows, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("the export is not valid CSV: %v", err)
	}
	return resp.header, rows
}

// TestTransactionExport: the CSV has a header row, one record per selected
// row in order, quoting that survives commas, quotes and newlines, cells a
// spreadsheet would run as formulas defused, amounts as decimal strings, times
// in RFC 3339 and the creation day in Caracas; it spans many batches without
// a repeated or missing row; a database outage before the first byte is a 503,
// and one mid-stream cuts the transfer instead of ending a short file cleanly.
func TestTransactionExport(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	b := e.newUser(t)
	ctx := context.Background()

	hostile := map[string]string{
		"formula":   `=HYPERLINK("http://evil.example","click")`,
		"plus":      "+58 412 cmd|' /C calc'!A0",
		"minus":     "-2+3",
		"at":        "@SUM(1,2)",
		"quotes":    `she said "pagado", twice`,
		"newline":   "line one\nline two, with a comma",
		"plain":     "Consulta médica",
		"apostroph": "'already quoted",
	}
	byConcept := map[string]txView{}
	for name, concept := range hostile {
		byConcept[name] = e.create(t, a, with(e.txBody(), "customer.concept", concept, "amount", "1240.50"))
	}
	noAmount := e.create(t, a, with(e.txBody(), "amount", txDelete))
	other := e.create(t, b, e.txBody())
	if _, err := e.db.ExecContext(ctx, `UPDATE transactions SET created_at = '2026-11-20T03:30:00Z' WHERE id = $1`, noAmount.ID); err != nil {
		t.Fatal(err)
	}

	t.Run("the caller's rows, quoted and defused", func(t *testing.T) {
		header, rows := e.exportCSV(t, a, url.Values{})
		if ct := header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		if cd := header.Get("Content-Disposition"); cd != `attachment; filename="transactions.csv"` {
			t.Errorf("Content-Disposition = %q", cd)
		}
		if cc := header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q (the export carries personal data)", cc)
		}
		if !slices.Equal(rows[0], transaction.ExportColumns) {
			t.Fatalf("header = %v", rows[0])
		}
		col := map[string]int{}
		for i, name := range rows[0] {
			col[name] = i
		}
		if len(rows) != 1+len(hostile)+1 {
			t.Fatalf("%d records, want %d of a's (b's must not appear)", len(rows)-1, len(hostile)+1)
		}
		got := map[string][]string{}
		var order []time.Time
		for _, rec := range rows[1:] {
			got[rec[col["transaction_id"]]] = rec
			at, err := time.Parse(time.RFC3339, rec[col["created_at"]])
			if err != nil {
				t.Errorf("created_at %q is not RFC 3339", rec[col["created_at"]])
			}
			order = append(order, at)
		}
		if !slices.IsSortedFunc(order, func(x, y time.Time) int { return x.Compare(y) }) {
			t.Errorf("records are not oldest first: %v", order)
		}
		if _, ok := got[other.TransactionID]; ok {
			t.Errorf("b's transaction is in a's export")
		}
		want := map[string]string{
			"formula": "'" + hostile["formula"], "plus": "'" + hostile["plus"], "minus": "'" + hostile["minus"],
			"at":     "'" + hostile["at"],
			"quotes": hostile["quotes"], "newline": hostile["newline"], "plain": hostile["plain"], "apostroph": hostile["apostroph"],
		}
		for name, v := range byConcept {
			rec := got[v.TransactionID]
			if rec == nil {
				t.Errorf("%s: not exported", name)
				continue
			}
			if rec[col["customer_concept"]] != want[name] {
				t.Errorf("%s: concept cell %q, want %q", name, rec[col["customer_concept"]], want[name])
			}
			if rec[col["amount"]] != "1240.50" || rec[col["status"]] != "IN_PROGRESS" || rec[col["id"]] != v.ID ||
				rec[col["customer_full_name"]] != v.Customer.FullName || rec[col["reference"]] != v.Reference {
				t.Errorf("%s: record %v", name, rec)
			}
		}
		rec := got[noAmount.TransactionID]
		if rec[col["amount"]] != "" || rec[col["created_on_caracas"]] != "2026-11-19" || rec[col["created_at"]] != "2026-11-20T03:30:00Z" ||
			rec[col["bank_details"]] != "" || rec[col["last_checked_at"]] != "" {
			t.Errorf("no-amount record %v: want an empty amount and the Caracas day 2026-11-19", rec)
		}
	})

	t.Run("filters, sort and the admin", func(t *testing.T) {
		header, rows := e.exportCSV(t, a, url.Values{"from_date": {"2026-11-19"}, "to_date": {"2026-11-19"}})
		if len(rows) != 2 || rows[1][1] != noAmount.TransactionID {
			t.Errorf("one-day export = %v", rows)
		}
		if cd := header.Get("Content-Disposition"); cd != `attachment; filename="transactions-2026-11-19-2026-11-19.csv"` {
			t.Errorf("Content-Disposition = %q", cd)
		}
		_, rows = e.exportCSV(t, a, url.Values{"sort": {"-created_at"}})
		if rows[len(rows)-1][1] != noAmount.TransactionID {
			t.Errorf("newest first: the oldest row is not last")
		}
		if _, rows = e.exportCSV(t, e.admin, url.Values{}); len(rows) != 1+len(hostile)+2 {
			t.Errorf("admin export has %d records, want everyone's %d", len(rows)-1, len(hostile)+2)
		}
		if _, rows = e.exportCSV(t, a, url.Values{"status": {"UNKNOWN"}}); len(rows) != 1 {
			t.Errorf("an empty export has %d rows, want the header alone", len(rows))
		}
		e.do(t, http.MethodGet, "/api/v1/transactions/export?status=DONE&sort=amount", a.token, nil).
			wantErr(t, http.StatusUnprocessableEntity, "validation_failed", "sort", "status")
	})

	t.Run("the id export is reserved", func(t *testing.T) {
		e.do(t, http.MethodPost, "/api/v1/transactions", a.token, with(e.txBody(), "transaction_id", "export")).
			wantErr(t, http.StatusUnprocessableEntity, "validation_failed", "transaction_id")
	})

	t.Run("many batches, every row once", func(t *testing.T) {
		c := e.newUser(t)
		const n = 2_345 // three batches of 1 000, the last one short
		if _, err := e.db.ExecContext(ctx, `INSERT INTO transactions (transaction_id, user_id, status, bank, reference,
				paid_on, customer_full_name, customer_phone, customer_national_id, request_hash, deadline_at, created_at)
			SELECT 'BULK-' || g, $1, 'COMPLETED', 'BANESCO', '2' || lpad(g::text, 11, '0'), DATE '2026-11-01', 'Ana Pérez',
				'04141234567', 'V12345678', '\x00', now(), TIMESTAMPTZ '2026-11-01 12:00:00Z' + (g / 7) * interval '1 second'
			FROM generate_series(1, $2) g`, c.id, n); err != nil {
			t.Fatal(err)
		}
		_, rows := e.exportCSV(t, c, url.Values{})
		seen := map[string]bool{}
		for _, rec := range rows[1:] {
			if seen[rec[1]] {
				t.Fatalf("%s exported twice", rec[1])
			}
			seen[rec[1]] = true
		}
		if len(seen) != n {
			t.Errorf("%d rows exported, want %d", len(seen), n)
		}
	})
}

// TestTransactionExportOutages: Postgres down before the reply is a JSON 503;
// down after the first batch cuts the transfer (no final chunk), so a client
// cannot take the partial file for the whole export, and the log says so.
func TestTransactionExportOutages(t *testing.T) {
	t.Parallel()
	t.Run("before the first byte", func(t *testing.T) {
		e := txSetup(t, nil)
		e.storeDB.Close()
		e.do(t, http.MethodGet, "/api/v1/transactions/export", e.admin.token, nil).wantUnavailable(t)
	})
	t.Run("mid-stream", func(t *testing.T) {
		e := txSetup(t, nil)
		a := e.newUser(t)
		// Six batches: however much of the first ones the sockets' buffers
		// hold before the pool closes, the export needs a query after it.
		const cutRows = 5_000
		if _, err := e.db.ExecContext(context.Background(), `INSERT INTO transactions (transaction_id, user_id, status, bank, reference,
				paid_on, customer_full_name, customer_phone, customer_national_id, customer_concept, request_hash, deadline_at)
			SELECT 'CUT-' || g, $1, 'COMPLETED', 'BANESCO', '3' || lpad(g::text, 11, '0'), DATE '2026-11-01', 'Ana Pérez',
				'04141234567', 'V12345678', repeat('x', 400), '\x00', now()
			FROM generate_series(1, $2) g`, a.id, cutRows); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/transactions/export", nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// The reply has started (the first batch is read); now the store's
		// pool goes away before the second batch.
		buf := make([]byte, 1024)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		e.storeDB.Close()
		rest, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("the export ended cleanly after %d bytes with the database gone; want a cut transfer", len(buf)+len(rest))
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "unexpected EOF") {
			t.Logf("read error: %v", err)
		}
		if lines := strings.Count(string(buf)+string(rest), "\r\n"); lines > cutRows {
			t.Errorf("%d lines arrived: the whole export, with the database gone", lines)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(e.logs.String(), "export cut short") {
			if time.Now().After(deadline) {
				t.Fatalf("no log line says the export was cut:\n%s", e.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		var entry map[string]any
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(line, "export cut short") {
				_ = json.Unmarshal([]byte(line), &entry)
			}
		}
		if rows, _ := entry["rows"].(float64); rows < 1000 || rows >= cutRows || int(rows)%1000 != 0 {
			t.Errorf("cut log = %v, want the rows of the batches sent before the cut", entry)
		}
	})
}

// TestTransactionExportsAreCapped: four exports that the clients do not read
// hold their slots; a fifth is 429 with Retry-After and starts nothing; once
// the clients hang up, the slots come back.
func TestTransactionExportsAreCapped(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	// 10 kB a row: a first batch of 10 MB, more than the sockets buffer, so
	// an unread export blocks with its slot held.
	if _, err := e.db.ExecContext(context.Background(), `INSERT INTO transactions (transaction_id, user_id, status, bank, reference,
			paid_on, customer_full_name, customer_phone, customer_national_id, status_reason, request_hash, deadline_at)
		SELECT 'CAP-' || g, $1, 'TO_REVIEW', 'BANESCO', '5' || lpad(g::text, 11, '0'), DATE '2026-11-01', 'Ana Pérez',
			'04141234567', 'V12345678', repeat('r', 10000), '\x00', now()
		FROM generate_series(1, 1500) g`, a.id); err != nil {
		t.Fatal(err)
	}
	open := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/transactions/export", nil)
		req.Header.Set("Authorization", "Bearer "+a.token)
		return (&http.Client{Transport: &http.Transport{}}).Do(req)
	}
	var held []*http.Response
	for range transaction.MaxConcurrentExports {
		resp, err := open()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("export: %v %v", resp, err)
		}
		held = append(held, resp)
	}
	before := strings.Count(e.logs.String(), "export done")
	resp, err := open()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"rate_limited"`) {
		t.Fatalf("fifth export: %d %s (Retry-After %q), want 429 rate_limited", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	for _, r := range held {
		r.Body.Close()
	}
	// The slots come back once the streams notice the hang-up.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n < 1500*10000 {
				t.Errorf("export after the hang-ups: %d bytes, %v", n, err)
			}
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no export slot came back after the clients hung up (last status %d)", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := strings.Count(e.logs.String(), "export done"); got != before+1 {
		t.Errorf("%d exports finished, want only the last one (the hung-up ones were cut)", got-before)
	}
}
