package httpserver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/lib/pq"
	"github.com/redis/go-redis/v9"
)

// IsOutage reports whether err means Postgres or Redis is unreachable or
// restarting (as opposed to a bug): the client then gets 503 unavailable with
// Retry-After and can try again, and no data was half-written because every
// write is one Postgres transaction.
func IsOutage(err error) bool {
	if err == nil {
		return false
	}
	var ue *unavailableError
	var netErr net.Error
	var pqErr *pq.Error
	switch {
	case errors.As(err, &ue),
		errors.As(err, &netErr),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout):
		return true
	case errors.As(err, &pqErr):
		class := string(pqErr.Code.Class())
		// 08 connection exception, 57 operator intervention (shutdown, restart),
		// 53 insufficient resources (too many connections), 3D the database is gone.
		return class == "08" || class == "57" || class == "53" || class == "3D"
	}
	// lib/pq reports a dropped server as a plain error string.
	msg := err.Error()
	// database/sql reports a closed pool (shutting down) as "sql: database is closed".
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "bad connection") ||
		strings.Contains(msg, "sql: database is closed") ||
		strings.Contains(msg, "LOADING Redis") || strings.Contains(msg, "the database system is")
}
