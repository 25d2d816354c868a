package banesco

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	good := Config{
		TokenURL: "https://sso.example/token", CheckURL: "https://api.example/transactions/financial-account/transactions",
		ClientID: testClientID, ClientSecret: testSecret, AccountID: testAccount,
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "unknown environment", mutate: func(c *Config) { c.Environment = "staging" }, wantErr: "environment"},
		{name: "unknown grant", mutate: func(c *Config) { c.GrantType = "implicit" }, wantErr: "grant type"},
		{name: "token URL missing", mutate: func(c *Config) { c.TokenURL = "" }, wantErr: "token URL"},
		{name: "token URL relative", mutate: func(c *Config) { c.TokenURL = "/token" }, wantErr: "token URL"},
		{name: "check URL bad scheme", mutate: func(c *Config) { c.CheckURL = "ftp://api.example/x" }, wantErr: "check URL"},
		{name: "check URL unparsable", mutate: func(c *Config) { c.CheckURL = "http://[::1" }, wantErr: "check URL"},
		{name: "no client id", mutate: func(c *Config) { c.ClientID = "" }, wantErr: "client id"},
		{name: "no secret", mutate: func(c *Config) { c.ClientSecret = "" }, wantErr: "client secret"},
		{name: "masked account", mutate: func(c *Config) { c.AccountID = "1340************8514" }, wantErr: "20 digits"},
		{name: "short account", mutate: func(c *Config) { c.AccountID = "0134000000000000851" }, wantErr: "20 digits"},
		{name: "no account is fine", mutate: func(c *Config) { c.AccountID = "" }},
		{name: "negative timeout", mutate: func(c *Config) { c.Timeout = -time.Second }, wantErr: "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			tt.mutate(&cfg)
			_, err := New(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want one mentioning %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env, checkURL, want string
	}{
		{EnvironmentQA, "https://api.example", "https://api.example/transactions/financial-account/transactions"},
		{EnvironmentProduction, "https://api.example/", "https://api.example/financial-account/transactions"},
		{EnvironmentProduction, "https://api.example/custom/path", "https://api.example/custom/path"},
		{"", "https://api.example", "https://api.example/transactions/financial-account/transactions"},
	}
	for _, tt := range tests {
		c, err := New(Config{Environment: tt.env, TokenURL: "https://sso.example/token", CheckURL: tt.checkURL, ClientID: "id", ClientSecret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if c.cfg.CheckURL != tt.want {
			t.Errorf("%s %s: CheckURL = %q, want %q", tt.env, tt.checkURL, c.cfg.CheckURL, tt.want)
		}
		if c.cfg.Timeout != 10*time.Second || c.cfg.GrantType != GrantPassword || c.http.Timeout != 10*time.Second {
			t.Errorf("defaults: timeout %s, grant %q, http timeout %s", c.cfg.Timeout, c.cfg.GrantType, c.http.Timeout)
		}
		if c.cfg.Device != (Device{Type: "Server", Description: "verifier", IPAddress: "10.0.0.1"}) {
			t.Errorf("device = %+v", c.cfg.Device)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	prod := map[string]string{
		"BANESCO_ENVIRONMENT":        "production",
		"BANESCO_PROD_AUTH_URL":      "https://sso.bank/token",
		"BANESCO_PROD_API_URL":       "https://api.bank",
		"BANESCO_PROD_CLIENT_ID":     "prod-id",
		"BANESCO_PROD_CLIENT_SECRET": "prod-secret",
		"BANESCO_ACCOUNT_ID":         testAccount,
		// QA values must be ignored in production.
		"BANESCO_QA_CLIENT_ID": "qa-id",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "empty means QA against the local sandbox", env: map[string]string{}, want: Config{
			Environment: "qa", TokenURL: "http://127.0.0.1:8090/token",
			CheckURL: "http://127.0.0.1:8090/transactions/financial-account/transactions",
			ClientID: "sandbox-client", ClientSecret: "sandbox-secret", AccountID: "01340000000000000000", Timeout: 10 * time.Second,
		}},
		{name: "QA overrides", env: map[string]string{
			"BANESCO_QA_AUTH_URL": "https://sso.qa/token", "BANESCO_QA_API_URL": "https://api.qa/transactions/financial-account/transactions",
			"BANESCO_QA_CLIENT_ID": "qa-id", "BANESCO_QA_CLIENT_SECRET": "qa-secret", "BANESCO_GRANT_TYPE": "password",
			"BANESCO_SCOPE": "CONSULTA DE TRANSACCIONES", "BANESCO_TIMEOUT": "3s",
		}, want: Config{
			Environment: "qa", TokenURL: "https://sso.qa/token", CheckURL: "https://api.qa/transactions/financial-account/transactions",
			ClientID: "qa-id", ClientSecret: "qa-secret", GrantType: "password", Scope: "CONSULTA DE TRANSACCIONES",
			AccountID: "01340000000000000000", Timeout: 3 * time.Second,
		}},
		{name: "what public integrations need", env: map[string]string{
			"BANESCO_TRANSFER_BANK_ID": "none", "BANESCO_DATE_MATCH": "exact", "BANESCO_DATE_LOOKBACK_DAYS": "0",
			"BANESCO_CURRENCY": "any", "BANESCO_CONNECT_RETRIES": "100ms,1s", "BANESCO_DEVICE_IP": "200.1.2.3",
		}, want: Config{
			Environment: "qa", TokenURL: "http://127.0.0.1:8090/token",
			CheckURL: "http://127.0.0.1:8090/transactions/financial-account/transactions",
			ClientID: "sandbox-client", ClientSecret: "sandbox-secret", AccountID: "01340000000000000000", Timeout: 10 * time.Second,
			OmitTransferBankID: true, DateMatch: "exact", NoDateLookback: true, AnyCurrency: true,
			ConnectRetries: []time.Duration{100 * time.Millisecond, time.Second}, Device: Device{IPAddress: "200.1.2.3"},
		}},
		{name: "production", env: prod, want: Config{
			Environment: "production", TokenURL: "https://sso.bank/token", CheckURL: "https://api.bank",
			ClientID: "prod-id", ClientSecret: "prod-secret", AccountID: testAccount, Timeout: 10 * time.Second,
		}},
		{name: "production has no defaults", env: map[string]string{"BANESCO_ENVIRONMENT": "production"}, wantErr: "BANESCO_PROD_AUTH_URL"},
		{name: "production without secret", env: with(prod, "BANESCO_PROD_CLIENT_SECRET", ""), wantErr: "BANESCO_PROD_CLIENT_SECRET"},
		{name: "production bad API URL", env: with(prod, "BANESCO_PROD_API_URL", "api.bank"), wantErr: "BANESCO_PROD_API_URL"},
		{name: "unknown environment", env: map[string]string{"BANESCO_ENVIRONMENT": "prod"}, wantErr: "BANESCO_ENVIRONMENT"},
		{name: "bad timeout", env: map[string]string{"BANESCO_TIMEOUT": "10"}, wantErr: "BANESCO_TIMEOUT"},
		{name: "bad grant", env: map[string]string{"BANESCO_GRANT_TYPE": "implicit"}, wantErr: "BANESCO_GRANT_TYPE"},
		{name: "bad account", env: map[string]string{"BANESCO_ACCOUNT_ID": "1340****8514"}, wantErr: "BANESCO_ACCOUNT_ID"},
		{name: "bad transfer bank", env: map[string]string{"BANESCO_TRANSFER_BANK_ID": "134"}, wantErr: "BANESCO_TRANSFER_BANK_ID"},
		{name: "bad date match", env: map[string]string{"BANESCO_DATE_MATCH": "day"}, wantErr: "BANESCO_DATE_MATCH"},
		{name: "bad lookback", env: map[string]string{"BANESCO_DATE_LOOKBACK_DAYS": "-1"}, wantErr: "BANESCO_DATE_LOOKBACK_DAYS"},
		{name: "bad currency", env: map[string]string{"BANESCO_CURRENCY": "B$"}, wantErr: "BANESCO_CURRENCY"},
		{name: "bad connect retries", env: map[string]string{"BANESCO_CONNECT_RETRIES": "300"}, wantErr: "BANESCO_CONNECT_RETRIES"},
		{name: "missing CA file", env: map[string]string{"BANESCO_CA_FILE": "/nonexistent/ca.pem"}, wantErr: "BANESCO_CA_FILE"},
		{name: "bad device IP", env: map[string]string{"BANESCO_DEVICE_IP": "10.0.0"}, wantErr: "BANESCO_DEVICE_IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "prod-secret") {
					t.Errorf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("config\n got %+v\nwant %+v", got, tt.want)
			}
			if _, err := New(got); err != nil {
				t.Errorf("New(ConfigFromEnv()) = %v", err)
			}
		})
	}
}
