package banesco

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
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
	// GrantType is GrantPassword (default: every public integration uses it;
	// the bank refuses client_credentials to most clients) or GrantClientCredentials.
	GrantType string
	Scope     string // optional, e.g. "CONSULTA DE TRANSACCIONES"
	AccountID string // merchant's 20-digit Banesco account, needed for ModeTransfer
	// TransferBankID is the bankId sent with transfer queries (default
	// "0134"; the bank's manual lists it as required). OmitTransferBankID
	// leaves it out, as some older clients do.
	TransferBankID     string
	OmitTransferBankID bool
	// DateMatch is DateMatchRange (default): a pago móvil query starts
	// DateLookbackDays before the payment date and rows from then to today
	// match, as the bank's startDt is the start of a range; or DateMatchExact:
	// startDt is the payment date and only rows of that day match.
	DateMatch string
	// DateLookbackDays (default 1; NoDateLookback for 0): a customer may
	// report the day after paying, and a payment just before midnight may be
	// booked the next day.
	DateLookbackDays int
	NoDateLookback   bool
	// Currency is what a row's currencyCode must be to confirm (default "BS");
	// AnyCurrency skips the check.
	Currency    string
	AnyCurrency bool
	// ConnectRetries are the waits before re-sending a check that never
	// reached the bank (connection refused, reset before the request was
	// written). Default 300ms, 900ms, 2s; NoConnectRetries turns them off.
	ConnectRetries   []time.Duration
	NoConnectRetries bool
	// CAFile is a PEM file of extra certificate authorities to trust for the
	// bank's hosts (QA has used a private CA), besides the system's.
	// Verification is never turned off.
	CAFile string
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
	// Now is the clock ("today" for date ranges); time.Now when nil.
	Now func() time.Time
	// MaintenanceWindow is the bank's known nightly window; empty by default.
	MaintenanceWindow Window
	// WrapTransport, when set, wraps the finished transport (CA file
	// included), token and check calls alike. The certification kit
	// (internal/certify) records the exchanges through it for its evidence, so
	// what it shows is what the production path sent and received.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Date matching modes of pago móvil queries.
const (
	DateMatchRange = "range"
	DateMatchExact = "exact"
)

// withDefaults returns cfg with defaults filled in and validates it.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Environment == "" {
		cfg.Environment = EnvironmentQA
	}
	if cfg.Environment != EnvironmentQA && cfg.Environment != EnvironmentProduction {
		return cfg, fmt.Errorf("environment %q: want %q or %q", cfg.Environment, EnvironmentQA, EnvironmentProduction)
	}
	if cfg.GrantType == "" {
		cfg.GrantType = GrantPassword
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
	if cfg.Device.Type == "" {
		cfg.Device.Type = "Server"
	}
	if cfg.Device.Description == "" {
		cfg.Device.Description = "verifier"
	}
	if cfg.Device.IPAddress == "" {
		cfg.Device.IPAddress = "10.0.0.1"
	}
	if cfg.TransferBankID == "" {
		cfg.TransferBankID = "0134"
	}
	if !isDigits(cfg.TransferBankID, 4, 4) {
		return cfg, fmt.Errorf("transfer bank id %q: want 4 digits", cfg.TransferBankID)
	}
	switch cfg.DateMatch {
	case "":
		cfg.DateMatch = DateMatchRange
	case DateMatchRange, DateMatchExact:
	default:
		return cfg, fmt.Errorf("date match %q: want %q or %q", cfg.DateMatch, DateMatchRange, DateMatchExact)
	}
	switch {
	case cfg.NoDateLookback:
		cfg.DateLookbackDays = 0
	case cfg.DateLookbackDays == 0:
		cfg.DateLookbackDays = 1
	case cfg.DateLookbackDays < 0 || cfg.DateLookbackDays > 31:
		return cfg, fmt.Errorf("date lookback %d days: want 0 to 31", cfg.DateLookbackDays)
	}
	if cfg.Currency == "" {
		cfg.Currency = "BS"
	}
	cfg.Currency = strings.ToUpper(strings.TrimSpace(cfg.Currency))
	if cfg.ConnectRetries == nil && !cfg.NoConnectRetries {
		cfg.ConnectRetries = []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 2 * time.Second}
	}
	if cfg.NoConnectRetries {
		cfg.ConnectRetries = nil
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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

// idleConnsPerHost is how many connections to the bank a client keeps open
// between checks. Go's default transport keeps 2: with the bank ~50–100 ms
// away and Q checks a second, Q × RTT requests are in flight at once (10 at
// Q = 100), so all but 2 of them would open a new TCP connection and TLS
// handshake per check — CPU on both sides and a round trip or two more on
// each check. 128 covers the default WORKER_CONCURRENCY with room.
const idleConnsPerHost = 128

// httpClient returns a copy of cfg.HTTPClient (or a fresh client whose
// transport keeps idleConnsPerHost connections) bounded by cfg.Timeout, so a
// hung bank can never hold a worker forever. With CAFile it trusts those
// authorities too, on top of the system's.
func (cfg Config) httpClient() (*http.Client, error) {
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns, t.MaxIdleConnsPerHost = idleConnsPerHost, idleConnsPerHost
		hc.Transport = t
	}
	if hc.Timeout == 0 || hc.Timeout > cfg.Timeout {
		hc.Timeout = cfg.Timeout
	}
	if cfg.CAFile != "" {
		pool, err := certPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		base, ok := hc.Transport.(*http.Transport)
		if hc.Transport == nil {
			base, ok = http.DefaultTransport.(*http.Transport), true
		}
		if !ok {
			return nil, fmt.Errorf("CA file: the HTTP client's transport is not an *http.Transport")
		}
		t := base.Clone()
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		t.TLSClientConfig.RootCAs = pool
		hc.Transport = t
	}
	if cfg.WrapTransport != nil {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = cfg.WrapTransport(base)
	}
	return &hc, nil
}

// certPool is the system's roots plus the PEM certificates in file.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// Window is a daily time range in Venezuela time, such as 02:00-06:00 (it may
// cross midnight). The zero Window is empty.
type Window struct {
	Start, End time.Duration // since midnight, Venezuela time
}

// ParseWindow reads "HH:MM-HH:MM".
func ParseWindow(s string) (Window, error) {
	a, b, ok := strings.Cut(s, "-")
	start, err1 := time.Parse("15:04", strings.TrimSpace(a))
	end, err2 := time.Parse("15:04", strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || start.Equal(end) {
		return Window{}, fmt.Errorf("want HH:MM-HH:MM (Venezuela time), e.g. 02:00-06:00")
	}
	since := func(t time.Time) time.Duration {
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	return Window{Start: since(start), End: since(end)}, nil
}

// Until reports whether t is inside the window and, if so, when it ends.
func (w Window) Until(t time.Time) (time.Time, bool) {
	if w.Start == w.End {
		return time.Time{}, false
	}
	local := t.In(venezuela)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, venezuela)
	since := local.Sub(midnight)
	switch {
	case w.Start < w.End && since >= w.Start && since < w.End:
		return midnight.Add(w.End), true
	case w.Start > w.End && since >= w.Start:
		return midnight.Add(24*time.Hour + w.End), true
	case w.Start > w.End && since < w.End:
		return midnight.Add(w.End), true
	}
	return time.Time{}, false
}
