package httpserver

import (
	"bytes"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
)

// edgeChecks refuses, before any handler runs, what no handler should ever
// see: compressed bodies (a few hundred bytes of nested gzip decode to
// hundreds of megabytes, and the body limit applies to the bytes received),
// and paths or query parameters that are not valid UTF-8 or hold NUL or other
// control bytes (Postgres rejects them: such input used to reach it and
// answer 500).
func edgeChecks(c *fiber.Ctx) error {
	if enc := strings.TrimSpace(string(c.Request().Header.Peek(fiber.HeaderContentEncoding))); enc != "" && !strings.EqualFold(enc, "identity") {
		return NewError(fiber.StatusUnsupportedMediaType, "unsupported_media_type",
			"request bodies must not be compressed: send them without Content-Encoding")
	}
	if !cleanText(c.Request().URI().Path()) {
		return &Error{Status: fiber.StatusBadRequest, Code: "invalid_request",
			Message: "the path must be valid UTF-8 without control characters", Fields: map[string]string{"path": "invalid bytes"}}
	}
	var bad string
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) {
		if bad == "" && (!cleanText(k) || !cleanText(v)) {
			bad = string(k)
			if !utf8.Valid(k) || bytes.IndexByte(k, 0) >= 0 {
				bad = "query"
			}
		}
	})
	if bad != "" {
		return &Error{Status: fiber.StatusBadRequest, Code: "invalid_request",
			Message: "query parameters must be valid UTF-8 without control characters", Fields: map[string]string{bad: "invalid bytes"}}
	}
	return c.Next()
}

// cleanText reports whether b is valid UTF-8 without C0 control bytes or DEL.
func cleanText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, x := range b {
		if x < 0x20 || x == 0x7f {
			return false
		}
	}
	return true
}

// requireJSON refuses a body that does not say it is JSON (415).
func requireJSON(c *fiber.Ctx) error {
	ct := string(c.Request().Header.ContentType())
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != fiber.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
		return NewError(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be sent as Content-Type: application/json")
	}
	return nil
}

// noStore marks replies that may carry personal data or tokens as not to be
// cached by browsers or proxies.
func noStore(c *fiber.Ctx) {
	p := c.Path()
	if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/monitoring") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
}
