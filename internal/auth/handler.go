package auth

import (
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

// Handler serves the auth and user-admin routes.
type Handler struct {
	svc              *Service
	registrationOpen bool
}

// NewHandler returns the HTTP handlers of the auth domain.
func NewHandler(svc *Service, registrationOpen bool) *Handler {
	return &Handler{svc: svc, registrationOpen: registrationOpen}
}

type registerRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	FullName string `json:"full_name"`
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && len(s) <= 254
}

// Register creates a user (POST /api/v1/auth/register).
func (h *Handler) Register(c *fiber.Ctx) error {
	if !h.registrationOpen {
		return httpserver.NewError(fiber.StatusForbidden, "registration_closed", "registration is closed; ask an administrator")
	}
	var req registerRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	req.Email = strings.TrimSpace(req.Email)
	req.FullName = strings.Join(strings.Fields(req.FullName), " ")
	fields := map[string]string{}
	if !validEmail(req.Email) {
		fields["email"] = "must be a valid email address"
	}
	if n := utf8.RuneCountInString(req.Password); n < 10 || len(req.Password) > 72 {
		// bcrypt reads at most 72 bytes; longer passwords would be silently cut.
		fields["password"] = "must be 10 to 72 characters"
	}
	if n := utf8.RuneCountInString(req.FullName); n < 2 || n > 255 {
		fields["full_name"] = "must be 2 to 255 characters"
	}
	if len(fields) > 0 {
		return httpserver.Validation(fields)
	}
	u, err := h.svc.Register(c.UserContext(), req.Email, req.Password, req.FullName)
	if errors.Is(err, ErrEmailTaken) {
		return &httpserver.Error{Status: fiber.StatusConflict, Code: "email_taken", Message: "that email is already registered",
			Fields: map[string]string{"email": "already registered"}}
	}
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(u)
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Login issues a token pair (POST /api/v1/auth/login).
func (h *Handler) Login(c *fiber.Ctx) error {
	var req loginRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if strings.TrimSpace(req.Email) == "" {
		fields["email"] = "is required"
	}
	if req.Password == "" {
		fields["password"] = "is required"
	}
	if len(fields) > 0 {
		return httpserver.Validation(fields)
	}
	pair, err := h.svc.Login(c.UserContext(), c.IP(), strings.TrimSpace(req.Email), req.Password)
	var tooMany *ErrTooManyFailures
	switch {
	case errors.As(err, &tooMany):
		return &httpserver.Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many failed logins; try again later", RetryAfter: tooMany.RetryAfter}
	case errors.Is(err, ErrInvalidCredentials):
		return httpserver.NewError(fiber.StatusUnauthorized, "invalid_credentials", "wrong email or password")
	case err != nil:
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(pair)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// Refresh rotates the refresh token (POST /api/v1/auth/refresh).
func (h *Handler) Refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return httpserver.Validation(map[string]string{"refresh_token": "is required"})
	}
	pair, err := h.svc.Refresh(c.UserContext(), req.RefreshToken)
	if errors.Is(err, ErrRefreshInvalid) || errors.Is(err, ErrRefreshReused) || errors.Is(err, ErrNotFound) {
		return httpserver.NewError(fiber.StatusUnauthorized, "unauthorized", "refresh token invalid, expired or already used")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(pair)
}

// Logout revokes the caller's access token and optionally a refresh token
// (POST /api/v1/auth/logout). The body may be empty.
func (h *Handler) Logout(c *fiber.Ctx) error {
	var req refreshRequest
	if len(c.Body()) > 0 {
		if err := httpserver.DecodeJSON(c, &req); err != nil {
			return err
		}
	}
	err := h.svc.Logout(c.UserContext(), PrincipalOf(c), req.RefreshToken)
	if errors.Is(err, ErrAPIKeyLogout) {
		return httpserver.NewError(fiber.StatusForbidden, "forbidden",
			"an API key has no session to log out of; revoke it with DELETE /api/v1/api-keys/{id}")
	}
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Me returns the caller (GET /api/v1/auth/me).
func (h *Handler) Me(c *fiber.Ctx) error {
	u, err := h.svc.store.UserByID(c.UserContext(), PrincipalOf(c).UserID)
	if err != nil {
		return err
	}
	return c.JSON(u)
}

// ListUsers returns users newest first (GET /api/v1/users, admin). With
// ?cursor or ?limit it answers the keyset envelope {items, next_cursor};
// otherwise the page envelope of ?page and ?size, kept for existing clients.
func (h *Handler) ListUsers(c *fiber.Ctx) error {
	if c.Query("cursor") != "" || c.Query("limit") != "" {
		return h.listUsersKeyset(c)
	}
	page, size, err := httpserver.PageParams(c)
	if err != nil {
		return err
	}
	users, total, err := h.svc.store.ListUsers(c.UserContext(), size, (page-1)*size)
	if err != nil {
		return err
	}
	return c.JSON(httpserver.NewPage(users, total, page, size))
}

func (h *Handler) listUsersKeyset(c *fiber.Ctx) error {
	if c.Query("page") != "" || c.Query("size") != "" {
		field := "page"
		if c.Query("page") == "" {
			field = "size"
		}
		return httpserver.Validation(map[string]string{field: "cannot be combined with cursor or limit"})
	}
	after, limit, err := keysetParams(c, usersCursorTag)
	if err != nil {
		return err
	}
	users, err := h.svc.store.ListUsersAfter(c.UserContext(), after, limit+1)
	if err != nil {
		return err
	}
	next := nextCursor(usersCursorTag, len(users), limit, func() (time.Time, string) {
		return users[limit-1].CreatedAt, users[limit-1].ID
	})
	if len(users) > limit {
		users = users[:limit]
	}
	return c.JSON(httpserver.NewCursors(users, next))
}

type permissionsRequest struct {
	Permissions []string `json:"permissions"`
}

// SetPermissions replaces a user's permissions (PUT /api/v1/users/{id}/permissions).
func (h *Handler) SetPermissions(c *fiber.Ctx) error {
	var req permissionsRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.Permissions == nil {
		return httpserver.Validation(map[string]string{"permissions": "is required (an array, may be empty)"})
	}
	for _, p := range req.Permissions {
		if !ValidPermission(p) {
			return httpserver.Validation(map[string]string{"permissions": "unknown permission " + p})
		}
	}
	id := strings.Clone(c.Params("id"))
	if id == PrincipalOf(c).UserID && !containsString(req.Permissions, PermAdmin) {
		return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "you cannot remove your own admin:access")
	}
	u, err := h.svc.store.SetPermissions(c.UserContext(), id, req.Permissions)
	if errors.Is(err, ErrNotFound) {
		return httpserver.ErrNotFound
	}
	if err != nil {
		return err
	}
	return c.JSON(u)
}

type patchUserRequest struct {
	IsActive *bool `json:"is_active"`
}

// PatchUser activates or deactivates a user (PATCH /api/v1/users/{id}).
func (h *Handler) PatchUser(c *fiber.Ctx) error {
	var req patchUserRequest
	if err := httpserver.DecodeJSON(c, &req); err != nil {
		return err
	}
	if req.IsActive == nil {
		return httpserver.Validation(map[string]string{"is_active": "is required"})
	}
	id := strings.Clone(c.Params("id"))
	if id == PrincipalOf(c).UserID && !*req.IsActive {
		return httpserver.NewError(fiber.StatusConflict, "invalid_transition", "you cannot deactivate yourself")
	}
	u, err := h.svc.store.SetActive(c.UserContext(), id, *req.IsActive)
	if errors.Is(err, ErrNotFound) {
		return httpserver.ErrNotFound
	}
	if err != nil {
		return err
	}
	return c.JSON(u)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
