package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}

	addr, cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if addr != ":8090" || cfg.Flavor != "qa" || !cfg.Demo || cfg.MaxRPS != 50 ||
		cfg.PerReferencePerMinute != 2 || cfg.SettleAfter != 15*time.Second || cfg.TokenTTL != 300*time.Second {
		t.Fatalf("defaults: %s %+v", addr, cfg)
	}

	_, cfg, err = loadConfig(env(map[string]string{
		"SANDBOX_FLAVOR": "production", "SANDBOX_DEMO": "false", "SANDBOX_FAULT_SLOW": "0.25",
		"SANDBOX_FAULT_SLOW_DELAY": "3s", "SANDBOX_REFUSE_CLIENT_CREDENTIALS": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Flavor != "production" || cfg.Demo || cfg.Faults.Slow != 0.25 || cfg.Faults.SlowDelay != 3*time.Second || !cfg.RefuseClientCredentials {
		t.Fatalf("overrides: %+v", cfg)
	}

	for name, want := range map[string]string{
		"SANDBOX_MAX_RPS":            "SANDBOX_MAX_RPS",
		"SANDBOX_SETTLE_AFTER":       "SANDBOX_SETTLE_AFTER",
		"SANDBOX_FAULT_MALFORMED":    "SANDBOX_FAULT_MALFORMED",
		"SANDBOX_DEMO":               "SANDBOX_DEMO",
		"SANDBOX_FLAVOR":             "flavor",
		"SANDBOX_ACCOUNT_ID":         "account id",
		"SANDBOX_FAULT_TOKEN_TTL":    "SANDBOX_FAULT_TOKEN_TTL",
		"SANDBOX_FAULT_SERVER_ERROR": "SANDBOX_FAULT_SERVER_ERROR",
	} {
		_, _, err := loadConfig(env(map[string]string{name: "7x"}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=7x: error %v, want one naming %s", name, err, want)
		}
	}
}
