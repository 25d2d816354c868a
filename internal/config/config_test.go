package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a Getenv over a map: variables not in it are unset.
func env(vars map[string]string) Getenv {
	return func(name string) string { return vars[name] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load with no variables: %v", err)
	}
	// The defaults the public contract (docs/api.md, Environment) promises.
	checks := []struct {
		name      string
		got, want any
	}{
		{"APP_ENV", c.Environment, "development"},
		{"API_ADDR", c.APIAddr, ":8080"},
		{"WORKER_METRICS_ADDR", c.WorkerMetricsAddr, ":9091"},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"LOG_FORMAT", c.LogFormat, "json"},
		{"ACCESS_TOKEN_TTL", c.AccessTokenTTL, 30 * time.Minute},
		{"AUTH_REGISTRATION", c.AuthRegistration, "open"},
		{"VERIFY_DEADLINE", c.VerifyDeadline, 24 * time.Hour},
		{"VERIFY_SCHEDULE", c.VerifySchedule, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute,
			5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}},
		{"SWEEP_INTERVAL", c.SweepInterval, time.Minute},
		{"BANESCO_PER_TRANSACTION_PER_MINUTE", c.BanescoPerTxPerMinute, 2},
		{"BANESCO_LIMIT_MARGIN", c.BanescoLimitMargin, 40 * time.Millisecond},
		{"CORS_ALLOWED_ORIGINS", c.CORSAllowedOrigins, []string{"http://localhost:3000"}},
		{"WEBHOOK_SCHEDULE", c.WebhookSchedule, []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute,
			2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour}},
		{"WEBHOOK_TIMEOUT", c.WebhookTimeout, 15 * time.Second},
		{"WEBHOOK_CONCURRENCY", c.WebhookConcurrency, 10},
		{"WEBHOOK_POLL_INTERVAL", c.WebhookPollInterval, 100 * time.Millisecond},
		{"WEBHOOK_DISABLE_AFTER", c.WebhookDisableAfter, 120 * time.Hour},
		{"WEBHOOK_ALLOW_HTTP", c.WebhookAllowHTTP, false},
		{"WEBHOOK_ALLOW_PRIVATE", c.WebhookAllowPrivate, false},
		{"EVENT_RETENTION", c.EventRetention, 30 * 24 * time.Hour},
		// Development seals webhook secrets with the JWT key unless told otherwise.
		{"WEBHOOK_SECRET_KEY", c.WebhookSecretKey, c.JWTSecret},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s default = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if c.IsProduction() {
		t.Error("IsProduction() = true by default, want false")
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") || !strings.HasPrefix(c.RedisURL, "redis://") {
		t.Errorf("default URLs = %q, %q; want postgres:// and redis://", c.DatabaseURL, c.RedisURL)
	}
	if c.APIRateLimit <= 0 || c.LoginMaxFailures <= 0 || c.LoginFailureWindow <= 0 || c.WorkerConcurrency <= 0 {
		t.Errorf("limits must default to positive values, got rate %d, failures %d, window %v, concurrency %d",
			c.APIRateLimit, c.LoginMaxFailures, c.LoginFailureWindow, c.WorkerConcurrency)
	}
}

func TestLoadOverrides(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{
		"APP_ENV":                         "Production",
		"JWT_SECRET":                      strings.Repeat("s", 32),
		"WEBHOOK_SECRET_KEY":              strings.Repeat("w", 40),
		"LOG_FORMAT":                      "CONSOLE",
		"LOG_LEVEL":                       " debug ",
		"API_RATE_LIMIT":                  "6",
		"VERIFY_SCHEDULE":                 "5s, 10s ,1m",
		"VERIFY_SCHEDULE_BANESCO":         "1m,1h",
		"VERIFY_DEADLINE_MOBILE_TRANSFER": "72h",
		"CORS_ALLOWED_ORIGINS":            "https://a.example, ,https://b.example",
		"AUTH_REGISTRATION":               "closed",
		"DATABASE_URL":                    "postgresql://u@db:5432/v",
		"REDIS_URL":                       "rediss://cache:6380/1",
		"ACCESS_TOKEN_TTL":                "1m",
		"REFRESH_TOKEN_TTL":               "1m",
		"MONITORING_READ_ONLY":            "true",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !c.IsProduction() || c.LogFormat != "console" || c.LogLevel != "debug" || c.APIRateLimit != 6 ||
		c.AuthRegistration != "closed" || !c.MonitoringReadOnly || c.AccessTokenTTL != time.Minute {
		t.Errorf("overrides not applied: %+v", c)
	}
	if want := []time.Duration{5 * time.Second, 10 * time.Second, time.Minute}; !reflect.DeepEqual(c.VerifySchedule, want) {
		t.Errorf("VerifySchedule = %v, want %v", c.VerifySchedule, want)
	}
	// Per bank: each bank's own where set, the general one elsewhere.
	if got, want := c.ScheduleFor("BANESCO"), []time.Duration{time.Minute, time.Hour}; !reflect.DeepEqual(got, want) {
		t.Errorf("ScheduleFor(BANESCO) = %v, want %v", got, want)
	}
	if got := c.ScheduleFor("MOBILE_TRANSFER"); !reflect.DeepEqual(got, c.VerifySchedule) {
		t.Errorf("ScheduleFor(MOBILE_TRANSFER) = %v, want VERIFY_SCHEDULE %v", got, c.VerifySchedule)
	}
	if c.DeadlineFor("MOBILE_TRANSFER") != 72*time.Hour || c.DeadlineFor("BANESCO") != 24*time.Hour {
		t.Errorf("DeadlineFor = %v (MOBILE_TRANSFER), %v (BANESCO); want 72h and the default 24h",
			c.DeadlineFor("MOBILE_TRANSFER"), c.DeadlineFor("BANESCO"))
	}
	if want := []string{"https://a.example", "https://b.example"}; !reflect.DeepEqual(c.CORSAllowedOrigins, want) {
		t.Errorf("CORSAllowedOrigins = %q, want %q", c.CORSAllowedOrigins, want)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	t.Parallel()
	shortSecret := "only-31-bytes-long-secret-value"
	tests := []struct {
		name    string
		vars    map[string]string
		wantVar string
	}{
		{"rate limit not a number", map[string]string{"API_RATE_LIMIT": "abc"}, "API_RATE_LIMIT"},
		{"rate limit zero", map[string]string{"API_RATE_LIMIT": "0"}, "API_RATE_LIMIT"},
		{"log format xml", map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{"log level verbose", map[string]string{"LOG_LEVEL": "verbose"}, "LOG_LEVEL"},
		{"schedule with garbage", map[string]string{"VERIFY_SCHEDULE": "1m,x"}, "VERIFY_SCHEDULE"},
		{"schedule with negative", map[string]string{"VERIFY_SCHEDULE": "1m,-5s"}, "VERIFY_SCHEDULE"},
		{"schedule with empty item", map[string]string{"VERIFY_SCHEDULE": "1m,,2m"}, "VERIFY_SCHEDULE"},
		{"bank schedule with garbage", map[string]string{"VERIFY_SCHEDULE_BANESCO": "1m,soon"}, "VERIFY_SCHEDULE_BANESCO"},
		{"bank deadline negative", map[string]string{"VERIFY_DEADLINE_MOBILE_TRANSFER": "-1h"}, "VERIFY_DEADLINE_MOBILE_TRANSFER"},
		{"short secret in production", map[string]string{"APP_ENV": "production", "JWT_SECRET": shortSecret}, "JWT_SECRET"},
		{"very short secret anywhere", map[string]string{"JWT_SECRET": "tooshort"}, "JWT_SECRET"},
		{"database url mysql", map[string]string{"DATABASE_URL": "mysql://root@localhost/verifier"}, "DATABASE_URL"},
		{"database url not a url", map[string]string{"DATABASE_URL": "::nope"}, "DATABASE_URL"},
		{"redis url http", map[string]string{"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"},
		{"sentinel without a master name", map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379"}, "REDIS_SENTINEL_MASTER"},
		{"sentinel and cluster", map[string]string{"REDIS_SENTINEL_ADDRS": "a:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_CLUSTER_ADDRS": "b:2"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster address without port", map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1"}, "REDIS_CLUSTER_ADDRS"},
		{"cluster with a database", map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000", "REDIS_DB": "2"}, "REDIS_DB"},
		{"redis db out of range", map[string]string{"REDIS_DB": "16"}, "REDIS_DB"},
		{"unknown app env", map[string]string{"APP_ENV": "staging"}, "APP_ENV"},
		{"registration maybe", map[string]string{"AUTH_REGISTRATION": "maybe"}, "AUTH_REGISTRATION"},
		{"ttl without unit", map[string]string{"ACCESS_TOKEN_TTL": "30"}, "ACCESS_TOKEN_TTL"},
		{"ttl under a minute", map[string]string{"ACCESS_TOKEN_TTL": "30s"}, "ACCESS_TOKEN_TTL"},
		{"refresh shorter than access", map[string]string{"REFRESH_TOKEN_TTL": "10m"}, "REFRESH_TOKEN_TTL"},
		{"short admin password", map[string]string{"ADMIN_PASSWORD": "short"}, "ADMIN_PASSWORD"},
		{"shutdown below bank timeout", map[string]string{"WORKER_SHUTDOWN_TIMEOUT": "5s"}, "WORKER_SHUTDOWN_TIMEOUT"},
		{"bool not a bool", map[string]string{"MONITORING_READ_ONLY": "perhaps"}, "MONITORING_READ_ONLY"},
		{"max conns zero", map[string]string{"DATABASE_MAX_CONNS": "0"}, "DATABASE_MAX_CONNS"},
		{"negative concurrency", map[string]string{"WORKER_CONCURRENCY": "-1"}, "WORKER_CONCURRENCY"},
		{"zero sweep interval", map[string]string{"SWEEP_INTERVAL": "0s"}, "SWEEP_INTERVAL"},
		{"deadline not a duration", map[string]string{"VERIFY_DEADLINE": "tomorrow"}, "VERIFY_DEADLINE"},
		{"per-transaction limit too high", map[string]string{"BANESCO_PER_TRANSACTION_PER_MINUTE": "61"}, "BANESCO_PER_TRANSACTION_PER_MINUTE"},
		{"login failures not a number", map[string]string{"LOGIN_MAX_FAILURES": "five"}, "LOGIN_MAX_FAILURES"},
		{"webhook key missing in production", map[string]string{"APP_ENV": "production", "JWT_SECRET": strings.Repeat("k", 32)}, "WEBHOOK_SECRET_KEY"},
		{"webhook key is the jwt key in production", map[string]string{"APP_ENV": "production", "JWT_SECRET": strings.Repeat("k", 32),
			"WEBHOOK_SECRET_KEY": strings.Repeat("k", 32)}, "WEBHOOK_SECRET_KEY"},
		{"webhook key short", map[string]string{"WEBHOOK_SECRET_KEY": "short"}, "WEBHOOK_SECRET_KEY"},
		{"webhook schedule garbage", map[string]string{"WEBHOOK_SCHEDULE": "5s,soon"}, "WEBHOOK_SCHEDULE"},
		{"webhook concurrency zero", map[string]string{"WEBHOOK_CONCURRENCY": "0"}, "WEBHOOK_CONCURRENCY"},
		{"webhook timeout zero", map[string]string{"WEBHOOK_TIMEOUT": "0s"}, "WEBHOOK_TIMEOUT"},
		{"limit margin under a millisecond", map[string]string{"BANESCO_LIMIT_MARGIN": "500us"}, "BANESCO_LIMIT_MARGIN"},
		{"limit margin over a second", map[string]string{"BANESCO_LIMIT_MARGIN": "2s"}, "BANESCO_LIMIT_MARGIN"},
		{"webhook allow http perhaps", map[string]string{"WEBHOOK_ALLOW_HTTP": "perhaps"}, "WEBHOOK_ALLOW_HTTP"},
		{"event retention a minute", map[string]string{"EVENT_RETENTION": "1m"}, "EVENT_RETENTION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(env(tt.vars))
			if err == nil {
				t.Fatalf("Load(%v) = nil error, want one naming %s", tt.vars, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("error %q does not name %s", err, tt.wantVar)
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("Load returned a config along with the error: %+v", c)
			}
			if secret := tt.vars["JWT_SECRET"]; secret != "" && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q leaks the JWT secret", err)
			}
		})
	}
}

func TestLoadProductionAcceptsLongSecret(t *testing.T) {
	t.Parallel()
	if _, err := Load(env(map[string]string{"APP_ENV": "production", "JWT_SECRET": strings.Repeat("k", 32),
		"WEBHOOK_SECRET_KEY": strings.Repeat("w", 32)})); err != nil {
		t.Fatalf("a 32-byte secret in production must load: %v", err)
	}
}

// TestRedisTopologyWinsOverURL: with Sentinel or Cluster configured, a
// REDIS_URL left in the environment is ignored (not even validated), and
// every process gets the same topology from Config.Redis.
func TestRedisTopologyWinsOverURL(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"REDIS_URL": "not a url", "REDIS_SENTINEL_ADDRS": "10.0.0.1:26379, 10.0.0.2:26379",
		"REDIS_SENTINEL_MASTER": "verifier", "REDIS_PASSWORD": "pw", "REDIS_DB": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redis()
	if r.Mode() != "sentinel" || len(r.SentinelAddrs) != 2 || r.SentinelAddrs[1] != "10.0.0.2:26379" || r.SentinelMaster != "verifier" || r.Password != "pw" || r.DB != 3 {
		t.Errorf("redis = %+v", r)
	}
	c, err = Load(env(map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000"}))
	if err != nil || c.Redis().Mode() != "cluster" || len(c.Redis().ClusterAddrs) != 3 {
		t.Errorf("cluster: %+v %v", c.Redis(), err)
	}
	if c, err := Load(env(nil)); err != nil || c.Redis().Mode() != "single" || c.Redis().URL != "redis://127.0.0.1:6379/0" {
		t.Errorf("default: %+v %v", c.Redis(), err)
	}
}
