package banksandbox

import (
	"maps"
	"net/http"
)

// maxReportedReferences bounds Stats.ChecksByReference in the admin reply: past it the map is
// left out, since a load test would otherwise get megabytes of it back.
const maxReportedReferences = 1000

// Stats is what the sandbox has seen since it started or was last Reset. Tests assert on it,
// typically that Violations is all zero after a run.
type Stats struct {
	// TokenRequests counts every request to a token endpoint, refused ones included.
	TokenRequests int `json:"token_requests"`
	// TokensIssued counts the tokens handed out.
	TokensIssued int `json:"tokens_issued"`
	// Checks counts authenticated check requests, refused ones included.
	Checks int `json:"checks"`
	// UnauthorizedChecks counts check requests turned away for a missing, unknown or expired
	// token; they are not in Checks and do not count toward the limits.
	UnauthorizedChecks int `json:"unauthorized_checks"`
	// ArrivalsDropped counts arrivals past the arrival log's bound (they still
	// count toward the limits).
	ArrivalsDropped int `json:"arrivals_dropped,omitempty"`
	// ChecksByReference counts checks per reference as sent (the 6-digit tail for pago móvil).
	ChecksByReference map[string]int `json:"checks_by_reference,omitempty"`
	// RepliesByCode counts check replies by bank status code ("200", "70001", "VRN05", …), or
	// by HTTP status for replies without an envelope ("500", "504"); "malformed" counts the
	// deliberately broken bodies.
	RepliesByCode map[string]int `json:"replies_by_code"`
	// Violations counts requests that broke a limit.
	Violations Violations `json:"violations"`
	// MaxPerReferenceIn60s is the most checks seen for one reference in a 60-second window.
	MaxPerReferenceIn60s int `json:"max_per_reference_in_60s"`
	// MaxGlobalIn1s is the most checks seen in a 1-second window.
	MaxGlobalIn1s int `json:"max_global_in_1s"`
}

// Violations counts limit breaches by limit.
type Violations struct {
	// PerReference counts checks beyond the per-reference limit.
	PerReference int `json:"per_reference"`
	// Global counts checks beyond MaxRPS.
	Global int `json:"global"`
	// Token counts token requests beyond the per-client limit.
	Token int `json:"token"`
}

// Total is the number of violations of any kind.
func (v Violations) Total() int { return v.PerReference + v.Global + v.Token }

func newStats() Stats {
	return Stats{ChecksByReference: make(map[string]int), RepliesByCode: make(map[string]int)}
}

// Stats returns a copy of the statistics.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ChecksByReference = maps.Clone(s.stats.ChecksByReference)
	st.RepliesByCode = maps.Clone(s.stats.RepliesByCode)
	return st
}

// countReply records a check reply under code.
func (s *Server) countReply(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.RepliesByCode[code]++
}

// handleStats serves GET /sandbox/stats.
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	st := s.Stats()
	if len(st.ChecksByReference) > maxReportedReferences {
		st.ChecksByReference = nil
	}
	writeJSON(w, http.StatusOK, st)
}
