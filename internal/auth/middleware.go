package auth

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/httpserver"
)

const principalKey = "auth.principal"

// PrincipalOf returns the authenticated caller set by RequireAuth (nil when none).
func PrincipalOf(c *fiber.Ctx) *Principal {
	p, _ := c.Locals(principalKey).(*Principal)
	return p
}

// BearerToken extracts the token of an "Authorization: Bearer …" header.
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// RequireAuth refuses requests without a valid, unrevoked bearer token of an
// active user (401), and stores the Principal for the handlers.
func (s *Service) RequireAuth() fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw, ok := BearerToken(c.Get(fiber.HeaderAuthorization))
		if !ok {
			return httpserver.ErrUnauthorized
		}
		p, err := s.Authenticate(c.UserContext(), raw)
		if errors.Is(err, ErrInvalidToken) {
			return httpserver.ErrUnauthorized
		}
		if err != nil {
			return httpserver.Unavailable("authenticate", err)
		}
		c.Locals(principalKey, p)
		return c.Next()
	}
}

// Require refuses callers without perm (403). It runs after RequireAuth.
func Require(perm string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !PrincipalOf(c).Has(perm) {
			return httpserver.ErrForbidden
		}
		return c.Next()
	}
}

// RateLimitKey keys the API rate limit by user when authenticated, else by IP.
func RateLimitKey(c *fiber.Ctx) string {
	if p := PrincipalOf(c); p != nil {
		return "user:" + p.UserID
	}
	return httpserver.ClientIP(c)
}
