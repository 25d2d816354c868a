// Package banksandbox is a stand-in for the bank's "Confirmación de Transacciones" API
// (docs/bank.md). It implements the bank side of the contract — the Keycloak
// token endpoint, the check endpoint with both query modes, the reply quirks, the rate limits
// and the failure modes — so that the bank client and the verifier can be tested end to end
// without the bank, and so that the product can be demonstrated locally.
//
// It is deliberately strict where the real bank is strict (limits measured at arrival, both
// flavors' status codes, query-mode rules) and deliberately untidy where the real bank is untidy
// (strings for numbers, padded fields), because a client that only works against a tidy fake
// is a client that fails at certification.
package banksandbox

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Flavors of the bank the sandbox can imitate. They differ in how a miss and a bad token look.
const (
	// FlavorQA answers "no results" (70001) on HTTP 200 and a missing or expired token with 401.
	FlavorQA = "qa"
	// FlavorProduction answers "no results" on HTTP 400 and a missing or expired token with 403.
	FlavorProduction = "production"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// ClientID and ClientSecret are the only accepted credentials
	// (defaults "sandbox-client" and "sandbox-secret").
	ClientID, ClientSecret string
	// RefuseClientCredentials makes grant_type=client_credentials fail the way some bank
	// clients are configured: 400 unauthorized_client. The password grant keeps working.
	RefuseClientCredentials bool
	// Flavor is FlavorQA (default) or FlavorProduction.
	Flavor string
	// AccountID is the merchant's 20-digit account; transfer payments default to it
	// (default "01340000000000000000").
	AccountID string
	// TokenTTL is how long issued tokens live (default 300s).
	TokenTTL time.Duration
	// MaxRPS is how many checks, from all callers, are allowed in any 1-second window (default 50).
	MaxRPS int
	// PerReferencePerMinute is how many checks for one reference are allowed in any 60-second
	// window (default 2).
	PerReferencePerMinute int
	// TokenRequestsPerMinute is how many token requests one client id may make in any 60-second
	// window (default 10).
	TokenRequestsPerMinute int
	// Demo makes unknown payments appear by themselves: see the demo rules on Server.
	Demo bool
	// SettleAfter is how long after its first query a demo payment becomes findable (default 15s).
	SettleAfter time.Duration
	// TransferWithoutBankID accepts transfer queries that carry no bankId. By default the
	// sandbox is as strict as the bank's manual: a transfer query without bankId "0134"
	// finds nothing (70001).
	TransferWithoutBankID bool
	// MaxRangeDays is how far back a pago móvil startDt may go (default 31 days): an older
	// one answers 70005, date range too wide.
	MaxRangeDays int
	// MaintenanceWindow answers every check with the maintenance code inside this daily
	// window (Venezuela time); zero means none.
	MaintenanceWindow DailyWindow
	// Faults are the initial fault shares; SetFaults changes them later.
	Faults Faults
	// Now is the clock (default time.Now). Tests inject one to move through the windows.
	Now func() time.Time
}

// withDefaults returns c with every zero value replaced by its default.
func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = "sandbox-client"
	}
	if c.ClientSecret == "" {
		c.ClientSecret = "sandbox-secret"
	}
	if c.Flavor == "" {
		c.Flavor = FlavorQA
	}
	if c.AccountID == "" {
		c.AccountID = "01340000000000000000"
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = 300 * time.Second
	}
	if c.MaxRPS <= 0 {
		c.MaxRPS = 50
	}
	if c.PerReferencePerMinute <= 0 {
		c.PerReferencePerMinute = 2
	}
	if c.TokenRequestsPerMinute <= 0 {
		c.TokenRequestsPerMinute = 10
	}
	if c.SettleAfter <= 0 {
		c.SettleAfter = 15 * time.Second
	}
	if c.MaxRangeDays <= 0 {
		c.MaxRangeDays = 31
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first setting that the sandbox cannot serve. Zero values are valid
// (they take defaults); main calls this to stop on a bad environment variable.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Flavor != FlavorQA && c.Flavor != FlavorProduction {
		return fmt.Errorf("flavor %q: want %q or %q", c.Flavor, FlavorQA, FlavorProduction)
	}
	if !isDigits(c.AccountID) || len(c.AccountID) != 20 {
		return fmt.Errorf("account id %q: want 20 digits", c.AccountID)
	}
	if err := c.Faults.validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return nil
}

// Server is the sandbox bank. It is safe for concurrent use.
//
// Demo rules (Config.Demo): a well-formed query that matches nothing registers the queried
// payment, which becomes findable SettleAfter later with the queried amount ("100.00" when the
// query carried none). References ending in 0000 never settle; references ending in 9999
// settle with the queried amount plus 1.00, to demonstrate an amount mismatch.
type Server struct {
	cfg Config

	// mu guards everything below. One lock keeps the counters, windows and payments
	// consistent with each other; the sandbox is never the bottleneck of a test.
	mu       sync.Mutex
	payments []storedPayment
	demoSeen map[string]bool
	tokens   map[string]time.Time // token → expiry
	limits   *limiter
	scripts  []*script
	faults   Faults
	// alignAt is when the answers held by Faults.AlignReplies are released.
	alignAt time.Time
	// maintenanceUntil ends the window started by Faults.MaintenanceFor.
	maintenanceUntil time.Time
	// rangeSeen are the references already answered 70005 by Faults.RangeTooWideOnce.
	rangeSeen map[string]bool
	rnd       *rand.Rand
	quirk     uint64 // advances with every row written, to vary the quirks deterministically
	faultSeq  uint64 // advances with every server-error fault, to cycle its kinds
	stats     Stats
	arrivals  []Arrival
}

// New returns a Server for cfg. It panics if cfg is invalid (see Config.Validate), since a bad
// sandbox configuration is a bug in the test or in main, not a runtime condition.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic("banksandbox: " + err.Error())
	}
	cfg = cfg.withDefaults()
	return &Server{
		cfg:       cfg,
		demoSeen:  make(map[string]bool),
		rangeSeen: make(map[string]bool),
		tokens:    make(map[string]time.Time),
		limits:    newLimiter(),
		faults:    cfg.Faults,
		maintenanceUntil: func() time.Time {
			if cfg.Faults.MaintenanceFor > 0 {
				return cfg.Now().Add(cfg.Faults.MaintenanceFor)
			}
			return time.Time{}
		}(),
		// A fixed seed makes a run with fault shares reproducible.
		rnd:   rand.New(rand.NewPCG(1, 2)),
		stats: newStats(),
	}
}

// Handler returns the sandbox's HTTP routes: the bank's token and check endpoints (both the QA
// and the production check paths) and the unauthenticated /sandbox/* admin routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// The bank.
	mux.HandleFunc("POST /auth/realms/{realm}/protocol/openid-connect/token", s.handleToken)
	mux.HandleFunc("POST /token", s.handleToken)
	mux.HandleFunc("POST /transactions/financial-account/transactions", s.handleCheck)
	mux.HandleFunc("POST /financial-account/transactions", s.handleCheck)
	// The sandbox's own controls.
	mux.HandleFunc("POST /sandbox/payments", s.handleAddPayments)
	mux.HandleFunc("POST /sandbox/scripts", s.handleScript)
	mux.HandleFunc("PUT /sandbox/faults", s.handleSetFaults)
	mux.HandleFunc("GET /sandbox/faults", s.handleGetFaults)
	mux.HandleFunc("POST /sandbox/expire-tokens", s.handleExpireTokens)
	mux.HandleFunc("POST /sandbox/reset", s.handleReset)
	mux.HandleFunc("GET /sandbox/stats", s.handleStats)
	mux.HandleFunc("GET /sandbox/arrivals", s.handleArrivals)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// Reset clears the statistics and every limiter window. Payments, scripts, faults and tokens
// stay, so a test can reset between phases without rebuilding its fixtures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = newStats()
	s.limits = newLimiter()
	s.arrivals = nil
}

// now reads the configured clock.
func (s *Server) now() time.Time { return s.cfg.Now() }

// writeJSON writes v as the JSON body of a reply with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is already sent; an encoding error can only be a broken connection.
	_ = json.NewEncoder(w).Encode(v)
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
