package transaction

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// Checks is what the handlers need from the verification queue (implemented by
// queue.Scheduler over Asynq).
type Checks interface {
	// Enqueue schedules the routine check of a new transaction at `at`.
	Enqueue(ctx context.Context, id, requestID string, at time.Time) error
	// CheckNow moves the pending check to the earliest time the bank limits
	// allow and returns that time.
	CheckNow(ctx context.Context, t Transaction, requestID string) (time.Time, error)
	// Cancel removes the pending check, if any.
	Cancel(ctx context.Context, ref TaskRef) error
}

// Handler serves the Transactions routes.
type Handler struct {
	store    *Store
	checks   Checks
	deadline func(bank string) time.Duration
	log      zerolog.Logger
	now      func() time.Time
	exports  chan struct{} // a slot per running export (MaxConcurrentExports)
}

// NewHandler returns the Transactions handlers; deadline gives VERIFY_DEADLINE
// for a bank (config.Config.DeadlineFor).
func NewHandler(store *Store, checks Checks, deadline func(bank string) time.Duration, log zerolog.Logger) *Handler {
	return &Handler{store: store, checks: checks, deadline: deadline, log: log, now: time.Now,
		exports: make(chan struct{}, MaxConcurrentExports)}
}

// owner is the owner filter of the caller: admins see everything.
func owner(c *fiber.Ctx) string {
	p := auth.PrincipalOf(c)
	if p.IsAdmin() {
		return ""
	}
	return p.UserID
}

func mapErr(err error) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return httpserver.NewError(fiber.StatusNotFound, "not_found", "no such transaction")
	case errors.Is(err, ErrIDConflict):
		return &httpserver.Error{Status: fiber.StatusConflict, Code: "transaction_id_conflict",
			Message: "this transaction_id is already taken (by a different request body, or by a deleted transaction)", Fields: map[string]string{"transaction_id": "already used"}}
	case errors.Is(err, ErrDuplicateReference):
		return &httpserver.Error{Status: fiber.StatusConflict, Code: "duplicate_reference",
			Message: "a transaction with this reference and type already exists", Fields: map[string]string{"reference": "already recorded"}}
	}
	return err
}

// Create records a payment to verify (POST /api/v1/transactions).
func (h *Handler) Create(c *fiber.Ctx) error {
	var req CreateRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	n, fields := req.Validate(h.now())
	if fields != nil {
		return httpserver.Validation(fields)
	}
	reqID := httpserver.RequestID(c)
	ctx := c.UserContext()
	t, replayed, err := h.store.Create(ctx, auth.PrincipalOf(c).UserID, n, h.deadline(n.Bank), reqID)
	if err != nil {
		return mapErr(err)
	}
	c.Location("/api/v1/transactions/" + t.TransactionID)
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		return c.JSON(t.View())
	}
	if err := h.checks.Enqueue(ctx, t.ID, reqID, t.NextCheckAt.Time); err != nil {
		// The row is committed; the sweeper enqueues overdue transactions, so the
		// client's request succeeded and the check only starts a little later.
		h.log.Warn().Err(err).Str("transaction", t.ID).Msg("enqueue failed; the sweeper will retry")
	}
	return c.Status(fiber.StatusCreated).JSON(t.View())
}

func (h *Handler) load(c *fiber.Ctx) (Transaction, error) {
	t, err := h.store.Get(c.UserContext(), strings.Clone(c.Params("transaction_id")), owner(c))
	return t, mapErr(err)
}

// Get returns one transaction (GET /api/v1/transactions/{transaction_id}).
func (h *Handler) Get(c *fiber.Ctx) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	return c.JSON(t.View())
}

// Status returns the polling view (GET …/status).
func (h *Handler) Status(c *fiber.Ctx) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	v := t.View()
	return c.JSON(StatusView{TransactionID: v.TransactionID, Status: v.Status, Attempts: v.Attempts,
		LastCheckedAt: v.LastCheckedAt, NextCheckAt: v.NextCheckAt, UpdatedAt: v.UpdatedAt})
}

// Events returns the history, oldest first (GET …/events).
func (h *Handler) Events(c *fiber.Ctx) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	events, err := h.store.Events(c.UserContext(), t.ID)
	if err != nil {
		return err
	}
	if !auth.PrincipalOf(c).IsAdmin() {
		// Which movement a check found and which transaction holds it is for
		// admins: an owner whose claim was refused learns only the reason.
		events = StripRestricted(events)
	}
	return c.JSON(fiber.Map{"items": events})
}

// Verify asks for a check as soon as the bank limits allow (POST …/verify).
func (h *Handler) Verify(c *fiber.Ctx) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	if t.Status.Final() {
		return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "the transaction is "+string(t.Status)+"; final transactions are not checked again")
	}
	// TO_REVIEW or UNKNOWN: a person asks for another look at the bank (the
	// payment arrived late, the data was corrected at the bank…).
	at, _, err := h.store.CheckNow(c.UserContext(), h.checks, t, h.deadline(t.Bank), auth.PrincipalOf(c).UserID, httpserver.RequestID(c))
	switch {
	case errors.Is(err, ErrNextCheckNotRecorded):
		// The check is queued; only the next_check_at clients read is stale.
		h.log.Warn().Err(err).Str("transaction", t.ID).Msg("record the moved check")
	case errors.Is(err, ErrInvalidTransition):
		return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "the transaction changed meanwhile; read it again")
	case err != nil:
		return mapErr(err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"next_check_at": at.UTC()})
}

type patchRequest struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	// ReleaseClaim, with CANCELED, frees the bank movement the transaction
	// holds so that another transaction may be confirmed by it.
	ReleaseClaim bool `json:"release_claim"`
}

// Patch settles or cancels by hand (PATCH /api/v1/transactions/{transaction_id}).
func (h *Handler) Patch(c *fiber.Ctx) error {
	var req patchRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	to := Status(req.Status)
	if to != StatusCompleted && to != StatusCanceled {
		return httpserver.Validation(map[string]string{"status": "must be COMPLETED or CANCELED"})
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if len([]rune(req.Reason)) > 500 {
		return httpserver.Validation(map[string]string{"reason": "must be at most 500 characters"})
	}
	if req.ReleaseClaim && to != StatusCanceled {
		return httpserver.Validation(map[string]string{"release_claim": "only with status CANCELED"})
	}
	t, err := h.load(c)
	if err != nil {
		return err
	}
	if t.Status == StatusCanceled && to == StatusCanceled && req.ReleaseClaim {
		// Cancelled earlier without releasing; a reviewer frees the movement now.
		err := h.store.ReleaseClaims(c.UserContext(), t.ID, auth.PrincipalOf(c).UserID, httpserver.RequestID(c))
		switch {
		case errors.Is(err, ErrNoClaim):
			return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "the transaction is CANCELED and holds no bank movement to release")
		case errors.Is(err, ErrInvalidTransition):
			return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "the transaction changed meanwhile; read it again")
		case err != nil:
			return mapErr(err)
		}
		if t, err = h.store.ByID(c.UserContext(), t.ID); err != nil {
			return err
		}
		return c.JSON(t.View())
	}
	var from []Status
	switch {
	case to == StatusCompleted:
		from = []Status{StatusToReview, StatusUnknown}
	case t.Status == StatusCompleted:
		// A reviewer reverses a confirmation (a payment that confirmed the
		// wrong claim). Allowed only when the caller saw it COMPLETED, so a
		// client cancelling an IN_PROGRESS transaction never reverses a
		// confirmation that landed in the meantime; and only with a reason.
		if req.Reason == "" {
			return httpserver.Validation(map[string]string{"reason": "required to cancel a COMPLETED transaction"})
		}
		from = []Status{StatusCompleted}
	default:
		from = []Status{StatusToReview, StatusUnknown, StatusInProgress}
	}
	ctx := c.UserContext()
	meta := map[string]any{"request_id": httpserver.RequestID(c)}
	if req.ReleaseClaim {
		meta["release_claim"] = true
	}
	old, err := h.store.Transition(ctx, Change{ID: t.ID, From: from, To: to, Reason: req.Reason, ActorType: ActorUser,
		ActorID: auth.PrincipalOf(c).UserID, Metadata: meta, ReleaseClaim: req.ReleaseClaim})
	if errors.Is(err, ErrInvalidTransition) {
		return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "cannot change "+string(old)+" to "+string(to))
	}
	if err != nil {
		return mapErr(err)
	}
	if old == StatusInProgress {
		if err := h.checks.Cancel(ctx, t.Task()); err != nil {
			// The worker skips transactions that are no longer IN_PROGRESS, so a
			// leftover task is harmless.
			h.log.Warn().Err(err).Str("transaction", t.ID).Msg("remove pending check")
		}
	}
	t, err = h.store.ByID(ctx, t.ID)
	if err != nil {
		return err
	}
	return c.JSON(t.View())
}

// Delete soft-deletes (DELETE /api/v1/transactions/{transaction_id}).
func (h *Handler) Delete(c *fiber.Ctx) error {
	t, err := h.load(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := h.store.SoftDelete(ctx, t.ID, auth.PrincipalOf(c).UserID); err != nil {
		return mapErr(err)
	}
	if err := h.checks.Cancel(ctx, t.Task()); err != nil {
		h.log.Warn().Err(err).Str("transaction", t.ID).Msg("remove pending check")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// List returns a filtered page, newest first (GET /api/v1/transactions).
func (h *Handler) List(c *fiber.Ctx) error {
	f, ferr := parseFilter(c)
	f.OwnerID = owner(c)
	if keysetRequested(c) {
		return h.listKeyset(c, f, ferr)
	}
	page, size, perr := httpserver.PageParams(c)
	if err := httpserver.MergeValidation(perr, ferr); err != nil {
		return err
	}
	f.Limit, f.Offset = size, (page-1)*size
	items, total, estimated, err := h.store.List(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(listPage{Page: httpserver.NewPage(views(items), total, page, size), TotalEstimated: estimated})
}

// keysetRequested: ?cursor or ?limit asks for the keyset envelope
// {items, next_cursor}; page/size keep the counted page of older clients.
func keysetRequested(c *fiber.Ctx) bool {
	return c.Query("cursor") != "" || c.Query("limit") != ""
}

// listKeyset answers one keyset page: limit+1 rows are read, and the extra one
// only says whether there is a next page. No count: counting is what an
// OFFSET listing pays on every page.
func (h *Handler) listKeyset(c *fiber.Ctx, f Filter, ferr error) error {
	if c.Query("page") != "" || c.Query("size") != "" {
		return httpserver.Validation(map[string]string{"cursor": "cursor and limit do not combine with page and size; use one or the other"})
	}
	limit, lerr := httpserver.LimitParam(c)
	var cerr error
	if cur := c.Query("cursor"); cur != "" {
		f.After, cerr = decodeListCursor(cur, f.Oldest)
	}
	if err := httpserver.MergeValidation(ferr, lerr, cerr); err != nil {
		return err
	}
	f.Limit = limit + 1
	items, err := h.store.Page(c.UserContext(), f)
	if err != nil {
		return err
	}
	var next *string
	if len(items) > limit {
		items = items[:limit]
		cur := encodeListCursor(PositionOf(items[len(items)-1]), f.Oldest)
		next = &cur
	}
	return c.JSON(httpserver.NewCursors(views(items), next))
}

func views(items []Transaction) []View {
	out := make([]View, len(items))
	for i, t := range items {
		out[i] = t.View()
	}
	return out
}

// sortName is the ?sort value a cursor was issued for: a cursor continues
// only the order it was taken in.
func sortName(oldest bool) string {
	if oldest {
		return "created_at"
	}
	return "-created_at"
}

// ListCursor is the cursor the list answers for a page ending at p (the bench
// builds deep cursors with it instead of walking to them).
func ListCursor(p *Position, oldest bool) string { return encodeListCursor(p, oldest) }

func encodeListCursor(p *Position, oldest bool) string {
	return httpserver.EncodeCursor(sortName(oldest), httpserver.CursorTime(p.CreatedAt), p.ID)
}

func decodeListCursor(token string, oldest bool) (*Position, error) {
	parts, err := httpserver.DecodeCursor(token, 3)
	if err != nil {
		return nil, err
	}
	if parts[0] != sortName(oldest) || uuid.Validate(parts[2]) != nil || len(parts[2]) != 36 {
		return nil, httpserver.ErrBadCursor
	}
	at, err := httpserver.ParseCursorTime(parts[1])
	if err != nil {
		return nil, err
	}
	return &Position{CreatedAt: at, ID: parts[2]}, nil
}

// listPage is the page envelope; past 10 000 matches total is Postgres's
// estimate and total_estimated says so.
type listPage struct {
	httpserver.Page[View]
	TotalEstimated bool `json:"total_estimated,omitempty"`
}

// parseFilter validates the enum and date filters (422 naming the parameter) and
// passes text filters through as literal values: a reference or phone with
// quotes simply matches nothing.
func parseFilter(c *fiber.Ctx) (Filter, error) {
	fields := map[string]string{}
	q := func(name string) string { return strings.Clone(c.Query(name)) }
	f := Filter{Status: q("status"), Bank: q("bank"), TransactionType: q("transaction_type"),
		Reference: q("reference"), Phone: q("phone"), NationalID: strings.ToUpper(q("national_id"))}
	switch Status(f.Status) {
	case "", StatusInProgress, StatusCompleted, StatusCanceled, StatusToReview, StatusUnknown:
	default:
		fields["status"] = "must be IN_PROGRESS, COMPLETED, CANCELED, TO_REVIEW or UNKNOWN"
	}
	switch c.Query("sort") {
	case "", "-created_at":
	case "created_at":
		f.Oldest = true
	default:
		fields["sort"] = "must be created_at (oldest first) or -created_at (newest first)"
	}
	switch f.Bank {
	case "", BankBanesco, BankMobileTransfer:
	default:
		fields["bank"] = "must be BANESCO or MOBILE_TRANSFER"
	}
	switch f.TransactionType {
	case "", "TRANSACTION", "COMMISSION", "OTHER":
	default:
		fields["transaction_type"] = "must be TRANSACTION, COMMISSION or OTHER"
	}
	for name, v := range map[string]string{"reference": f.Reference, "phone": f.Phone, "national_id": f.NationalID} {
		if len(v) > 100 {
			fields[name] = "must be at most 100 characters"
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
		add  int
	}{{"from_date", &f.From, 0}, {"to_date", &f.To, 1}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		d, err := time.ParseInLocation(time.DateOnly, v, Caracas)
		if err != nil {
			fields[p.name] = "must be a date YYYY-MM-DD"
			continue
		}
		*p.dst = d.AddDate(0, 0, p.add)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		fields["to_date"] = "must not be before from_date"
	}
	if len(fields) > 0 {
		return Filter{}, httpserver.Validation(fields)
	}
	return f, nil
}
