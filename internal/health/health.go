// Package health answers liveness and readiness: live means the process serves
// HTTP; ready means Postgres and Redis both answer, and names the one that doesn't.
package health

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
)

// Checker pings the backing services.
type Checker struct {
	db  *sqlx.DB
	rdb redis.UniversalClient
}

// NewChecker returns a Checker over the API's pools.
func NewChecker(db *sqlx.DB, rdb redis.UniversalClient) *Checker {
	return &Checker{db: db, rdb: rdb}
}

// Status maps each dependency to "ok" or "down"; ok is false when any is down.
func (h *Checker) Status(ctx context.Context) (status map[string]string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	status = map[string]string{"postgres": "ok", "redis": "ok"}
	ok = true
	if err := h.db.PingContext(ctx); err != nil {
		status["postgres"], ok = "down", false
	}
	if err := h.rdb.Ping(ctx).Err(); err != nil {
		status["redis"], ok = "down", false
	}
	return status, ok
}

// Live answers 200 while the process serves requests.
func Live(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }

// Ready answers 200 when every dependency is up, else 503 naming what is down.
func (h *Checker) Ready(c *fiber.Ctx) error {
	status, ok := h.Status(c.UserContext())
	if !ok {
		c.Set(fiber.HeaderRetryAfter, "5")
		return c.Status(fiber.StatusServiceUnavailable).JSON(status)
	}
	return c.JSON(status)
}
