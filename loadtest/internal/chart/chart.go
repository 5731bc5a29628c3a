// Package chart draws the experiments' PNG charts with gonum/plot: lines
// over time (or over a swept variable) and bars side by side. A chart with no
// point is an error, never an empty picture.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one named line.
type Series struct {
	Name string
	X, Y []float64
}

// Lines is a line chart.
type Lines struct {
	Title, XLabel, YLabel string
	Series                []Series
	LogY                  bool
	// Marks are vertical lines at an X with a label (e.g. "redis killed").
	Marks []Mark
}

// Mark is a labelled vertical line.
type Mark struct {
	X     float64
	Label string
}

// ErrEmpty is returned for a chart with nothing to draw.
var ErrEmpty = errors.New("chart has no data point")

// Save writes the chart as a PNG of 16×9 cm.
func (l *Lines) Save(path string) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = l.Title, l.XLabel, l.YLabel
	p.Add(plotter.NewGrid())
	points, ymax := 0, 0.0
	for i, s := range l.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("series %q: %d x for %d y", s.Name, len(s.X), len(s.Y))
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			if math.IsNaN(s.Y[j]) || (l.LogY && s.Y[j] <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
			ymax = max(ymax, s.Y[j])
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		line, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		line.Width = vg.Points(1.5)
		pts.Shape = plotutil.Shape(i)
		pts.Radius = vg.Points(2)
		p.Add(line, pts)
		p.Legend.Add(s.Name, line, pts)
	}
	if points == 0 {
		return fmt.Errorf("%s: %w", l.Title, ErrEmpty)
	}
	if l.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	} else {
		p.Y.Min = 0
	}
	for _, m := range l.Marks {
		v, err := plotter.NewLine(plotter.XYs{{X: m.X, Y: p.Y.Min}, {X: m.X, Y: max(p.Y.Max, ymax)}})
		if err != nil {
			return err
		}
		v.Color = color.RGBA{R: 200, A: 255}
		v.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(v)
		p.Legend.Add(m.Label, v)
	}
	p.Legend.Top = true
	return p.Save(16*vg.Centimeter, 9*vg.Centimeter, path)
}

// Bars is a bar chart of one or more groups over the same categories.
type Bars struct {
	Title, YLabel string
	Categories    []string
	Groups        []Group
}

// Group is one set of bars, a value per category.
type Group struct {
	Name   string
	Values []float64
}

// Save writes the chart as a PNG of 16×9 cm.
func (b *Bars) Save(path string) error {
	p := plot.New()
	p.Title.Text, p.Y.Label.Text = b.Title, b.YLabel
	p.Add(plotter.NewGrid())
	n := len(b.Groups)
	width := vg.Points(min(40, 240/float64(max(1, n*len(b.Categories)))))
	nonZero := 0
	for i, g := range b.Groups {
		if len(g.Values) != len(b.Categories) {
			return fmt.Errorf("group %q: %d values for %d categories", g.Name, len(g.Values), len(b.Categories))
		}
		for _, v := range g.Values {
			if v != 0 && !math.IsNaN(v) {
				nonZero++
			}
		}
		bars, err := plotter.NewBarChart(plotter.Values(g.Values), width)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-float64(n-1)/2) * width
		p.Add(bars)
		if n > 1 {
			p.Legend.Add(g.Name, bars)
		}
	}
	if nonZero == 0 {
		return fmt.Errorf("%s: %w", b.Title, ErrEmpty)
	}
	p.Legend.Top = true
	p.NominalX(b.Categories...)
	return p.Save(16*vg.Centimeter, 9*vg.Centimeter, path)
}
