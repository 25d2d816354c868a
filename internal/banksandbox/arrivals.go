package banksandbox

import (
	"net/http"
	"strconv"
	"time"
)

// maxArrivals bounds the arrival log; a load test of a million checks fits.
const maxArrivals = 1_000_000

// Arrival is one check request as the sandbox received it, before it decided
// anything: the sandbox's own record of what reached the bank and when, for
// tests and benchmarks that must not trust the caller's account of it.
type Arrival struct {
	// Reference is the referenceNumber as sent (the 6-digit tail for pago
	// móvil), empty when the body did not carry one.
	Reference string `json:"reference"`
	// At is the arrival time on the sandbox's clock.
	At time.Time `json:"at"`
	// Authorized is false for requests refused for their token; they count
	// toward the limits all the same, as at the bank.
	Authorized bool `json:"authorized"`
	// Rows are the references of the payments the reply carried (none for
	// every other answer): what the bank showed, for tests that check each
	// confirmation against it.
	Rows []string `json:"rows,omitempty"`
}

// recordArrival appends to the log and returns the entry's index (-1 past
// the bound). The caller holds s.mu.
func (s *Server) recordArrival(a Arrival) int {
	if len(s.arrivals) < maxArrivals {
		s.arrivals = append(s.arrivals, a)
		return len(s.arrivals) - 1
	}
	s.stats.ArrivalsDropped++
	return -1
}

// recordRows notes on arrival i the payments its reply carried.
func (s *Server) recordRows(i int, rows []storedPayment) {
	if i < 0 {
		return
	}
	refs := make([]string, len(rows))
	for k, p := range rows {
		refs[k] = p.Reference
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i < len(s.arrivals) { // a Reset may have emptied the log meanwhile
		s.arrivals[i].Rows = refs
	}
}

// Arrivals returns a copy of the arrival log from index from on (oldest
// first), so a poller can read it incrementally.
func (s *Server) Arrivals(from int) []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from < 0 || from >= len(s.arrivals) {
		return []Arrival{}
	}
	return append([]Arrival(nil), s.arrivals[from:]...)
}

// handleArrivals serves GET /sandbox/arrivals?from=N: the arrival log from
// entry N on (default 0).
func (s *Server) handleArrivals(w http.ResponseWriter, r *http.Request) {
	from := 0
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, adminError{"from must be a non-negative integer"})
			return
		}
		from = n
	}
	writeJSON(w, http.StatusOK, s.Arrivals(from))
}
