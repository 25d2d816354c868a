package banesco

import (
	"fmt"
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
//	BANESCO_GRANT_TYPE         client_credentials (default) | password
//	BANESCO_SCOPE              optional, e.g. "CONSULTA DE TRANSACCIONES"
//	BANESCO_ACCOUNT_ID         merchant's 20-digit account (QA default 01340000000000000000)
//	BANESCO_TIMEOUT            Go duration per HTTP call (default 10s)
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
