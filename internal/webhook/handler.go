package webhook

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// rotationOverlap is how long the old secret keeps signing after a rotation.
const rotationOverlap = 24 * time.Hour

// Handler serves the webhook routes and the events feed.
type Handler struct {
	store    *Store
	sealer   *Sealer
	guard    Guard
	enqueuer *Enqueuer
	log      zerolog.Logger
	now      func() time.Time
}

// NewHandler wires the routes.
func NewHandler(store *Store, sealer *Sealer, guard Guard, enqueuer *Enqueuer, log zerolog.Logger) *Handler {
	return &Handler{store: store, sealer: sealer, guard: guard, enqueuer: enqueuer, log: log, now: time.Now}
}

func owner(c *fiber.Ctx) string {
	p := auth.PrincipalOf(c)
	if p.IsAdmin() {
		return ""
	}
	return p.UserID
}

// EndpointWithSecret is the reply of create and rotate: the secret is shown
// only there.
type EndpointWithSecret struct {
	Endpoint
	Secret string `json:"secret"`
}

type createRequest struct {
	URL         string    `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
}

type patchRequest struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Enabled     *bool     `json:"enabled"`
}

func notFound() error {
	return httpserver.NewError(fiber.StatusNotFound, "not_found", "no such webhook endpoint")
}

func mapErr(err error) error {
	if errors.Is(err, ErrNotFound) {
		return notFound()
	}
	return err
}

// checkFields validates what create and update share.
func (h *Handler) checkFields(ctx context.Context, url, description *string, types *[]string) (map[string]string, []string) {
	fields := map[string]string{}
	if url != nil {
		if _, err := h.guard.CheckURL(ctx, *url); err != nil {
			fields["url"] = strings.TrimPrefix(err.Error(), ErrTargetRefused.Error()+": ")
		}
	}
	if description != nil && len([]rune(*description)) > 500 {
		fields["description"] = "must be at most 500 characters"
	}
	var clean []string
	if types != nil {
		for _, t := range *types {
			if !slices.Contains(EventTypes, t) {
				fields["event_types"] = "unknown event type " + strconvQuote(t) + "; want some of " + strings.Join(EventTypes, ", ")
				break
			}
			if !slices.Contains(clean, t) {
				clean = append(clean, t)
			}
		}
	}
	if len(fields) == 0 {
		return nil, clean
	}
	return fields, clean
}

func strconvQuote(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strconv.Quote(s)
}

// Create registers an endpoint (POST /api/v1/webhooks).
func (h *Handler) Create(c *fiber.Ctx) error {
	var req createRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	fields, types := h.checkFields(c.UserContext(), &req.URL, req.Description, req.EventTypes)
	if req.URL == "" {
		fields = map[string]string{"url": "required"}
	}
	if fields != nil {
		return httpserver.Validation(fields)
	}
	desc := ""
	if req.Description != nil {
		desc = *req.Description
	}
	if types == nil {
		types = []string{}
	}
	secret := NewSecret()
	e, err := h.store.CreateEndpoint(c.UserContext(), auth.PrincipalOf(c).UserID, strings.TrimSpace(req.URL), desc, types, h.sealer.Seal(secret))
	if err != nil {
		return err
	}
	c.Location("/api/v1/webhooks/" + e.ID)
	return c.Status(fiber.StatusCreated).JSON(EndpointWithSecret{Endpoint: e, Secret: secret})
}

// List returns the caller's endpoints (admins: all), oldest first.
func (h *Handler) List(c *fiber.Ctx) error {
	limit, err := httpserver.LimitParam(c)
	if err != nil {
		return err
	}
	var after *time.Time
	afterID := ""
	if cur := c.Query("cursor"); cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		ts, id, ok := strings.Cut(string(raw), "|")
		t, perr := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !ok || perr != nil || !isUUID(id) {
			return httpserver.Validation(map[string]string{"cursor": "not a cursor this API gave"})
		}
		after, afterID = &t, id
	}
	items, err := h.store.Endpoints(c.UserContext(), owner(c), after, afterID, limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(items) > limit {
		items = items[:limit]
		last := items[len(items)-1]
		cur := base64.RawURLEncoding.EncodeToString([]byte(last.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + last.ID))
		next = &cur
	}
	return c.JSON(fiber.Map{"items": items, "next_cursor": next})
}

// Get returns one endpoint.
func (h *Handler) Get(c *fiber.Ctx) error {
	e, err := h.store.Endpoint(c.UserContext(), c.Params("id"), owner(c))
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(e)
}

// Patch changes url, description, event_types or enabled.
func (h *Handler) Patch(c *fiber.Ctx) error {
	var req patchRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if _, err := h.store.Endpoint(c.UserContext(), c.Params("id"), owner(c)); err != nil {
		return mapErr(err)
	}
	fields, types := h.checkFields(c.UserContext(), req.URL, req.Description, req.EventTypes)
	if fields != nil {
		return httpserver.Validation(fields)
	}
	p := EndpointPatch{URL: req.URL, Description: req.Description, Enabled: req.Enabled}
	if req.EventTypes != nil {
		if types == nil {
			types = []string{}
		}
		p.EventTypes = &types
	}
	e, err := h.store.UpdateEndpoint(c.UserContext(), c.Params("id"), owner(c), p)
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(e)
}

// Delete removes an endpoint; its pending deliveries fail.
func (h *Handler) Delete(c *fiber.Ctx) error {
	if err := h.store.DeleteEndpoint(c.UserContext(), c.Params("id"), owner(c)); err != nil {
		return mapErr(err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Rotate issues a new secret; the old one keeps signing for 24 h.
func (h *Handler) Rotate(c *fiber.Ctx) error {
	secret := NewSecret()
	e, err := h.store.RotateSecret(c.UserContext(), c.Params("id"), owner(c), h.sealer.Seal(secret), h.now().Add(rotationOverlap))
	if err != nil {
		return mapErr(err)
	}
	return c.JSON(fiber.Map{"secret": secret, "previous_secret_signs_until": e.PreviousUntil})
}

// Test sends a webhook.test event to the endpoint.
func (h *Handler) Test(c *fiber.Ctx) error {
	e, err := h.store.Endpoint(c.UserContext(), c.Params("id"), owner(c))
	if err != nil {
		return mapErr(err)
	}
	if !e.Enabled {
		return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "the endpoint is disabled; enable it first")
	}
	ids, err := h.store.TestEvent(c.UserContext(), e)
	if err != nil {
		return err
	}
	h.enqueuer.Enqueue(c.UserContext(), ids)
	return c.SendStatus(fiber.StatusAccepted)
}

// Deliveries lists an endpoint's deliveries, newest first.
func (h *Handler) Deliveries(c *fiber.Ctx) error {
	e, err := h.store.Endpoint(c.UserContext(), c.Params("id"), owner(c))
	if err != nil {
		return mapErr(err)
	}
	limit, err := httpserver.LimitParam(c)
	if err != nil {
		return err
	}
	var before int64
	if cur := c.Query("cursor"); cur != "" {
		if before, err = parseDeliveryID(cur); err != nil {
			return httpserver.Validation(map[string]string{"cursor": "not a cursor this API gave"})
		}
	}
	items, err := h.store.Deliveries(c.UserContext(), e.ID, before, limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(items) > limit {
		items = items[:limit]
		cur := items[len(items)-1].view().ID
		next = &cur
	}
	views := make([]DeliveryView, len(items))
	for i, d := range items {
		views[i] = d.view()
	}
	return c.JSON(fiber.Map{"items": views, "next_cursor": next})
}

// RetryDelivery sends one delivery again now.
func (h *Handler) RetryDelivery(c *fiber.Ctx) error {
	e, err := h.store.Endpoint(c.UserContext(), c.Params("id"), owner(c))
	if err != nil {
		return mapErr(err)
	}
	id, err := parseDeliveryID(c.Params("delivery_id"))
	if err != nil {
		return httpserver.NewError(fiber.StatusNotFound, "not_found", "no such delivery")
	}
	if err := h.store.Retry(c.UserContext(), e.ID, id); err != nil {
		if errors.Is(err, ErrNotFound) {
			return httpserver.NewError(fiber.StatusNotFound, "not_found", "no such delivery")
		}
		return err
	}
	if err := h.enqueuer.RunNow(c.UserContext(), id); err != nil {
		// The delivery is pending and due: the delivery sweeper sends it.
		h.log.Warn().Err(err).Int64("delivery", id).Msg("retry now: enqueue failed; the sweeper will send it")
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// Events is the feed (GET /api/v1/events): the caller's events after a
// cursor, oldest first, as webhooks carry them.
func (h *Handler) Events(c *fiber.Ctx) error {
	limit, err := httpserver.LimitParam(c)
	if err != nil {
		return err
	}
	var after int64
	for _, name := range []string{"after", "cursor"} {
		if v := c.Query(name); v != "" {
			if after, err = parseEventID(v); err != nil {
				return httpserver.Validation(map[string]string{name: "must be an event id like evt_123"})
			}
		}
	}
	typ := c.Query("type")
	if typ != "" && !slices.Contains(EventTypes, typ) {
		return httpserver.Validation(map[string]string{"type": "must be one of " + strings.Join(EventTypes, ", ")})
	}
	events, err := h.store.Events(c.UserContext(), owner(c), after, typ, limit+1)
	if err != nil {
		return err
	}
	var next *string
	if len(events) > limit {
		events = events[:limit]
		cur := EventID(events[len(events)-1].Seq)
		next = &cur
	}
	items := make([]FeedItem, len(events))
	for i, ev := range events {
		items[i] = ev.feedItem()
	}
	return c.JSON(fiber.Map{"items": items, "next_cursor": next})
}
