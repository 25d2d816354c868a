package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

// chart and series are the data of one PNG, as bench/plot reads them. The
// drawing lives in that module of its own so that gonum/plot stays out of the
// service's dependencies.
type chart struct {
	File   string   `json:"file"`
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	Kind   string   `json:"kind"`
	Names  []string `json:"names,omitempty"`
	Series []series `json:"series"`
	YMin0  bool     `json:"y_min_0,omitempty"`
}

type series struct {
	Name string    `json:"name"`
	X    []float64 `json:"x,omitempty"`
	Y    []float64 `json:"y"`
}

// plots writes plots.json and has bench/plot draw the PNGs from it.
func (r *report) plots() error {
	dir := r.settings.outDir
	api, floor := series{Name: "API (HTTP)"}, series{Name: "floor (no HTTP)"}
	for i, pt := range r.create.API {
		api.X, api.Y = append(api.X, float64(pt.Conc)), append(api.Y, pt.RPS)
		floor.X, floor.Y = append(floor.X, float64(r.create.Floor[i].Conc)), append(floor.Y, r.create.Floor[i].RPS)
	}
	drain := chart{File: "drain.png", Title: "Pipeline drain: share of the bank's quota Q", YLabel: "% of Q", Kind: "bars",
		Series: []series{{Name: "at the bank"}, {Name: "limiter alone (baseline)"}}}
	for _, d := range r.drain {
		drain.Names = append(drain.Names, fmt.Sprintf("Q=%d, %d worker(s)", d.Q, d.Workers))
		drain.Series[0].Y = append(drain.Series[0].Y, d.ShareOfQ*100)
		drain.Series[1].Y = append(drain.Series[1].Y, d.Baseline/float64(d.Q)*100)
	}
	timeline := chart{File: "drain_timeline.png", Title: "Pipeline drain: checks arriving at the bank each second (first run)",
		XLabel: "s since the first arrival", YLabel: "checks/s", Kind: "lines", YMin0: true}
	for _, d := range r.drain {
		s := series{Name: fmt.Sprintf("Q=%d, %d worker(s)", d.Q, d.Workers)}
		for i, n := range d.PerSecond {
			s.X, s.Y = append(s.X, float64(i)), append(s.Y, float64(n))
		}
		timeline.Series = append(timeline.Series, s)
	}
	lat := chart{File: "latency.png", Title: "Create → COMPLETED", YLabel: "ms", Kind: "bars",
		Series: []series{{Name: "p50"}, {Name: "p99"}}}
	for _, l := range r.latency {
		lat.Names = append(lat.Names, "poll "+l.Poll)
		lat.Series[0].Y = append(lat.Series[0].Y, float64(l.FinalP50.Microseconds())/1000)
		lat.Series[1].Y = append(lat.Series[1].Y, float64(l.FinalP99.Microseconds())/1000)
	}
	reads := chart{File: "reads.png", Title: fmt.Sprintf("Reads over %d rows", r.settings.readRows), YLabel: "ms", Kind: "bars",
		Series: []series{{Name: "p50"}, {Name: "p99"}}}
	for i, rq := range r.reads {
		reads.Names = append(reads.Names, fmt.Sprintf("%d", i+1))
		reads.Series[0].Y = append(reads.Series[0].Y, float64(rq.P50.Microseconds())/1000)
		reads.Series[1].Y = append(reads.Series[1].Y, float64(rq.P99.Microseconds())/1000)
	}
	backlog := chart{File: "backlog.png", Title: "Backlog: lateness at the bank", YLabel: "s", Kind: "bars",
		Series: []series{{Name: "p50"}, {Name: "p99"}, {Name: "max"}}}
	if bl := r.backlog; bl != nil {
		backlog.Names = []string{"routine (vs due)", "asked for (vs request)"}
		for _, l := range []latStats{bl.Routine, bl.Asked} {
			backlog.Series[0].Y = append(backlog.Series[0].Y, l.P50.Seconds())
			backlog.Series[1].Y = append(backlog.Series[1].Y, l.P99.Seconds())
			backlog.Series[2].Y = append(backlog.Series[2].Y, l.Max.Seconds())
		}
	}
	charts := []chart{
		{File: "create.png", Title: "Create throughput", XLabel: "concurrency", YLabel: "requests/s", Kind: "lines", Series: []series{api, floor}},
		drain, timeline, lat, reads, backlog,
	}
	// With -only some scenarios have no figures: draw only charts with data.
	charts = slices.DeleteFunc(charts, func(c chart) bool {
		for _, s := range c.Series {
			if len(s.Y) > 0 {
				return false
			}
		}
		return true
	})
	raw, err := json.MarshalIndent(charts, "", "  ")
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "plots.json")
	if err := os.WriteFile(data, raw, 0o644); err != nil {
		return err
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "run", ".", abs)
	cmd.Dir = filepath.Join(root, "bench", "plot")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench/plot: %v\n%s", err, out)
	}
	return nil
}

// moduleRoot is the repository root (the directory with the service's go.mod).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "bench", "plot", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run make bench from the repository")
		}
		dir = parent
	}
}
