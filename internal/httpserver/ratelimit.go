package httpserver

import (
	"context"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// RateLimiter is the per-client API limit, kept in Redis (GCRA via redis_rate) so
// every API replica shares one budget per client.
type RateLimiter struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
	log     zerolog.Logger
}

// NewRateLimiter allows perMinute requests per client per minute, with a burst of
// a sixth of that so a client app's page load is not throttled.
func NewRateLimiter(rdb redis.UniversalClient, perMinute int, log zerolog.Logger) *RateLimiter {
	burst := max(perMinute/6, 1)
	return &RateLimiter{
		limiter: redis_rate.NewLimiter(rdb),
		limit:   redis_rate.Limit{Rate: perMinute, Burst: burst, Period: time.Minute},
		log:     log,
	}
}

// Middleware limits by the key keyOf returns (user id when authenticated, else
// the client IP). A Redis outage lets the request through and logs it: the limit
// protects capacity, and refusing all traffic while Redis is down would turn a
// partial outage into a full one.
func (l *RateLimiter) Middleware(keyOf func(c *fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 500*time.Millisecond)
		res, err := l.limiter.Allow(ctx, "ratelimit:api:"+keyOf(c), l.limit)
		cancel()
		if err != nil {
			l.log.Warn().Err(err).Msg("api rate limit unavailable; request allowed")
			return c.Next()
		}
		c.Set("X-RateLimit-Limit", strconv.Itoa(l.limit.Rate))
		c.Set("X-RateLimit-Remaining", strconv.Itoa(res.Remaining))
		if res.Allowed == 0 {
			return &Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited",
				Message: "too many requests; slow down", RetryAfter: max(res.RetryAfter, time.Second)}
		}
		return c.Next()
	}
}

// ClientIP is the default rate-limit key for anonymous requests.
func ClientIP(c *fiber.Ctx) string { return "ip:" + c.IP() }
