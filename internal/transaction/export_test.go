package transaction

import "github.com/prometheus/client_golang/prometheus"

// ClaimsRefused exposes the refusal counter of one cause to tests.
func (m *Metrics) ClaimsRefused(cause string) prometheus.Counter {
	return m.claimsRefused.WithLabelValues(cause)
}

// DefuseCell is the export's CSV-injection defence.
var DefuseCell = defuseCell
