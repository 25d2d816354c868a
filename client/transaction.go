package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

func txPath(transactionID string) string {
	return "/api/v1/transactions/" + url.PathEscape(transactionID)
}

// CreateTransaction records a payment to verify; its first bank check starts at
// once. It is idempotent by TransactionID, so the client retries it after 429
// and 503, and resending it yourself is safe: Created.Replayed says the
// server already had it. Errors: CodeValidationFailed (Fields names the fields),
// CodeTransactionIDConflict (the id was used with another body),
// CodeDuplicateReference (the reference and type exist under another id).
func (c *Client) CreateTransaction(ctx context.Context, req CreateTransaction) (Created, error) {
	var out Created
	rep, err := c.do(ctx, call{method: http.MethodPost, path: "/api/v1/transactions", body: req,
		out: &out.Transaction, auth: true, retryable: true})
	if err != nil {
		return Created{}, err
	}
	out.Replayed = rep.header.Get("Idempotent-Replayed") == "true"
	return out, nil
}

// Transaction returns one transaction by your id (CodeNotFound when it does not
// exist or is not yours).
func (c *Client) Transaction(ctx context.Context, transactionID string) (Transaction, error) {
	var t Transaction
	_, err := c.do(ctx, call{method: http.MethodGet, path: txPath(transactionID), out: &t, auth: true, retryable: true})
	return t, err
}

// Status returns the small polling view of a transaction.
func (c *Client) Status(ctx context.Context, transactionID string) (Status, error) {
	var s Status
	_, err := c.do(ctx, call{method: http.MethodGet, path: txPath(transactionID) + "/status", out: &s, auth: true, retryable: true})
	return s, err
}

// Events returns a transaction's history, oldest first.
func (c *Client) Events(ctx context.Context, transactionID string) ([]Event, error) {
	var out struct {
		Items []Event `json:"items"`
	}
	_, err := c.do(ctx, call{method: http.MethodGet, path: txPath(transactionID) + "/events", out: &out, auth: true, retryable: true})
	return out.Items, err
}

// ListTransactions returns a filtered, counted page (newest first unless
// o.Sort says otherwise). Deep pages are slower; walk a whole listing with
// ListTransactionsAfter or EachTransaction instead.
func (c *Client) ListTransactions(ctx context.Context, o ListOptions) (Page[Transaction], error) {
	q := o.filters()
	var p Page[Transaction]
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/transactions", query: pageQuery(q, o.Page, o.Size),
		out: &p, auth: true, retryable: true})
	return p, err
}

// filters are the query parameters the list, the export and the summary share.
func (o ListOptions) filters() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", string(o.Status))
	set("bank", string(o.Bank))
	set("transaction_type", string(o.TransactionType))
	set("reference", o.Reference)
	set("phone", o.Phone)
	set("national_id", o.NationalID)
	set("from_date", o.FromDate)
	set("to_date", o.ToDate)
	set("sort", string(o.Sort))
	return q
}

// ListTransactionsAfter returns the keyset page after cursor ("" for the
// first) of up to limit transactions (1..100; 0 means the server's 20). Every
// page costs the server the same at any depth, and transactions created
// meanwhile do not shift the pages. o.Page and o.Size must be zero.
func (c *Client) ListTransactionsAfter(ctx context.Context, o ListOptions, cursor string, limit int) (CursorPage[Transaction], error) {
	q := o.filters()
	q.Set("limit", strconv.Itoa(20))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p CursorPage[Transaction]
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/api/v1/transactions", query: q, out: &p, auth: true, retryable: true})
	return p, err
}

// EachTransaction calls fn for every transaction the options select, in
// order, page by page (100 at a time); an error from fn stops the walk and is
// returned.
func (c *Client) EachTransaction(ctx context.Context, o ListOptions, fn func(Transaction) error) error {
	cursor := ""
	for {
		p, err := c.ListTransactionsAfter(ctx, o, cursor, 100)
		if err != nil {
			return err
		}
		for _, t := range p.Items {
			if err := fn(t); err != nil {
				return err
			}
		}
		if p.NextCursor == nil {
			return nil
		}
		cursor = *p.NextCursor
	}
}

// Verify asks for a bank check as soon as the bank's limits allow and returns
// when it will happen. Only IN_PROGRESS transactions are checked
// (CodeInvalidTransition otherwise).
func (c *Client) Verify(ctx context.Context, transactionID string) (time.Time, error) {
	var out struct {
		NextCheckAt time.Time `json:"next_check_at"`
	}
	_, err := c.do(ctx, call{method: http.MethodPost, path: txPath(transactionID) + "/verify", out: &out, auth: true})
	return out.NextCheckAt, err
}

// PatchTransaction settles (COMPLETED) or cancels (CANCELED) a transaction by
// hand (transaction:update); CodeInvalidTransition when its status does not
// allow it.
func (c *Client) PatchTransaction(ctx context.Context, transactionID string, p Patch) (Transaction, error) {
	var t Transaction
	_, err := c.do(ctx, call{method: http.MethodPatch, path: txPath(transactionID), body: p, out: &t, auth: true})
	return t, err
}

// DeleteTransaction soft-deletes a transaction (transaction:delete).
func (c *Client) DeleteTransaction(ctx context.Context, transactionID string) error {
	_, err := c.do(ctx, call{method: http.MethodDelete, path: txPath(transactionID), auth: true, retryable: true})
	return err
}

func pageQuery(q url.Values, page, size int) url.Values {
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if size > 0 {
		q.Set("size", strconv.Itoa(size))
	}
	return q
}
