package verify

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SetGrace changes how long past its due time a check must be before the
// sweeper repairs it (10 s in production), so tests need not wait for it.
func (s *Sweeper) SetGrace(d time.Duration) { s.grace = d }

// Checks is verify_checks_total, for tests that read it.
func (m *Metrics) Checks() *prometheus.CounterVec { return m.checks }
