package clienttest_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/banesco-verifier/verifier/client"
)

// TestClientListsAndReports: the client walks a listing by cursor, reads the
// reconciliation summary and streams the CSV export, every exchange checked
// against openapi.yaml.
func TestClientListsAndReports(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	ctx := ctxT(t)
	c, _ := e.newUser(t)
	var ids []string
	for i := range 7 {
		req := order(fmt.Sprintf("REP-%d", i), fmt.Sprintf("0004444%05d", i))
		if i == 3 {
			req.Customer.Concept = `=HYPERLINK("http://evil.example","x")`
		}
		tx, err := c.CreateTransaction(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tx.TransactionID)
	}

	// Cursor pages, oldest first, 3 at a time: 3 + 3 + 1.
	var walked []string
	cursor, pages := "", 0
	for {
		p, err := c.ListTransactionsAfter(ctx, client.ListOptions{Sort: client.SortOldestFirst}, cursor, 3)
		if err != nil {
			t.Fatalf("ListTransactionsAfter: %v", err)
		}
		pages++
		for _, tx := range p.Items {
			walked = append(walked, tx.TransactionID)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if strings.Join(walked, ",") != strings.Join(ids, ",") || pages != 3 {
		t.Errorf("walked %v in %d pages, want %v in 3", walked, pages, ids)
	}
	var each []string
	if err := c.EachTransaction(ctx, client.ListOptions{}, func(tx client.Transaction) error {
		each = append(each, tx.TransactionID)
		return nil
	}); err != nil || len(each) != 7 || each[0] != ids[6] {
		t.Errorf("EachTransaction = %v, %v; want all 7, newest first", each, err)
	}
	_, err := c.ListTransactionsAfter(ctx, client.ListOptions{}, "not-a-cursor", 3)
	if apiErr := wantAPIError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed); apiErr.Fields["cursor"] == "" {
		t.Errorf("bad cursor fields = %v", apiErr.Fields)
	}

	s, err := c.Summary(ctx, client.GroupByStatus, client.ListOptions{})
	if err != nil {
		t.Fatalf("Summary: %v", err)
	}
	if len(s.Groups) != 1 || s.Groups[0].Key != "IN_PROGRESS" || s.Total.Count != 7 || s.Total.Amount != "8680.00" ||
		s.Total.ByStatus[client.StatusInProgress].Amount != "8680.00" || s.Total.ByStatus[client.StatusCompleted].Count != 0 {
		t.Errorf("summary = %+v", s)
	}

	var buf bytes.Buffer
	n, err := c.ExportTransactions(ctx, client.ListOptions{}, &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("ExportTransactions = %d, %v (buffer %d)", n, err, buf.Len())
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 8 {
		t.Fatalf("export: %d rows, %v", len(rows), err)
	}
	if rows[1][1] != ids[0] || rows[4][12] != `'=HYPERLINK("http://evil.example","x")` {
		t.Errorf("export rows = %v", rows)
	}
}
