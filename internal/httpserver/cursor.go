package httpserver

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Keyset pagination (docs/api.md, "Lists"): a list answers next_cursor, an
// opaque token naming the sort key of the last item it returned; the next
// request continues strictly after it with `WHERE (key, id) > (…)` on an index,
// so the millionth row costs what the first does (an OFFSET reads and throws
// away every row before the page).

// Cursors is the envelope of a keyset-paginated list. NextCursor is null on
// the last page.
type Cursors[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// NewCursors fills the envelope; items is never null in JSON.
func NewCursors[T any](items []T, next *string) Cursors[T] {
	if items == nil {
		items = []T{}
	}
	return Cursors[T]{Items: items, NextCursor: next}
}

// LimitParam reads ?limit (1..100, default 20).
func LimitParam(c *fiber.Ctx) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > MaxPageSize {
		return 0, Validation(map[string]string{"limit": "must be an integer between 1 and 100"})
	}
	return n, nil
}

// cursorSep cannot occur in what cursors carry (times, UUIDs, sort names, numbers).
const cursorSep = "|"

// EncodeCursor packs the parts of a keyset position into an opaque token.
func EncodeCursor(parts ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(parts, cursorSep)))
}

// ErrBadCursor answers a cursor this API did not give (or gave for another
// ordering of the list).
var ErrBadCursor = Validation(map[string]string{"cursor": "not a cursor this API gave for this list and sort"})

// DecodeCursor unpacks a token of EncodeCursor into exactly n parts.
func DecodeCursor(token string, n int) ([]string, error) {
	if len(token) > 512 {
		return nil, ErrBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, ErrBadCursor
	}
	parts := strings.Split(string(raw), cursorSep)
	if len(parts) != n {
		return nil, ErrBadCursor
	}
	return parts, nil
}

// CursorTime is how cursors carry a timestamp: Postgres keeps microseconds,
// and RFC 3339 with nanoseconds round-trips them exactly.
func CursorTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ParseCursorTime reads a CursorTime back.
func ParseCursorTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrBadCursor
	}
	return t, nil
}
