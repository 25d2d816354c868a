package main

import (
	"fmt"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plots draws the report's PNGs with gonum/plot.
func (r *report) plots() error {
	dir := r.settings.outDir
	{
		p := plot.New()
		p.Title.Text = "Create throughput"
		p.X.Label.Text = "concurrency"
		p.Y.Label.Text = "requests/s"
		api, floor := plotter.XYs{}, plotter.XYs{}
		for i, pt := range r.create.API {
			api = append(api, plotter.XY{X: float64(pt.Conc), Y: pt.RPS})
			floor = append(floor, plotter.XY{X: float64(r.create.Floor[i].Conc), Y: r.create.Floor[i].RPS})
		}
		if err := plotutil.AddLinePoints(p, "API (HTTP)", api, "floor (no HTTP)", floor); err != nil {
			return err
		}
		if err := p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, "create.png")); err != nil {
			return err
		}
	}
	{
		p := plot.New()
		p.Title.Text = fmt.Sprintf("Pipeline drain, Q = %d checks/s", r.settings.drainQ)
		p.X.Label.Text = "worker processes"
		p.Y.Label.Text = "checks/s"
		got, q := plotter.XYs{}, plotter.XYs{}
		for _, d := range r.drain {
			got = append(got, plotter.XY{X: float64(d.Workers), Y: d.ChecksPerSec})
			q = append(q, plotter.XY{X: float64(d.Workers), Y: float64(r.settings.drainQ)})
		}
		if err := plotutil.AddLinePoints(p, "achieved", got, "Q (bank limit)", q); err != nil {
			return err
		}
		p.Y.Min = 0
		if err := p.Save(6*vg.Inch, 4*vg.Inch, filepath.Join(dir, "drain.png")); err != nil {
			return err
		}
	}
	if err := bars(filepath.Join(dir, "latency.png"), "Create → COMPLETED", "ms", func() (names []string, p50, p99 []float64) {
		for _, l := range r.latency {
			names = append(names, "poll "+l.Poll)
			p50 = append(p50, float64(l.FinalP50.Microseconds())/1000)
			p99 = append(p99, float64(l.FinalP99.Microseconds())/1000)
		}
		return
	}); err != nil {
		return err
	}
	return bars(filepath.Join(dir, "reads.png"), fmt.Sprintf("Reads over %d rows", r.settings.readRows), "ms", func() (names []string, p50, p99 []float64) {
		for i, q := range r.reads {
			names = append(names, fmt.Sprintf("%d", i+1))
			p50 = append(p50, float64(q.P50.Microseconds())/1000)
			p99 = append(p99, float64(q.P99.Microseconds())/1000)
		}
		return
	})
}

func bars(path, title, unit string, data func() ([]string, []float64, []float64)) error {
	names, p50, p99 := data()
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = unit
	w := vg.Points(12)
	b50, err := plotter.NewBarChart(plotter.Values(p50), w)
	if err != nil {
		return err
	}
	b99, err := plotter.NewBarChart(plotter.Values(p99), w)
	if err != nil {
		return err
	}
	b50.Color, b99.Color = plotutil.Color(0), plotutil.Color(1)
	b50.Offset, b99.Offset = -w/2, w/2
	p.Add(b50, b99)
	p.Legend.Add("p50", b50)
	p.Legend.Add("p99", b99)
	p.Legend.Top = true
	p.NominalX(names...)
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}
