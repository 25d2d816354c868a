package transaction

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// The reconciliation export (GET /api/v1/transactions/export): the rows the
// list's filters select, as RFC 4180 CSV, streamed.
//
// It reads keyset pages of exportBatch rows (the list's own query and
// indexes) and writes each as it comes, so memory stays flat however many rows
// match, and no Postgres connection or snapshot is held while a slow client
// downloads: each batch is its own short query. Rows that change while the
// export runs appear as they were when their batch was read.

const (
	exportBatch = 1000
	// exportIdleTimeout bounds how long the client may leave the stream
	// unread: the server's write timeout (30 s for the whole reply) would cut
	// a large export, so each write pushes the deadline on instead.
	exportIdleTimeout  = 60 * time.Second
	exportBatchTimeout = 30 * time.Second
	// MaxConcurrentExports per API process; more get 429 (each export walks
	// the table in a goroutine of its own).
	MaxConcurrentExports = 4
)

// ExportColumns is the CSV header row.
var ExportColumns = []string{"id", "transaction_id", "status", "bank", "transaction_type", "reference", "amount",
	"payer_bank_code", "paid_on", "customer_full_name", "customer_phone", "customer_national_id", "customer_concept",
	"attempts", "status_reason", "last_checked_at", "created_at", "created_on_caracas", "updated_at", "bank_details"}

// exportRecord is the CSV row of t: amounts as decimal strings, times in RFC
// 3339 UTC plus the Venezuelan day of creation, empty cells for nulls.
func exportRecord(t Transaction) []string {
	opt := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	v := t.View()
	when := func(p *time.Time) string {
		if p == nil {
			return ""
		}
		return p.Format(time.RFC3339)
	}
	details := ""
	if v.BankDetails != nil {
		details = string(*v.BankDetails)
	}
	rec := []string{v.ID, v.TransactionID, string(v.Status), v.Bank, v.TransactionType, v.Reference, opt(v.Amount),
		v.PayerBankCode, v.PaidOn, v.Customer.FullName, v.Customer.Phone, v.Customer.NationalID, opt(v.Customer.Concept),
		strconv.Itoa(v.Attempts), opt(v.StatusReason), when(v.LastCheckedAt), v.CreatedAt.Format(time.RFC3339),
		t.CreatedAt.In(Caracas).Format(time.DateOnly), v.UpdatedAt.Format(time.RFC3339), details}
	for i, cell := range rec {
		rec[i] = defuseCell(cell)
	}
	return rec
}

// defuseCell keeps a spreadsheet from reading a cell as a formula (CSV
// injection, OWASP): a cell that starts with = + - @, a tab or a carriage
// return gets a leading apostrophe, which spreadsheets show as text. Only the
// free-text cells (the concept, a reason) can start so; amounts are positive
// and ids, dates and phones start with a letter or digit.
func defuseCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Export answers GET /api/v1/transactions/export.
func (h *Handler) Export(c *fiber.Ctx) error {
	f, err := parseFilter(c)
	if err != nil {
		return err
	}
	if c.Query("sort") == "" {
		f.Oldest = true // a statement reads oldest first
	}
	f.OwnerID = owner(c)
	select {
	case h.exports <- struct{}{}:
	default:
		return &httpserver.Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many exports are running; try again shortly", RetryAfter: 5 * time.Second}
	}
	// The first batch is read before the reply starts, so a database outage
	// is still a 503 with a JSON body; later failures can only cut the stream.
	f.Limit = exportBatch
	first, err := h.store.Page(c.UserContext(), f)
	if err != nil {
		<-h.exports
		return err
	}
	name := "transactions"
	for _, q := range []string{"from_date", "to_date"} {
		if v := c.Query(q); v != "" {
			name += "-" + v
		}
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.csv"`)
	c.Set(fiber.HeaderCacheControl, "no-store")

	pr, pw := io.Pipe()
	conn := c.Context().Conn()
	log := h.log.With().Str("request_id", httpserver.RequestID(c)).Logger()
	// The handler returns before the body is written; the stream must not
	// touch c, and its context ends when the client stops reading (fasthttp
	// closes the reader).
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer func() { <-h.exports }()
		defer cancel()
		rows, err := h.writeExport(ctx, &deadlineWriter{w: pw, conn: conn}, f, first)
		if err != nil {
			// Closing the pipe with an error makes fasthttp end the reply
			// without its last chunk: the client sees a cut transfer, never a
			// short file that looks complete.
			log.Warn().Err(err).Int("rows", rows).Msg("export cut short")
			pw.CloseWithError(err)
			return
		}
		log.Info().Int("rows", rows).Msg("export done")
		pw.Close()
	}()
	c.Context().Response.SetBodyStream(&cancelOnClose{Reader: pr, cancel: cancel}, -1)
	return nil
}

// writeExport writes the header row, then batch after batch until the filter
// has no more rows.
func (h *Handler) writeExport(ctx context.Context, out io.Writer, f Filter, batch []Transaction) (rows int, err error) {
	w := csv.NewWriter(out) // RFC 4180: quotes where needed, "" inside quotes
	w.UseCRLF = true
	if err := w.Write(ExportColumns); err != nil {
		return 0, err
	}
	for {
		for _, t := range batch {
			if err := w.Write(exportRecord(t)); err != nil {
				return rows, err
			}
		}
		rows += len(batch)
		if len(batch) < f.Limit {
			break
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return rows, err
		}
		f.After = PositionOf(batch[len(batch)-1])
		// A batch is one short indexed read; a database that does not answer
		// in exportBatchTimeout ends the export instead of holding its slot.
		bctx, cancel := context.WithTimeout(ctx, exportBatchTimeout)
		batch, err = h.store.Page(bctx, f)
		cancel()
		if err != nil {
			return rows, fmt.Errorf("export: next batch after %d rows: %w", rows, err)
		}
	}
	w.Flush()
	return rows, w.Error()
}

// deadlineWriter pushes the connection's write deadline on before each write.
type deadlineWriter struct {
	w    io.Writer
	conn net.Conn
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	if d.conn != nil {
		_ = d.conn.SetWriteDeadline(time.Now().Add(exportIdleTimeout))
	}
	return d.w.Write(p)
}

// cancelOnClose is the body stream fasthttp reads and closes when the reply
// is done or the client went away; closing stops the export's goroutine.
type cancelOnClose struct {
	Reader *io.PipeReader
	cancel context.CancelFunc
}

func (r *cancelOnClose) Read(p []byte) (int, error) { return r.Reader.Read(p) }

func (r *cancelOnClose) Close() error {
	r.cancel()
	return r.Reader.CloseWithError(errClientGone)
}

var errClientGone = errors.New("export: the client stopped reading")
