package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// loadConfig reads the sandbox's settings from the environment:
//
//	SANDBOX_ADDR                      listen address (default :8090)
//	SANDBOX_CLIENT_ID                 accepted client id (default sandbox-client)
//	SANDBOX_CLIENT_SECRET             accepted client secret (default sandbox-secret)
//	SANDBOX_FLAVOR                    qa (default) or production
//	SANDBOX_ACCOUNT_ID                merchant's 20-digit account (default 01340000000000000000)
//	SANDBOX_MAX_RPS                   checks per 1-second window (default 50)
//	SANDBOX_PER_REFERENCE_PER_MINUTE  checks per reference per 60-second window (default 2)
//	SANDBOX_TOKEN_REQUESTS_PER_MINUTE token requests per client per 60 s (default 10)
//	SANDBOX_TOKEN_TTL                 token lifetime (default 300s)
//	SANDBOX_REFUSE_CLIENT_CREDENTIALS refuse grant_type=client_credentials with 400
//	                                  unauthorized_client, as the real bank does (default true)
//	SANDBOX_TRANSFER_WITHOUT_BANK_ID  accept transfer queries without bankId (default false:
//	                                  they find nothing, as the bank's manual requires it)
//	SANDBOX_MAX_RANGE_DAYS            how far back a pago móvil startDt may go before 70005 (default 31)
//	SANDBOX_MAINTENANCE_WINDOW        daily window answered with the maintenance code,
//	                                  Venezuela time, e.g. 02:00-06:00 (default none)
//	SANDBOX_TLS_CERT, SANDBOX_TLS_KEY serve HTTPS with this certificate (e.g. from a private CA)
//	SANDBOX_DEMO                      demo mode (default true)
//	SANDBOX_SETTLE_AFTER              demo settle delay (default 15s)
//	SANDBOX_FAULT_RATE_LIMITED        share of checks answered 429 VRN05 (default 0)
//	SANDBOX_FAULT_RETRY_AFTER         Retry-After of those (default 1s)
//	SANDBOX_FAULT_SERVER_ERROR        share answered 500/503/504/424 (default 0)
//	SANDBOX_FAULT_MAINTENANCE         share answered 503 VRN04 (default 0)
//	SANDBOX_FAULT_SLOW                share answered late (default 0)
//	SANDBOX_FAULT_SLOW_DELAY          how late (default 5s)
//	SANDBOX_FAULT_MALFORMED           share answered with broken JSON (default 0)
//	SANDBOX_FAULT_TOKEN_TTL           real lifetime of tokens, to expire them early (default off)
//	SANDBOX_FAULT_MAINTENANCE_FOR     a maintenance window starting at start-up, e.g. 70s (default none)
//	SANDBOX_FAULT_MAINTENANCE_CODE    CRT503 (default) or VRN04, on HTTP 503
//	SANDBOX_FAULT_RANGE_TOO_WIDE_ONCE the first check of every reference gets 70005 (default false)
//	SANDBOX_FAULT_TOKEN_REFUSAL       refuse every token: unauthorized_client or invalid_client
//	SANDBOX_FAULT_ALIGN_REPLIES       hold answers in windows of this length (races; default off)
//
// Every SANDBOX_FAULT_* can be changed while running: PUT /sandbox/faults with the snake_case
// JSON of banksandbox.Faults.
//
// getenv is os.Getenv in main and a map in tests.
func loadConfig(getenv func(string) string) (string, banksandbox.Config, [2]string, error) {
	p := envParser{getenv: getenv}
	addr := p.str("SANDBOX_ADDR", ":8090")
	cfg := banksandbox.Config{
		ClientID:                p.str("SANDBOX_CLIENT_ID", ""),
		ClientSecret:            p.str("SANDBOX_CLIENT_SECRET", ""),
		Flavor:                  p.str("SANDBOX_FLAVOR", banksandbox.FlavorQA),
		AccountID:               p.str("SANDBOX_ACCOUNT_ID", ""),
		MaxRPS:                  p.positiveInt("SANDBOX_MAX_RPS", 50),
		PerReferencePerMinute:   p.positiveInt("SANDBOX_PER_REFERENCE_PER_MINUTE", 2),
		TokenRequestsPerMinute:  p.positiveInt("SANDBOX_TOKEN_REQUESTS_PER_MINUTE", 10),
		TokenTTL:                p.duration("SANDBOX_TOKEN_TTL", 300*time.Second),
		RefuseClientCredentials: p.boolean("SANDBOX_REFUSE_CLIENT_CREDENTIALS", true),
		TransferWithoutBankID:   p.boolean("SANDBOX_TRANSFER_WITHOUT_BANK_ID", false),
		MaxRangeDays:            p.positiveInt("SANDBOX_MAX_RANGE_DAYS", 31),
		MaintenanceWindow:       p.window("SANDBOX_MAINTENANCE_WINDOW"),
		Demo:                    p.boolean("SANDBOX_DEMO", true),
		SettleAfter:             p.duration("SANDBOX_SETTLE_AFTER", 15*time.Second),
		Faults: banksandbox.Faults{
			RateLimited: p.share("SANDBOX_FAULT_RATE_LIMITED"),
			RetryAfter:  p.duration("SANDBOX_FAULT_RETRY_AFTER", time.Second),
			ServerError: p.share("SANDBOX_FAULT_SERVER_ERROR"),
			Maintenance: p.share("SANDBOX_FAULT_MAINTENANCE"),
			Slow:        p.share("SANDBOX_FAULT_SLOW"),
			SlowDelay:   p.duration("SANDBOX_FAULT_SLOW_DELAY", 5*time.Second),
			Malformed:   p.share("SANDBOX_FAULT_MALFORMED"),
			TokenTTL:    p.duration("SANDBOX_FAULT_TOKEN_TTL", 0),

			MaintenanceFor:   p.duration("SANDBOX_FAULT_MAINTENANCE_FOR", 0),
			MaintenanceCode:  p.str("SANDBOX_FAULT_MAINTENANCE_CODE", ""),
			RangeTooWideOnce: p.boolean("SANDBOX_FAULT_RANGE_TOO_WIDE_ONCE", false),
			TokenRefusal:     p.str("SANDBOX_FAULT_TOKEN_REFUSAL", ""),
			AlignReplies:     p.duration("SANDBOX_FAULT_ALIGN_REPLIES", 0),
		},
	}
	tlsFiles := [2]string{p.str("SANDBOX_TLS_CERT", ""), p.str("SANDBOX_TLS_KEY", "")}
	if (tlsFiles[0] == "") != (tlsFiles[1] == "") {
		p.fail("SANDBOX_TLS_CERT", tlsFiles[0], "to be set together with SANDBOX_TLS_KEY")
	}
	if p.err != nil {
		return "", cfg, tlsFiles, p.err
	}
	if err := cfg.Validate(); err != nil {
		return "", cfg, tlsFiles, fmt.Errorf("config: %w", err)
	}
	return addr, cfg, tlsFiles, nil
}

func (p *envParser) window(name string) banksandbox.DailyWindow {
	v := p.getenv(name)
	if v == "" {
		return banksandbox.DailyWindow{}
	}
	w, err := banksandbox.ParseDailyWindow(v)
	if err != nil {
		p.fail(name, v, "HH:MM-HH:MM")
	}
	return w
}

// envParser reads typed variables and keeps the first error, so loadConfig reads as a list.
type envParser struct {
	getenv func(string) string
	err    error
}

func (p *envParser) fail(name, value, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s=%q: want %s", name, value, want)
	}
}

func (p *envParser) str(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

func (p *envParser) positiveInt(name string, def int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		p.fail(name, v, "a positive integer")
	}
	return n
}

func (p *envParser) duration(name string, def time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail(name, v, `a duration like "15s"`)
	}
	return d
}

func (p *envParser) boolean(name string, def bool) bool {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "true or false")
	}
	return b
}

func (p *envParser) share(name string) float64 {
	v := p.getenv(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		p.fail(name, v, "a share between 0 and 1")
	}
	return f
}
