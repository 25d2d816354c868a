package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

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
//
// Failures are counted per client IP (AuthFailuresPerIP a minute): past the
// cap the answer is 429, so garbage tokens cannot be sprayed without limit.
// The per-client API limit runs after authentication (it is keyed by user), so
// without this cap they would never be limited at all.
func (s *Service) RequireAuth() fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw, ok := BearerToken(c.Get(fiber.HeaderAuthorization))
		if !ok {
			return s.authFailure(c)
		}
		p, err := s.Authenticate(c.UserContext(), raw)
		if errors.Is(err, ErrInvalidToken) {
			return s.authFailure(c)
		}
		if err != nil {
			return httpserver.Unavailable("authenticate", err)
		}
		c.Locals(principalKey, p)
		if p.ViaAPIKey() {
			httpserver.SetLogAPIKeyID(c, p.APIKeyID)
		}
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

// authFailureScript counts one failed authentication of an IP in a 1-minute
// window and returns the count and the window's milliseconds left.
var authFailureScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], 60000) end
return {n, redis.call('PTTL', KEYS[1])}
`)

// authFailure answers a failed authentication: 401, or 429 once the IP is
// over its cap. A Redis outage still answers 401 (the failure is certain).
func (s *Service) authFailure(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), redisTimeout)
	defer cancel()
	res, err := authFailureScript.Run(ctx, s.rdb, []string{"auth:bad_tokens:" + c.IP()}).Int64Slice()
	if err == nil && len(res) == 2 && res[0] > int64(s.opts.AuthFailuresPerIP) {
		return &httpserver.Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited",
			Message: "too many failed authentications from this address", RetryAfter: time.Duration(max(res[1], 1000)) * time.Millisecond}
	}
	return httpserver.ErrUnauthorized
}
