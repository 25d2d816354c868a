package httpserver

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// BodyLimit is the largest request body accepted (64 KiB); larger ones get 413.
const BodyLimit = 64 * 1024

// Options configure New.
type Options struct {
	Logger      zerolog.Logger
	CORSOrigins []string
	// Observe, when set, is called once per request after the error handler ran
	// (the metrics hook).
	Observe func(method, route string, status int, elapsed time.Duration)
	// InFlight, when set, is incremented/decremented around each request.
	InFlight func(delta int)
}

// New builds a Fiber app with the shared middleware chain, in this order:
// recover → request id → log+error mapping → security headers → CORS.
func New(opts Options) *fiber.App {
	app := fiber.New(fiber.Config{
		AppName:               "verifier",
		BodyLimit:             BodyLimit,
		ErrorHandler:          ErrorHandler(opts.Logger),
		DisableStartupMessage: true,
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           120 * time.Second,
	})
	guardMethods(app)
	app.Use(recover.New())
	app.Use(requestID)
	app.Use(accessLog(opts))
	app.Use(securityHeaders)
	app.Use(edgeChecks)
	app.Use(cors.New(cors.Config{
		AllowOrigins:  strings.Join(opts.CORSOrigins, ","),
		AllowHeaders:  "Authorization, Content-Type, X-Request-ID",
		ExposeHeaders: "X-Request-ID, Location, Retry-After, Idempotent-Replayed",
		MaxAge:        600,
	}))
	return app
}

const requestIDKey = "request_id"

// requestID takes X-Request-ID from the client when it is sane, else makes one,
// and echoes it on every response.
func requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if !validRequestID(id) {
		id = uuid.NewString()
	} else {
		id = strings.Clone(id) // Fiber reuses its buffers
	}
	c.Locals(requestIDKey, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r == ':' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return false
		}
	}
	return true
}

// RequestID returns the request's id, making one if the middleware has not run
// (errors raised by the server before routing, such as a body over the limit).
func RequestID(c *fiber.Ctx) string {
	if id, ok := c.Locals(requestIDKey).(string); ok {
		return id
	}
	id := uuid.NewString()
	c.Locals(requestIDKey, id)
	c.Set(fiber.HeaderXRequestID, id)
	return id
}

// routeOf is the matched route template (never the raw path, which carries ids).
func routeOf(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Path == "" || (r.Path == "/" && c.Path() != "/") {
		return "unmatched"
	}
	return r.Path
}

// logAPIKeyID is the Locals key under which auth names the API key a request
// authenticated with, so the access log tells key traffic from logins.
const logAPIKeyID = "httpserver.api_key_id"

// SetLogAPIKeyID makes the request's access-log line carry api_key_id: the
// key's id, which is not secret (never the key).
func SetLogAPIKeyID(c *fiber.Ctx, id string) { c.Locals(logAPIKeyID, id) }

// accessLog logs every request once and maps handler errors to responses here,
// so the logged status is the one the client got.
func accessLog(opts Options) fiber.Handler {
	log := opts.Logger
	return func(c *fiber.Ctx) error {
		start := time.Now()
		if opts.InFlight != nil {
			opts.InFlight(1)
			defer opts.InFlight(-1)
		}
		if err := c.Next(); err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		elapsed := time.Since(start)
		status := c.Response().StatusCode()
		route := routeOf(c)
		if opts.Observe != nil {
			opts.Observe(c.Method(), route, status, elapsed)
		}
		ev := log.Info()
		if status >= 500 {
			ev = log.Error()
		}
		if id, _ := c.Locals(logAPIKeyID).(string); id != "" {
			ev = ev.Str("api_key_id", id)
		}
		ev.Str("method", c.Method()).Str("route", route).Int("status", status).
			Dur("latency", elapsed).Str("request_id", RequestID(c)).Str("ip", c.IP()).Msg("request")
		return nil
	}
}

// securityHeaders sets the headers a JSON API should always send. The CSP allows
// only same-origin assets, which the embedded dashboard and docs need.
func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders is securityHeaders without the chain, for errors raised
// before routing (they never pass the middleware).
func setSecurityHeaders(c *fiber.Ctx) {
	noStore(c)
	for _, h := range securityHeaderValues {
		c.Set(h[0], h[1])
	}
}

var securityHeaderValues = [][2]string{
	{fiber.HeaderXContentTypeOptions, "nosniff"},
	{fiber.HeaderXFrameOptions, "DENY"},
	{fiber.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains"},
	{fiber.HeaderContentSecurityPolicy, "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'"},
	{fiber.HeaderReferrerPolicy, "no-referrer"},
}

// guardMethods answers requests with a method Fiber does not know. Fiber
// itself answers them before any handler, with a text body and none of our
// headers; here they get the documented error shape.
func guardMethods(app *fiber.App) {
	srv := app.Server()
	next := srv.Handler
	srv.Handler = func(rc *fasthttp.RequestCtx) {
		if slices.Contains(fiber.DefaultMethods, string(rc.Method())) {
			next(rc)
			return
		}
		for _, h := range securityHeaderValues {
			rc.Response.Header.Set(h[0], h[1])
		}
		id := uuid.NewString()
		rc.Response.Header.Set(fiber.HeaderXRequestID, id)
		rc.Response.Header.Set(fiber.HeaderCacheControl, "no-store")
		var body errorBody
		body.Error.Code, body.Error.Message, body.RequestID = "bad_request", "unknown HTTP method", id
		raw, _ := json.Marshal(body)
		rc.SetStatusCode(fiber.StatusBadRequest)
		rc.SetContentType(fiber.MIMEApplicationJSON)
		rc.SetBody(raw)
	}
}
