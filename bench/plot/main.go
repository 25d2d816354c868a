// Command plot renders the charts of a benchmark report: `make bench` (cmd/loadgen)
// writes them as data in plots.json beside report.md and runs this to draw the
// PNGs. It is a module of its own so that gonum/plot stays out of the service's
// dependencies.
//
//	go run . ../results/<date>/plots.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart is one PNG: lines (x/y series) or grouped bars (one value per name).
type Chart struct {
	File   string   `json:"file"`
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	Kind   string   `json:"kind"` // "lines" or "bars"
	Names  []string `json:"names,omitempty"`
	Series []Series `json:"series"`
	YMin0  bool     `json:"y_min_0,omitempty"`
}

// Series is one line or one colour of bars.
type Series struct {
	Name string    `json:"name"`
	X    []float64 `json:"x,omitempty"`
	Y    []float64 `json:"y"`
}

func main() {
	if len(os.Args) != 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: plot <plots.json>   draws each chart as a PNG next to the file")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	var charts []Chart
	if err := json.Unmarshal(raw, &charts); err != nil {
		fail(fmt.Errorf("%s: %w", os.Args[1], err))
	}
	dir := filepath.Dir(os.Args[1])
	for _, c := range charts {
		if err := draw(c, filepath.Join(dir, c.File)); err != nil {
			fail(fmt.Errorf("%s: %w", c.File, err))
		}
	}
}

func draw(c Chart, path string) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	switch c.Kind {
	case "lines":
		var args []any
		for _, s := range c.Series {
			xys := make(plotter.XYs, len(s.Y))
			for i := range s.Y {
				xys[i] = plotter.XY{X: s.X[i], Y: s.Y[i]}
			}
			args = append(args, s.Name, xys)
		}
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return err
		}
		if c.YMin0 {
			p.Y.Min = 0
		}
		return p.Save(6*vg.Inch, 4*vg.Inch, path)
	case "bars":
		w := vg.Points(12)
		for i, s := range c.Series {
			b, err := plotter.NewBarChart(plotter.Values(s.Y), w)
			if err != nil {
				return err
			}
			b.Color = plotutil.Color(i)
			b.Offset = w * vg.Length(2*i-len(c.Series)+1) / 2
			p.Add(b)
			p.Legend.Add(s.Name, b)
		}
		p.Legend.Top = true
		p.NominalX(c.Names...)
		return p.Save(7*vg.Inch, 4*vg.Inch, path)
	}
	return fmt.Errorf("kind %q: want lines or bars", c.Kind)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "plot:", err)
	os.Exit(1)
}
