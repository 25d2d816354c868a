package banesco

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/rs/zerolog"
)

// Environments the bank offers. Each has its own hosts and credentials.
const (
	EnvironmentQA         = "qa"
	EnvironmentProduction = "production"
)

// Grant types seen in the wild at the bank's Keycloak (bank-api.md §1).
const (
	GrantClientCredentials = "client_credentials"
	GrantPassword          = "password"
)

// Default check paths. Production has no /transactions prefix, so the path is
// configuration; these are only used when a check URL is given without a path.
const (
	qaCheckPath         = "/transactions/financial-account/transactions"
	productionCheckPath = "/financial-account/transactions"
)

const defaultTimeout = 10 * time.Second

// Device is the "device" object the bank wants in every check request.
type Device struct {
	Type        string
	Description string
	IPAddress   string
}

// Config configures a Client. Build it with ConfigFromEnv in main, or by hand
// in tests; New validates it and fills in defaults.
type Config struct {
	Environment  string // EnvironmentQA (default) or EnvironmentProduction
	TokenURL     string // full Keycloak token URL
	CheckURL     string // full check URL; a bare host gets the environment's default path
	ClientID     string
	ClientSecret string
	GrantType    string // GrantClientCredentials (default) or GrantPassword
	Scope        string // optional, e.g. "CONSULTA DE TRANSACCIONES"
	AccountID    string // merchant's 20-digit Banesco account, needed for ModeTransfer
	// Timeout bounds every HTTP call, token and check alike (default 10s).
	Timeout time.Duration
	// Device defaults to {Server, verifier, 10.0.0.1}.
	Device Device
	// HTTPClient is optional; it is copied, never modified, and gets Timeout
	// when it has none.
	HTTPClient *http.Client
	// Metrics is optional; nil records nothing.
	Metrics *Metrics
	// Logger receives one line per bank call. It never sees tokens, secrets,
	// phones or national ids; only the last digits of references.
	Logger zerolog.Logger
}

// withDefaults returns cfg with defaults filled in and validates it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Environment == "" {
		cfg.Environment = EnvironmentQA
	}
	if cfg.Environment != EnvironmentQA && cfg.Environment != EnvironmentProduction {
		return cfg, fmt.Errorf("environment %q: want %q or %q", cfg.Environment, EnvironmentQA, EnvironmentProduction)
	}
	if cfg.GrantType == "" {
		cfg.GrantType = GrantClientCredentials
	}
	if cfg.GrantType != GrantClientCredentials && cfg.GrantType != GrantPassword {
		return cfg, fmt.Errorf("grant type %q: want %q or %q", cfg.GrantType, GrantClientCredentials, GrantPassword)
	}
	if _, err := parseHTTPURL(cfg.TokenURL); err != nil {
		return cfg, fmt.Errorf("token URL: %w", err)
	}
	checkURL, err := parseHTTPURL(cfg.CheckURL)
	if err != nil {
		return cfg, fmt.Errorf("check URL: %w", err)
	}
	if checkURL.Path == "" || checkURL.Path == "/" {
		checkURL.Path = qaCheckPath
		if cfg.Environment == EnvironmentProduction {
			checkURL.Path = productionCheckPath
		}
		cfg.CheckURL = checkURL.String()
	}
	if cfg.ClientID == "" {
		return cfg, fmt.Errorf("client id is empty")
	}
	if cfg.ClientSecret == "" {
		return cfg, fmt.Errorf("client secret is empty")
	}
	if cfg.AccountID != "" && !isDigits(cfg.AccountID, 20, 20) {
		// Never echo the account: a masked one ("1340****") is the usual mistake.
		return cfg, fmt.Errorf("account id must be exactly 20 digits (got %d characters)", len(cfg.AccountID))
	}
	if cfg.Timeout < 0 {
		return cfg, fmt.Errorf("timeout %s is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.Device == (Device{}) {
		cfg.Device = Device{Type: "Server", Description: "verifier", IPAddress: "10.0.0.1"}
	}
	return cfg, nil
}

// parseHTTPURL accepts only absolute http(s) URLs with a host.
func parseHTTPURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host")
	}
	return u, nil
}

// isDigits reports whether s is only ASCII digits with a length in [minLen, maxLen].
func isDigits(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// httpClient returns a copy of cfg.HTTPClient (or a fresh client) bounded by
// cfg.Timeout, so a hung bank can never hold a worker forever.
func (cfg Config) httpClient() *http.Client {
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	if hc.Timeout == 0 || hc.Timeout > cfg.Timeout {
		hc.Timeout = cfg.Timeout
	}
	return &hc
}
