package auth

import (
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// DenyAPIKeys refuses requests authenticated with an API key (403). It guards
// the API-key routes: a leaked key must not be able to mint more keys (that
// would outlive its revocation) or revoke its owner's other keys; managing
// keys takes a login. It runs after RequireAuth.
func DenyAPIKeys(c *fiber.Ctx) error {
	if PrincipalOf(c).ViaAPIKey() {
		return httpserver.NewError(fiber.StatusForbidden, "forbidden", "API keys cannot manage API keys; log in to do it")
	}
	return c.Next()
}

type createAPIKeyRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	// A string, parsed here, so a malformed time is a 422 naming the field
	// rather than the decoder's 400.
	ExpiresAt *string `json:"expires_at"`
}

// CreateAPIKey makes a key for the caller (POST /api/v1/api-keys). The key is
// in this reply only; the server keeps its SHA-256.
func (h *Handler) CreateAPIKey(c *fiber.Ctx) error {
	var req createAPIKeyRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	p := PrincipalOf(c)
	fields := map[string]string{}
	name := strings.TrimSpace(req.Name)
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxAPIKeyNameLen {
		fields["name"] = "must be 1 to 100 characters"
	} else if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		fields["name"] = "must not contain control characters"
	}
	switch {
	case req.Permissions == nil:
		fields["permissions"] = "is required (an array, may be empty)"
	default:
		for _, perm := range req.Permissions {
			if !ValidPermission(perm) {
				fields["permissions"] = "unknown permission " + perm
				break
			}
			// The caller's permissions of this request: a key never holds
			// more than its creator did when creating it (and at use it is
			// cut to what the owner holds then).
			if !p.Has(perm) {
				fields["permissions"] = "you do not hold " + perm + "; a key gets a subset of your permissions"
				break
			}
		}
	}
	var expiresAt *time.Time
	if req.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *req.ExpiresAt)
		switch {
		case err != nil:
			fields["expires_at"] = "must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z"
		case !t.After(h.svc.opts.Now()):
			fields["expires_at"] = "must be in the future"
		default:
			expiresAt = &t
		}
	}
	if len(fields) > 0 {
		return httpserver.Validation(fields)
	}
	k, err := h.svc.CreateAPIKey(c.UserContext(), p.UserID, name, req.Permissions, expiresAt)
	if errors.Is(err, ErrTooManyAPIKeys) {
		return httpserver.NewError(fiber.StatusConflict, "too_many_api_keys",
			"you have the most live API keys allowed; revoke one (DELETE /api/v1/api-keys/{id}) first")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(k)
}

// cursor tags: a cursor of one list is refused by another.
const (
	apiKeysCursorTag = "api-keys"
	usersCursorTag   = "users"
)

// keysetParams reads ?cursor and ?limit of a list whose cursors carry tag.
func keysetParams(c *fiber.Ctx, tag string) (*KeysetPos, int, error) {
	limit, limitErr := httpserver.LimitParam(c)
	var after *KeysetPos
	var curErr error
	if raw := c.Query("cursor"); raw != "" {
		after, curErr = decodeKeyset(raw, tag)
	}
	if err := httpserver.MergeValidation(limitErr, curErr); err != nil {
		return nil, 0, err
	}
	return after, limit, nil
}

func decodeKeyset(raw, tag string) (*KeysetPos, error) {
	parts, err := httpserver.DecodeCursor(raw, 3)
	if err != nil {
		return nil, err
	}
	if parts[0] != tag {
		return nil, httpserver.ErrBadCursor
	}
	at, err := httpserver.ParseCursorTime(parts[1])
	if err != nil {
		return nil, err
	}
	if _, err := uuid.Parse(parts[2]); err != nil {
		return nil, httpserver.ErrBadCursor
	}
	return &KeysetPos{At: at, ID: parts[2]}, nil
}

// nextCursor is the cursor after the last item of a full page (limit+1 rows
// were asked for, so a longer result means there is more); nil on the last page.
func nextCursor(tag string, n, limit int, last func() (time.Time, string)) *string {
	if n <= limit {
		return nil
	}
	at, id := last()
	s := httpserver.EncodeCursor(tag, httpserver.CursorTime(at), id)
	return &s
}

// ListAPIKeys lists the caller's live keys, admins every user's, newest first
// (GET /api/v1/api-keys, ?cursor, ?limit).
func (h *Handler) ListAPIKeys(c *fiber.Ctx) error {
	after, limit, err := keysetParams(c, apiKeysCursorTag)
	if err != nil {
		return err
	}
	p := PrincipalOf(c)
	owner := p.UserID
	if p.IsAdmin() {
		owner = ""
	}
	keys, err := h.svc.ListAPIKeys(c.UserContext(), owner, after, limit+1)
	if err != nil {
		return err
	}
	next := nextCursor(apiKeysCursorTag, len(keys), limit, func() (time.Time, string) {
		return keys[limit-1].CreatedAt, keys[limit-1].ID
	})
	if len(keys) > limit {
		keys = keys[:limit]
	}
	return c.JSON(httpserver.NewCursors(keys, next))
}

// RevokeAPIKey revokes a key (DELETE /api/v1/api-keys/{id}): the caller's own,
// or anyone's for admins; anything else is 404.
func (h *Handler) RevokeAPIKey(c *fiber.Ctx) error {
	p := PrincipalOf(c)
	owner := p.UserID
	if p.IsAdmin() {
		owner = ""
	}
	err := h.svc.RevokeAPIKey(c.UserContext(), owner, strings.Clone(c.Params("id")))
	if errors.Is(err, ErrNotFound) {
		return httpserver.ErrNotFound
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
