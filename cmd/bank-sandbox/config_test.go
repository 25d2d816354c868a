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

	addr, cfg, tlsFiles, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	// By default the sandbox is the bank as public integrations describe it.
	if addr != ":8090" || cfg.Flavor != "qa" || !cfg.Demo || cfg.MaxRPS != 50 ||
		cfg.PerReferencePerMinute != 2 || cfg.SettleAfter != 15*time.Second || cfg.TokenTTL != 300*time.Second ||
		!cfg.RefuseClientCredentials || cfg.TransferWithoutBankID || cfg.MaxRangeDays != 31 || tlsFiles[0] != "" {
		t.Fatalf("defaults: %s %+v", addr, cfg)
	}

	_, cfg, tlsFiles, err = loadConfig(env(map[string]string{
		"SANDBOX_FLAVOR": "production", "SANDBOX_DEMO": "false", "SANDBOX_FAULT_SLOW": "0.25",
		"SANDBOX_FAULT_SLOW_DELAY": "3s", "SANDBOX_REFUSE_CLIENT_CREDENTIALS": "false",
		"SANDBOX_TRANSFER_WITHOUT_BANK_ID": "true", "SANDBOX_MAX_RANGE_DAYS": "3",
		"SANDBOX_MAINTENANCE_WINDOW": "02:00-06:00", "SANDBOX_FAULT_MAINTENANCE_FOR": "70s",
		"SANDBOX_FAULT_MAINTENANCE_CODE": "VRN04", "SANDBOX_FAULT_RANGE_TOO_WIDE_ONCE": "true",
		"SANDBOX_FAULT_TOKEN_REFUSAL": "invalid_client", "SANDBOX_TLS_CERT": "c.pem", "SANDBOX_TLS_KEY": "k.pem",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Flavor != "production" || cfg.Demo || cfg.Faults.Slow != 0.25 || cfg.Faults.SlowDelay != 3*time.Second || cfg.RefuseClientCredentials ||
		!cfg.TransferWithoutBankID || cfg.MaxRangeDays != 3 || cfg.MaintenanceWindow.Start != 2*time.Hour || cfg.MaintenanceWindow.End != 6*time.Hour ||
		cfg.Faults.MaintenanceFor != 70*time.Second || cfg.Faults.MaintenanceCode != "VRN04" || !cfg.Faults.RangeTooWideOnce ||
		cfg.Faults.TokenRefusal != "invalid_client" || tlsFiles != [2]string{"c.pem", "k.pem"} {
		t.Fatalf("overrides: %+v %v", cfg, tlsFiles)
	}

	for name, want := range map[string]string{
		"SANDBOX_MAX_RPS":                "SANDBOX_MAX_RPS",
		"SANDBOX_SETTLE_AFTER":           "SANDBOX_SETTLE_AFTER",
		"SANDBOX_FAULT_MALFORMED":        "SANDBOX_FAULT_MALFORMED",
		"SANDBOX_DEMO":                   "SANDBOX_DEMO",
		"SANDBOX_FLAVOR":                 "flavor",
		"SANDBOX_ACCOUNT_ID":             "account id",
		"SANDBOX_FAULT_TOKEN_TTL":        "SANDBOX_FAULT_TOKEN_TTL",
		"SANDBOX_FAULT_SERVER_ERROR":     "SANDBOX_FAULT_SERVER_ERROR",
		"SANDBOX_MAINTENANCE_WINDOW":     "SANDBOX_MAINTENANCE_WINDOW",
		"SANDBOX_FAULT_TOKEN_REFUSAL":    "token refusal",
		"SANDBOX_FAULT_MAINTENANCE_CODE": "maintenance code",
		"SANDBOX_TLS_CERT":               "SANDBOX_TLS_KEY",
	} {
		_, _, _, err := loadConfig(env(map[string]string{name: "7x"}))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=7x: error %v, want one naming %s", name, err, want)
		}
	}
}
