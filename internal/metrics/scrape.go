package metrics

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are parsed /metrics output, by metric name (for tests and tools).
type Families map[string]*dto.MetricFamily

// Scrape fetches and parses a /metrics endpoint in the text format.
func Scrape(client *http.Client, url string) (Families, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("scrape %s: %d %s", url, resp.StatusCode, body)
	}
	return Parse(resp.Body)
}

// Parse reads the Prometheus text format.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Families(fams), nil
}

// Sum adds the values (counter, gauge, untyped; a histogram's count) of the
// series of name whose labels include every "key=value" in match.
func (f Families) Sum(name string, match ...string) float64 {
	fam, ok := f[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Untyped != nil:
			total += m.Untyped.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// Has reports whether a series of name with those labels exists.
func (f Families) Has(name string, match ...string) bool {
	fam, ok := f[name]
	if !ok {
		return false
	}
	for _, m := range fam.GetMetric() {
		if hasLabels(m, match) {
			return true
		}
	}
	return false
}

// LabelValues lists the values label takes in the series of name.
func (f Families) LabelValues(name, label string) []string {
	var out []string
	if fam, ok := f[name]; ok {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

func hasLabels(m *dto.Metric, match []string) bool {
	for _, kv := range match {
		k, v, _ := strings.Cut(kv, "=")
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == k && l.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
