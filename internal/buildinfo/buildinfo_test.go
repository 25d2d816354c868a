package buildinfo

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHandle(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		handled bool
		want    string
	}{
		{[]string{"-h"}, true, "USAGE"}, {[]string{"--help"}, true, "USAGE"}, {[]string{"help"}, true, "USAGE"},
		{[]string{"--version"}, true, "x dev (commit unknown"}, {[]string{"version"}, true, "x dev"},
		{nil, false, ""}, {[]string{"migrate"}, false, ""},
	} {
		var out bytes.Buffer
		if got := Handle("x", "USAGE", tc.args, &out); got != tc.handled || !strings.Contains(out.String(), tc.want) {
			t.Errorf("Handle(%v) = %v, %q", tc.args, got, out.String())
		}
	}
}

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	Register(reg)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "build_info" || mfs[0].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	labels := map[string]string{}
	for _, l := range mfs[0].GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["version"] != Version || labels["commit"] != Commit || labels["goversion"] == "" {
		t.Errorf("labels %v", labels)
	}
}
