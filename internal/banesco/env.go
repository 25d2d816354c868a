package banesco

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Local sandbox defaults for QA, so `go run ./cmd/...` works against
// internal/banksandbox without any configuration.
const (
	sandboxTokenURL = "http://127.0.0.1:8090/token"
	sandboxCheckURL = "http://127.0.0.1:8090" + qaCheckPath
	sandboxClientID = "sandbox-client"
	sandboxSecret   = "sandbox-secret"
	sandboxAccount  = "01340000000000000000"
)

// ConfigFromEnv builds a Config from environment variables (pass os.Getenv).
//
//	BANESCO_ENVIRONMENT        qa (default) | production
//	BANESCO_QA_AUTH_URL        QA token URL      (default http://127.0.0.1:8090/token)
//	BANESCO_QA_API_URL         QA check URL      (default http://127.0.0.1:8090/transactions/financial-account/transactions)
//	BANESCO_QA_CLIENT_ID       (default sandbox-client)
//	BANESCO_QA_CLIENT_SECRET   (default sandbox-secret)
//	BANESCO_PROD_AUTH_URL      production token URL (required in production)
//	BANESCO_PROD_API_URL       production check URL (required in production)
//	BANESCO_PROD_CLIENT_ID     (required in production)
//	BANESCO_PROD_CLIENT_SECRET (required in production)
//	BANESCO_GRANT_TYPE         password (default) | client_credentials
//	BANESCO_SCOPE              optional, e.g. "CONSULTA DE TRANSACCIONES"
//	BANESCO_ACCOUNT_ID         merchant's 20-digit account (QA default 01340000000000000000)
//	BANESCO_TIMEOUT            Go duration per HTTP call (default 10s)
//	BANESCO_TRANSFER_BANK_ID   bankId of transfer queries (default 0134; "none" leaves it out)
//	BANESCO_DATE_MATCH         range (default: startDt starts a range to today) | exact
//	BANESCO_DATE_LOOKBACK_DAYS days before paid_on that a pago móvil query starts (default 1)
//	BANESCO_CURRENCY           currencyCode a row must have to confirm (default BS; "any" skips)
//	BANESCO_CONNECT_RETRIES    waits before re-sending a check that never reached the bank
//	                           (default 300ms,900ms,2s; "none" turns them off)
//	BANESCO_CA_FILE            PEM file of extra CAs to trust for the bank's hosts
//	BANESCO_DEVICE_IP          device.ipAddress of every check: our egress IP (default 10.0.0.1)
//	BANESCO_MAINTENANCE_WINDOW the bank's nightly window, Venezuela time, e.g. 02:00-06:00
//	                           (default none): checks due in it wait for its end
//
// The QA defaults point at the local sandbox. The real hosts (bank-api.md) are:
//
//	QA token: https://sso-sso-project.apps.desplakur3.desintra.banesco.com/auth/realms/realm-api-qa/protocol/openid-connect/token
//	QA check: https://sid-validador-consulta-de-transacciones-api-qa-production.apps.desplakur3.desintra.banesco.com/transactions/financial-account/transactions
//	Production check: <host>/financial-account/transactions (no /transactions prefix)
//
// An API URL given as a bare host gets the environment's check path appended.
// Errors name the variable at fault and never echo a secret.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Environment: getenv("BANESCO_ENVIRONMENT"),
		GrantType:   getenv("BANESCO_GRANT_TYPE"),
		Scope:       getenv("BANESCO_SCOPE"),
		AccountID:   getenv("BANESCO_ACCOUNT_ID"),
	}
	if cfg.Environment == "" {
		cfg.Environment = EnvironmentQA
	}

	// or returns def when the variable is unset; in production def is "" so a
	// missing variable is an error below.
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var prefix string
	switch cfg.Environment {
	case EnvironmentQA:
		prefix = "BANESCO_QA_"
		cfg.TokenURL = or(prefix+"AUTH_URL", sandboxTokenURL)
		cfg.CheckURL = or(prefix+"API_URL", sandboxCheckURL)
		cfg.ClientID = or(prefix+"CLIENT_ID", sandboxClientID)
		cfg.ClientSecret = or(prefix+"CLIENT_SECRET", sandboxSecret)
		if cfg.AccountID == "" {
			cfg.AccountID = sandboxAccount
		}
	case EnvironmentProduction:
		prefix = "BANESCO_PROD_"
		cfg.TokenURL = getenv(prefix + "AUTH_URL")
		cfg.CheckURL = getenv(prefix + "API_URL")
		cfg.ClientID = getenv(prefix + "CLIENT_ID")
		cfg.ClientSecret = getenv(prefix + "CLIENT_SECRET")
	default:
		return Config{}, fmt.Errorf("BANESCO_ENVIRONMENT %q: want qa or production", cfg.Environment)
	}

	required := []struct{ name, value string }{
		{prefix + "AUTH_URL", cfg.TokenURL},
		{prefix + "API_URL", cfg.CheckURL},
		{prefix + "CLIENT_ID", cfg.ClientID},
		{prefix + "CLIENT_SECRET", cfg.ClientSecret},
	}
	for _, r := range required {
		if r.value == "" {
			return Config{}, fmt.Errorf("%s is required when BANESCO_ENVIRONMENT=%s", r.name, cfg.Environment)
		}
	}
	if _, err := parseHTTPURL(cfg.TokenURL); err != nil {
		return Config{}, fmt.Errorf("%sAUTH_URL: %w", prefix, err)
	}
	if _, err := parseHTTPURL(cfg.CheckURL); err != nil {
		return Config{}, fmt.Errorf("%sAPI_URL: %w", prefix, err)
	}
	if cfg.GrantType != "" && cfg.GrantType != GrantClientCredentials && cfg.GrantType != GrantPassword {
		return Config{}, fmt.Errorf("BANESCO_GRANT_TYPE %q: want client_credentials or password", cfg.GrantType)
	}
	if cfg.AccountID != "" && !isDigits(cfg.AccountID, 20, 20) {
		return Config{}, fmt.Errorf("BANESCO_ACCOUNT_ID must be exactly 20 digits (got %d characters)", len(cfg.AccountID))
	}
	if err := transferBankFromEnv(&cfg, getenv("BANESCO_TRANSFER_BANK_ID")); err != nil {
		return Config{}, err
	}
	cfg.DateMatch = getenv("BANESCO_DATE_MATCH")
	if cfg.DateMatch != "" && cfg.DateMatch != DateMatchRange && cfg.DateMatch != DateMatchExact {
		return Config{}, fmt.Errorf("BANESCO_DATE_MATCH %q: want range or exact", cfg.DateMatch)
	}
	if raw := getenv("BANESCO_DATE_LOOKBACK_DAYS"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > 31 {
			return Config{}, fmt.Errorf("BANESCO_DATE_LOOKBACK_DAYS %q: want 0 to 31", raw)
		}
		cfg.DateLookbackDays, cfg.NoDateLookback = n, n == 0
	}
	switch raw := strings.TrimSpace(getenv("BANESCO_CURRENCY")); {
	case strings.EqualFold(raw, "any"):
		cfg.AnyCurrency = true
	case raw != "" && !isLetters(raw):
		return Config{}, fmt.Errorf("BANESCO_CURRENCY %q: want a currency code such as BS, or any", raw)
	default:
		cfg.Currency = raw
	}
	if raw := getenv("BANESCO_CONNECT_RETRIES"); raw != "" {
		if raw == "none" {
			cfg.NoConnectRetries = true
		} else {
			waits, err := durations(raw)
			if err != nil {
				return Config{}, fmt.Errorf("BANESCO_CONNECT_RETRIES %q: %v (or none)", raw, err)
			}
			cfg.ConnectRetries = waits
		}
	}
	if f := getenv("BANESCO_CA_FILE"); f != "" {
		if _, err := certPool(f); err != nil {
			return Config{}, fmt.Errorf("BANESCO_CA_FILE: %w", err)
		}
		cfg.CAFile = f
	}
	if ip := getenv("BANESCO_DEVICE_IP"); ip != "" {
		if net.ParseIP(ip) == nil {
			return Config{}, fmt.Errorf("BANESCO_DEVICE_IP %q: want an IP address", ip)
		}
		cfg.Device.IPAddress = ip
	}
	if raw := getenv("BANESCO_MAINTENANCE_WINDOW"); raw != "" {
		w, err := ParseWindow(raw)
		if err != nil {
			return Config{}, fmt.Errorf("BANESCO_MAINTENANCE_WINDOW %q: %v", raw, err)
		}
		cfg.MaintenanceWindow = w
	}
	if raw := getenv("BANESCO_TIMEOUT"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("BANESCO_TIMEOUT %q: want a positive Go duration such as 10s", raw)
		}
		cfg.Timeout = d
	} else {
		cfg.Timeout = defaultTimeout
	}
	return cfg, nil
}

// transferBankFromEnv reads BANESCO_TRANSFER_BANK_ID: 4 digits, "none", or unset (0134).
func transferBankFromEnv(cfg *Config, raw string) error {
	switch {
	case raw == "":
	case raw == "none":
		cfg.OmitTransferBankID = true
	case isDigits(raw, 4, 4):
		cfg.TransferBankID = raw
	default:
		return fmt.Errorf("BANESCO_TRANSFER_BANK_ID %q: want 4 digits or none", raw)
	}
	return nil
}

// durations parses "300ms,900ms,2s": each positive, at most a minute.
func durations(raw string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(raw, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 || d > time.Minute {
			return nil, fmt.Errorf("want positive Go durations up to 1m, comma-separated")
		}
		out = append(out, d)
	}
	return out, nil
}

// isLetters reports whether s is 1 to 8 ASCII letters.
func isLetters(s string) bool {
	if len(s) == 0 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return true
}
