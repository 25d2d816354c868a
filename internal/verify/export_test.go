package verify

import "time"

// SetGrace changes how long past its due time a check must be before the
// sweeper repairs it (10 s in production), so tests need not wait for it.
func (s *Sweeper) SetGrace(d time.Duration) { s.grace = d }
