package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/httpserver"
	"github.com/banesco-verifier/verifier/internal/metrics"
	"github.com/banesco-verifier/verifier/tasks"
)

// MonitoringPath is where the Asynqmon dashboard lives.
const MonitoringPath = "/monitoring"

// basicAuthTTL is how long a successful Basic verification is remembered: the
// dashboard polls several XHRs every few seconds with the same credentials.
const basicAuthTTL = time.Minute

// mountOps mounts the operator routes: /metrics (when d.Registry is set) and
// /monitoring, Asynqmon behind admin:access (when d.AsynqRedis is set).
func mountOps(app *fiber.App, d Deps) {
	if d.Registry != nil {
		app.Get("/metrics", adaptor.HTTPHandler(metrics.Handler(d.Registry)))
	}
	if d.AsynqRedis == nil {
		return
	}
	h := asynqmon.New(asynqmon.Options{
		RootPath:         MonitoringPath,
		RedisConnOpt:     d.AsynqRedis,
		PayloadFormatter: asynqmon.PayloadFormatterFunc(FormatTaskPayload),
		ReadOnly:         d.MonitoringRO,
	})
	app.Hooks().OnShutdown(h.Close)
	ma := &monitoringAuth{svc: d.Auth, basic: auth.NewBasicCache(d.Auth, basicAuthTTL)}
	if d.Registry != nil {
		ma.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "monitoring_auth_checks_total",
			Help: "Credential checks on /monitoring, by result (cache_hit, verified, bearer, rejected, missing).",
		}, []string{"result"})
		d.Registry.MustRegister(ma.checks)
	}
	// Asynqmon routes on the full path and loads its assets from RootPath, so it
	// is mounted without stripping the prefix.
	app.Use(MonitoringPath, sameOrigin, ma.handle, dashboardPage, adaptor.HTTPHandler(h))
}

// sameOrigin refuses state-changing requests that a browser sent from another
// site. Browsers resend cached Basic credentials with any request to this
// host, so without this check a page elsewhere could pause queues or delete
// tasks with an admin's credentials (CSRF). Sec-Fetch-Site, where sent, must
// be same-origin or none (typed by the user); otherwise an Origin header must
// name this host. Requests carrying neither come from non-browser clients,
// which hold their credentials themselves.
func sameOrigin(c *fiber.Ctx) error {
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	switch site := c.Get("Sec-Fetch-Site"); site {
	case "same-origin", "none":
		return c.Next()
	case "":
	default:
		return crossSite()
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, string(c.Request().Host())) {
			return crossSite()
		}
	}
	return c.Next()
}

func crossSite() error {
	return httpserver.NewError(fiber.StatusForbidden, "forbidden", "cross-site requests may not change the monitoring state")
}

// monitoringAuth lets in users with admin:access, by HTTP Basic (email and
// password: a browser asks for them on the 401) or a bearer access token.
type monitoringAuth struct {
	svc    *auth.Service
	basic  *auth.BasicCache
	checks *prometheus.CounterVec // nil without a registry
}

func (m *monitoringAuth) count(result string) {
	if m.checks != nil {
		m.checks.WithLabelValues(result).Inc()
	}
}

// challenge is the 401 that makes a browser ask for credentials.
func challenge(c *fiber.Ctx) error {
	c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="monitoring", charset="UTF-8"`)
	return httpserver.ErrUnauthorized
}

func (m *monitoringAuth) handle(c *fiber.Ctx) error {
	header := c.Get(fiber.HeaderAuthorization)
	ctx := c.UserContext()
	var p *auth.Principal
	if raw, ok := auth.BearerToken(header); ok {
		var err error
		p, err = m.svc.Authenticate(ctx, raw)
		if errors.Is(err, auth.ErrInvalidToken) {
			m.count("rejected")
			return challenge(c)
		}
		if err != nil {
			return httpserver.Unavailable("authenticate", err)
		}
		m.count("bearer")
	} else if email, password, ok := basicCredentials(header); ok {
		var result auth.BasicResult
		var err error
		p, result, err = m.basic.Check(ctx, httpserver.ClientIP(c), email, password)
		m.count(string(result))
		var tooMany *auth.ErrTooManyFailures
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials):
			return challenge(c)
		case errors.As(err, &tooMany):
			return &httpserver.Error{Status: fiber.StatusTooManyRequests, Code: "rate_limited",
				Message: "too many failed logins; try again later", RetryAfter: tooMany.RetryAfter}
		case err != nil:
			return httpserver.Unavailable("check password", err)
		}
	} else {
		m.count("missing")
		return challenge(c)
	}
	if !p.Has(auth.PermAdmin) {
		return httpserver.ErrForbidden
	}
	return c.Next()
}

// basicCredentials parses "Authorization: Basic base64(email:password)".
func basicCredentials(header string) (email, password string, ok bool) {
	scheme, value, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil {
		return "", "", false
	}
	email, password, ok = strings.Cut(string(raw), ":")
	if !ok || email == "" || password == "" {
		return "", "", false
	}
	return email, password, true
}

var (
	// externalLink matches the <link> tags of Asynqmon's index.html that load
	// Google Fonts (the UI works without them: system fonts, SVG icons) and its
	// PWA manifest (browsers fetch it without credentials: a 401 in the console).
	externalLink = regexp.MustCompile(`<link[^>]+(href="https?://[^"]*"|rel="manifest")[^>]*>`)
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

// dashboardPage adapts Asynqmon's HTML page to our security headers: it drops
// the links to external font CDNs and allows its two inline scripts (the root
// path flags and the webpack loader) by hash, keeping script-src strict.
func dashboardPage(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	if !strings.HasPrefix(string(c.Response().Header.ContentType()), fiber.MIMETextHTML) {
		return nil
	}
	body := externalLink.ReplaceAll(c.Response().Body(), nil)
	var hashes []string
	for _, m := range inlineScript.FindAllSubmatch(body, -1) {
		sum := sha256.Sum256(m[1])
		hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	c.Response().SetBody(body)
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "+
		"font-src 'self' data:; connect-src 'self'; script-src 'self' "+strings.Join(hashes, " ")+
		"; frame-ancestors 'none'; base-uri 'self'")
	return nil
}

// FormatTaskPayload renders a task payload for the dashboard as indented JSON of
// its ids only. Known task types are decoded into their payload struct, so any
// other field is dropped; for unknown types only keys named id or *_id are kept.
// Payloads carry ids by design (tasks package); this makes sure the dashboard
// never shows anything else even if that slips.
func FormatTaskPayload(taskType string, payload []byte) string {
	var v any
	switch taskType {
	case tasks.TypeVerify:
		var p tasks.VerifyPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return fmt.Sprintf("(%d bytes, not a verify payload)", len(payload))
		}
		v = p
	case tasks.TypeSweep:
		var p tasks.SweepPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return fmt.Sprintf("(%d bytes, not a sweep payload)", len(payload))
		}
		v = p
	default:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(payload, &m); err != nil {
			return fmt.Sprintf("(%d bytes, not JSON)", len(payload))
		}
		ids := map[string]json.RawMessage{}
		for k, raw := range m {
			if k == "id" || strings.HasSuffix(k, "_id") {
				ids[k] = raw
			}
		}
		v = ids
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("(%d bytes)", len(payload))
	}
	return string(out)
}
