// Package config loads the process configuration from environment variables
// (names as in the public contract, docs/api.md), applies defaults that work on a
// developer machine and validates everything once at start, so a bad value stops the
// process with one clear line instead of failing later.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/banesco-verifier/verifier/internal/redisconn"
)

// Config is everything the API and the worker read from the environment. Bank
// settings are loaded by the bank client package itself (banesco.ConfigFromEnv) so
// that every bank detail stays in one place.
type Config struct {
	Environment string // APP_ENV: development | production

	DatabaseURL      string
	DatabaseMaxConns int
	RedisURL         string
	// Redis beyond one server (redisconn): Sentinel or Cluster, when set,
	// win over RedisURL for every process.
	RedisSentinelAddrs    []string
	RedisSentinelMaster   string
	RedisSentinelPassword string
	RedisClusterAddrs     []string
	RedisPassword         string
	RedisDB               int
	APIAddr               string
	WorkerMetricsAddr     string
	LogLevel              string
	LogFormat             string

	JWTSecret          string
	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration
	AuthRegistration   string // open | closed
	AdminEmail         string
	AdminPassword      string
	CORSAllowedOrigins []string
	APIRateLimit       int // requests per minute per client
	LoginMaxFailures   int // failed logins per IP+email per window
	LoginFailureWindow time.Duration

	WorkerConcurrency int
	VerifyDeadline    time.Duration
	VerifySchedule    []time.Duration
	// Per bank (VERIFY_DEADLINE_BANESCO, VERIFY_SCHEDULE_MOBILE_TRANSFER, …),
	// keyed by the bank's API name; a bank without its own uses the above.
	VerifyDeadlineByBank map[string]time.Duration
	VerifyScheduleByBank map[string][]time.Duration
	// VerifyOutageBackoff: waits after checks in a row that got no real answer.
	VerifyOutageBackoff []time.Duration
	// VerifyRangeTooWideReviewAfter: 70005 answers in a row before review.
	VerifyRangeTooWideReviewAfter int
	SweepInterval                 time.Duration
	BanescoMaxRPS                 int
	BanescoPerTxPerMinute         int
	BanescoLimitMargin            time.Duration
	WorkerPollInterval            time.Duration
	WorkerShutdownTimeout         time.Duration
	MonitoringReadOnly            bool

	// Webhooks (docs/api.md, "Webhooks").
	WebhookConcurrency  int             // deliveries at once per worker replica (their own Asynq server)
	WebhookPollInterval time.Duration   // how often that server looks at an idle webhooks queue
	WebhookSchedule     []time.Duration // waits between delivery attempts
	WebhookTimeout      time.Duration
	WebhookDisableAfter time.Duration // failing this long disables an endpoint
	WebhookAllowHTTP    bool
	WebhookAllowPrivate bool
	// WebhookSecretKey seals the endpoints' signing secrets in Postgres. In
	// development it defaults to JWT_SECRET; production must set its own, so
	// rotating the JWT key does not make every webhook secret unreadable.
	WebhookSecretKey string
	EventRetention   time.Duration
}

// Getenv is the lookup Load uses; tests pass a map's lookup instead of os.Getenv.
type Getenv func(string) string

// IsProduction reports whether the stricter production checks apply.
func (c Config) IsProduction() bool { return c.Environment == "production" }

// Banks are the banks a transaction may name (the API's `bank` values), for
// the per-bank settings.
var Banks = []string{"BANESCO", "MOBILE_TRANSFER"}

// DeadlineFor is VERIFY_DEADLINE_<bank>, or VERIFY_DEADLINE.
func (c Config) DeadlineFor(bank string) time.Duration {
	if d, ok := c.VerifyDeadlineByBank[bank]; ok {
		return d
	}
	return c.VerifyDeadline
}

// ScheduleFor is VERIFY_SCHEDULE_<bank>, or VERIFY_SCHEDULE.
func (c Config) ScheduleFor(bank string) []time.Duration {
	if s, ok := c.VerifyScheduleByBank[bank]; ok {
		return s
	}
	return c.VerifySchedule
}

// Load reads and validates the configuration. The error names the variable at fault.
func Load(getenv Getenv) (Config, error) {
	p := parser{getenv: getenv}
	c := Config{
		Environment:           p.oneOf("APP_ENV", "development", "development", "production"),
		DatabaseURL:           p.str("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/verifier?sslmode=disable"),
		DatabaseMaxConns:      p.int("DATABASE_MAX_CONNS", 20, 1, 1000),
		RedisURL:              p.str("REDIS_URL", "redis://127.0.0.1:6379/0"),
		RedisSentinelAddrs:    p.list("REDIS_SENTINEL_ADDRS", ""),
		RedisSentinelMaster:   p.str("REDIS_SENTINEL_MASTER", ""),
		RedisSentinelPassword: p.str("REDIS_SENTINEL_PASSWORD", ""),
		RedisClusterAddrs:     p.list("REDIS_CLUSTER_ADDRS", ""),
		RedisPassword:         p.str("REDIS_PASSWORD", ""),
		RedisDB:               p.int("REDIS_DB", 0, 0, 15),
		APIAddr:               p.str("API_ADDR", ":8080"),
		WorkerMetricsAddr:     p.str("WORKER_METRICS_ADDR", ":9091"),
		LogLevel:              p.oneOf("LOG_LEVEL", "info", "trace", "debug", "info", "warn", "error"),
		LogFormat:             p.oneOf("LOG_FORMAT", "json", "json", "console"),
		JWTSecret:             p.str("JWT_SECRET", "dev-only-secret-change-me-0123456789abcdef"),
		AccessTokenTTL:        p.duration("ACCESS_TOKEN_TTL", 30*time.Minute),
		RefreshTokenTTL:       p.duration("REFRESH_TOKEN_TTL", 7*24*time.Hour),
		AuthRegistration:      p.oneOf("AUTH_REGISTRATION", "open", "open", "closed"),
		AdminEmail:            p.str("ADMIN_EMAIL", "admin@example.com"),
		AdminPassword:         p.str("ADMIN_PASSWORD", "admin-password-123"),
		CORSAllowedOrigins:    p.list("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
		APIRateLimit:          p.int("API_RATE_LIMIT", 600, 1, 1_000_000),
		LoginMaxFailures:      p.int("LOGIN_MAX_FAILURES", 5, 1, 1000),
		LoginFailureWindow:    p.duration("LOGIN_FAILURE_WINDOW", 15*time.Minute),

		WorkerConcurrency:             p.int("WORKER_CONCURRENCY", 20, 1, 10_000),
		VerifyDeadline:                p.duration("VERIFY_DEADLINE", 24*time.Hour),
		VerifySchedule:                p.durations("VERIFY_SCHEDULE", "30s,1m,2m,5m,10m,30m,1h"),
		VerifyDeadlineByBank:          map[string]time.Duration{},
		VerifyScheduleByBank:          map[string][]time.Duration{},
		VerifyOutageBackoff:           p.durations("VERIFY_OUTAGE_BACKOFF", "10s,30s,1m,2m,5m"),
		VerifyRangeTooWideReviewAfter: p.int("VERIFY_RANGE_TOO_WIDE_REVIEW_AFTER", 3, 1, 100),
		SweepInterval:                 p.duration("SWEEP_INTERVAL", time.Minute),
		BanescoMaxRPS:                 p.int("BANESCO_MAX_RPS", 50, 1, 100_000),
		BanescoPerTxPerMinute:         p.int("BANESCO_PER_TRANSACTION_PER_MINUTE", 2, 1, 60),
		BanescoLimitMargin:            p.duration("BANESCO_LIMIT_MARGIN", 40*time.Millisecond),
		WorkerPollInterval:            p.duration("WORKER_POLL_INTERVAL", time.Second),
		WorkerShutdownTimeout:         p.duration("WORKER_SHUTDOWN_TIMEOUT", 15*time.Second),
		MonitoringReadOnly:            p.bool("MONITORING_READ_ONLY", false),

		WebhookConcurrency:  p.int("WEBHOOK_CONCURRENCY", 10, 1, 10_000),
		WebhookPollInterval: p.duration("WEBHOOK_POLL_INTERVAL", 100*time.Millisecond),
		WebhookSchedule:     p.durations("WEBHOOK_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h,10h,10h,10h"),
		WebhookTimeout:      p.duration("WEBHOOK_TIMEOUT", 15*time.Second),
		WebhookDisableAfter: p.duration("WEBHOOK_DISABLE_AFTER", 5*24*time.Hour),
		WebhookAllowHTTP:    p.bool("WEBHOOK_ALLOW_HTTP", false),
		WebhookAllowPrivate: p.bool("WEBHOOK_ALLOW_PRIVATE", false),
		WebhookSecretKey:    p.str("WEBHOOK_SECRET_KEY", ""),
		EventRetention:      p.duration("EVENT_RETENTION", 30*24*time.Hour),
	}
	if c.WebhookSecretKey == "" && !c.IsProduction() {
		c.WebhookSecretKey = c.JWTSecret
	}
	// A pago móvil and a Banesco transfer show up at the bank on their own
	// timelines: each may have its own schedule and deadline.
	for _, bank := range Banks {
		if p.str("VERIFY_DEADLINE_"+bank, "") != "" {
			c.VerifyDeadlineByBank[bank] = p.duration("VERIFY_DEADLINE_"+bank, c.VerifyDeadline)
		}
		if p.str("VERIFY_SCHEDULE_"+bank, "") != "" {
			c.VerifyScheduleByBank[bank] = p.durations("VERIFY_SCHEDULE_"+bank, "")
		}
	}
	if p.err != nil {
		return Config{}, p.err
	}
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func (c Config) validate() error {
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("config: DATABASE_URL must be a postgres:// URL")
	}
	if c.Redis().Mode() == redisconn.ModeSingle {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return errors.New("config: REDIS_URL must be a redis:// or rediss:// URL")
		}
	}
	if err := c.Redis().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.IsProduction() && len(c.JWTSecret) < 32 {
		return errors.New("config: JWT_SECRET must be at least 32 bytes in production")
	}
	if len(c.JWTSecret) < 16 {
		return errors.New("config: JWT_SECRET must be at least 16 bytes")
	}
	if c.IsProduction() && (len(c.WebhookSecretKey) < 32 || c.WebhookSecretKey == c.JWTSecret) {
		return errors.New("config: WEBHOOK_SECRET_KEY must be set in production: at least 32 bytes, not JWT_SECRET")
	}
	if len(c.WebhookSecretKey) < 16 {
		return errors.New("config: WEBHOOK_SECRET_KEY must be at least 16 bytes")
	}
	if c.BanescoLimitMargin < time.Millisecond || c.BanescoLimitMargin > time.Second {
		return errors.New("config: BANESCO_LIMIT_MARGIN must be between 1ms and 1s")
	}
	if c.WebhookTimeout < time.Second || c.WebhookTimeout > 5*time.Minute {
		return errors.New("config: WEBHOOK_TIMEOUT must be between 1s and 5m")
	}
	if c.EventRetention < time.Hour {
		return errors.New("config: EVENT_RETENTION must be at least 1h")
	}
	if c.AccessTokenTTL < time.Minute || c.RefreshTokenTTL < c.AccessTokenTTL {
		return errors.New("config: ACCESS_TOKEN_TTL must be ≥ 1m and REFRESH_TOKEN_TTL ≥ ACCESS_TOKEN_TTL")
	}
	if len(c.AdminPassword) < 10 {
		return errors.New("config: ADMIN_PASSWORD must be at least 10 characters")
	}
	if c.WorkerShutdownTimeout < 11*time.Second {
		// Above the bank timeout, so a check in flight finishes before asynq gives
		// its task back to the queue (docs/architecture.md, Asynq).
		return errors.New("config: WORKER_SHUTDOWN_TIMEOUT must be at least 11s (above BANESCO_TIMEOUT)")
	}
	return nil
}

// Redis is where Redis is, for redisconn: the one place that builds the
// connection of every process.
func (c Config) Redis() redisconn.Config {
	return redisconn.Config{URL: c.RedisURL, SentinelAddrs: c.RedisSentinelAddrs, SentinelMaster: c.RedisSentinelMaster,
		SentinelPassword: c.RedisSentinelPassword, ClusterAddrs: c.RedisClusterAddrs, Password: c.RedisPassword, DB: c.RedisDB}
}

// parser collects the first error so Load reads as a flat list of settings.
type parser struct {
	getenv Getenv
	err    error
}

func (p *parser) fail(name, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("config: %s %s", name, fmt.Sprintf(format, args...))
	}
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(p.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "must be one of %s, got %q", strings.Join(allowed, "|"), v)
	return def
}

func (p *parser) int(name string, def, lo, hi int) int {
	raw := p.str(name, "")
	if raw == "" {
		return def
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		p.fail(name, "must be an integer between %d and %d, got %q", lo, hi, raw)
		return def
	}
	return n
}

func (p *parser) bool(name string, def bool) bool {
	raw := p.str(name, "")
	if raw == "" {
		return def
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		p.fail(name, "must be true or false, got %q", raw)
		return def
	}
	return b
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	raw := p.str(name, "")
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		p.fail(name, "must be a positive duration like 30s or 5m, got %q", raw)
		return def
	}
	return d
}

func (p *parser) durations(name, def string) []time.Duration {
	raw := p.str(name, def)
	var out []time.Duration
	for _, part := range strings.Split(raw, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			p.fail(name, "must be a comma-separated list of positive durations, got %q", raw)
			return nil
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) list(name, def string) []string {
	var out []string
	for _, part := range strings.Split(p.str(name, def), ",") {
		if s := strings.TrimSpace(part); s != "" {
			out = append(out, s)
		}
	}
	return out
}
