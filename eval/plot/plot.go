// Package plot draws the charts of an eval.Report as PNG images with
// gonum.org/v1/plot: each metric per run (first stage against reranked),
// each stage's latency percentiles per run, and the quality/latency
// trade-off of a candidate-K sweep.
package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"twostage/errdefs"
	"twostage/eval"
)

// Options size the images. The zero value is usable.
type Options struct {
	// Width and Height are in pixels (default 1000 by 560).
	Width, Height int
	// DPI sets the scale of text and lines (default 96).
	DPI int
}

func (o *Options) norm() Options {
	var n Options
	if o != nil {
		n = *o
	}
	if n.Width <= 0 {
		n.Width = 1000
	}
	if n.Height <= 0 {
		n.Height = 560
	}
	if n.DPI <= 0 {
		n.DPI = 96
	}
	return n
}

// widthPt returns the width of one of cols side-by-side panels, in points.
func (o *Options) widthPt(cols int) vg.Length {
	n := o.norm()
	return vg.Length(float64(n.Width)/float64(n.DPI)) * vg.Inch / vg.Length(cols)
}

// The file names WriteFiles uses.
const (
	MetricsFile  = "metrics.png"
	LatencyFile  = "latency.png"
	TradeoffFile = "tradeoff.png"
)

// WriteFiles writes metrics.png and latency.png into dir, and tradeoff.png
// (nDCG@10, or the report's first metric, against p50 latency) when the
// report has a reranked run. It returns the paths written.
func WriteFiles(dir string, r *eval.Report, opts *Options) ([]string, error) {
	type chart struct {
		name string
		draw func(io.Writer) error
	}
	charts := []chart{
		{MetricsFile, func(w io.Writer) error { return Metrics(w, r, opts) }},
		{LatencyFile, func(w io.Writer) error { return Latency(w, r, opts) }},
	}
	if hasReranked(r) && len(r.Metrics) > 0 {
		m := r.Metrics[0]
		for _, x := range r.Metrics {
			if x == (eval.Metric{Measure: eval.MeasureNDCG, K: 10}) {
				m = x
			}
		}
		charts = append(charts, chart{TradeoffFile, func(w io.Writer) error { return Tradeoff(w, r, m, opts) }})
	}
	var paths []string
	for _, c := range charts {
		p := filepath.Join(dir, c.name)
		f, err := os.Create(p)
		if err != nil {
			return paths, fmt.Errorf("plot: %w", err)
		}
		err = c.draw(f)
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("plot: %w", cerr)
		}
		if err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func hasReranked(r *eval.Report) bool {
	for _, run := range r.Runs {
		if run.Reranked {
			return true
		}
	}
	return false
}

func check(r *eval.Report) error {
	if r == nil || len(r.Runs) == 0 {
		return fmt.Errorf("plot: the report has no runs: %w", errdefs.ErrInvalidInput)
	}
	return nil
}

// Metrics draws grouped bars: one group per metric, one bar per run, each
// bar labelled with its value.
func Metrics(w io.Writer, r *eval.Report, opts *Options) error {
	if err := check(r); err != nil {
		return err
	}
	if len(r.Metrics) == 0 {
		return fmt.Errorf("plot: the report has no metrics: %w", errdefs.ErrInvalidInput)
	}
	names := make([]string, len(r.Metrics))
	for i, m := range r.Metrics {
		names[i] = m.String()
	}
	p := gplot.New()
	p.Title.Text = fmt.Sprintf("Retrieval quality: first stage vs reranked (%d queries)", r.Dataset.Queries)
	p.Y.Label.Text = "mean over queries"
	top := 0.0
	leg := newLegend()
	err := groupedBars(p, &leg, names, r.Runs, func(run eval.Run, i int) float64 { return run.Metrics[names[i]] }, "%.3f", &top, opts.widthPt(1)*0.85)
	if err != nil {
		return err
	}
	// Metrics lie in [0, 1]: room above the tallest bar for its label.
	p.Y.Min, p.Y.Max = 0, math.Min(math.Max(top*1.12, 0.05), 1.05)
	return render(w, opts, func(c draw.Canvas) {
		pc := withLegend(c, &leg)
		p.Draw(pc)
	})
}

// groupedBars adds one bar chart per run over the nominal groups, with
// value labels when format is not empty, and records the tallest bar.
// area is the width of the plot's canvas: each group of bars fills about
// 70% of its share of the data area.
// Each run is added to leg when leg is not nil.
func groupedBars(p *gplot.Plot, leg *gplot.Legend, groups []string, runs []eval.Run, value func(eval.Run, int) float64, format string, top *float64, area vg.Length) error {
	p.Add(plotter.NewGrid())
	n := len(runs)
	width := area * 0.8 / vg.Length(len(groups)) * 0.7 / vg.Length(n)
	for ri, run := range runs {
		vals := make(plotter.Values, len(groups))
		for gi := range groups {
			vals[gi] = value(run, gi)
			*top = math.Max(*top, vals[gi])
		}
		bc, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		bc.Color = runColor(ri)
		bc.LineStyle.Width = 0
		bc.Offset = vg.Length(float64(ri)-float64(n-1)/2) * width
		p.Add(bc)
		if leg != nil {
			leg.Add(run.Name, bc)
		}
		if format != "" {
			var xys plotter.XYs
			var labels []string
			for gi, v := range vals {
				xys = append(xys, plotter.XY{X: float64(gi), Y: v})
				labels = append(labels, fmt.Sprintf(format, v))
			}
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			if err != nil {
				return fmt.Errorf("plot: %w", err)
			}
			for i := range l.TextStyle {
				l.TextStyle[i].Font.Size = vg.Points(7)
				l.TextStyle[i].XAlign = draw.XCenter
			}
			l.Offset = vg.Point{X: bc.Offset, Y: vg.Points(2)}
			p.Add(l)
		}
	}
	p.NominalX(groups...)
	return nil
}

// runColor gives the first stage grey and each reranked run a color.
func runColor(i int) color.Color {
	if i == 0 {
		return color.RGBA{R: 150, G: 150, B: 150, A: 255}
	}
	return plotutil.Color(i - 1)
}

// Latency draws three panels (p50, p95, p99), each with grouped bars: one
// group per stage, one bar per run, in milliseconds.
func Latency(w io.Writer, r *eval.Report, opts *Options) error {
	if err := check(r); err != nil {
		return err
	}
	var stages []string
	for _, st := range eval.Stages {
		for _, run := range r.Runs {
			if _, ok := run.LatencyMS[st]; ok {
				stages = append(stages, st)
				break
			}
		}
	}
	if len(stages) == 0 {
		return fmt.Errorf("plot: the report has no latencies: %w", errdefs.ErrInvalidInput)
	}
	pcts := []struct {
		name string
		get  func(eval.Latency) float64
	}{
		{"p50", func(l eval.Latency) float64 { return l.P50 }},
		{"p95", func(l eval.Latency) float64 { return l.P95 }},
		{"p99", func(l eval.Latency) float64 { return l.P99 }},
	}
	row := make([]*gplot.Plot, len(pcts))
	top := 0.0
	leg := newLegend()
	for i, pc := range pcts {
		p := gplot.New()
		p.Title.Text = pc.name + " latency per query"
		if i == 0 {
			p.Y.Label.Text = "milliseconds"
		}
		var l *gplot.Legend
		if i == 0 {
			l = &leg
		}
		err := groupedBars(p, l, stages, r.Runs, func(run eval.Run, gi int) float64 { return pc.get(run.LatencyMS[stages[gi]]) }, "", &top, opts.widthPt(len(pcts))*0.85)
		if err != nil {
			return err
		}
		row[i] = p
	}
	for _, p := range row { // one scale for the three panels
		p.Y.Min, p.Y.Max = 0, math.Max(top*1.05, 0.001)
	}
	return render(w, opts, func(c draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Millimeter * 3, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		canvases := gplot.Align([][]*gplot.Plot{row}, tiles, withLegend(c, &leg))
		for i, p := range row {
			p.Draw(canvases[0][i])
		}
	})
}

// Tradeoff draws metric m against the p50 total latency: the first stage
// and each reranked run (joined in candidate-K order), labelled.
func Tradeoff(w io.Writer, r *eval.Report, m eval.Metric, opts *Options) error {
	if err := check(r); err != nil {
		return err
	}
	name := m.String()
	p := gplot.New()
	p.Title.Text = fmt.Sprintf("Quality / latency trade-off of the candidate-K sweep (%d queries)", r.Dataset.Queries)
	p.X.Label.Text = "p50 latency per query, ms (embed + retrieve + rerank)"
	p.Y.Label.Text = name
	p.Add(plotter.NewGrid())
	var line plotter.XYs
	var all plotter.XYs
	var labels []string
	var points []gplot.Plotter
	for ri, run := range r.Runs {
		v, ok := run.Metrics[name]
		if !ok {
			return fmt.Errorf("plot: run %s has no %s: %w", run.Name, name, errdefs.ErrInvalidInput)
		}
		xy := plotter.XY{X: run.LatencyMS[eval.StageTotal].P50, Y: v}
		if run.Reranked {
			line = append(line, xy)
		}
		all = append(all, xy)
		labels = append(labels, fmt.Sprintf("  %s: %.3f", run.Name, v))
		s, err := plotter.NewScatter(plotter.XYs{xy})
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		s.GlyphStyle.Color = runColor(ri)
		s.GlyphStyle.Radius = vg.Points(5)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		points = append(points, s)
	}
	if len(line) > 1 { // under the points
		l, err := plotter.NewLine(line)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		l.LineStyle.Width = vg.Points(1.5)
		l.LineStyle.Color = color.RGBA{R: 90, G: 90, B: 90, A: 255}
		p.Add(l)
	}
	p.Add(points...)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: all, Labels: labels})
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	p.Add(lb)
	// Room for the labels right of the points and around them.
	xmin, xmax, ymin, ymax := plotter.XYRange(all)
	dx, dy := math.Max(xmax-xmin, xmax*0.1+1e-3), math.Max(ymax-ymin, 0.02)
	p.X.Min, p.X.Max = math.Max(0, xmin-0.1*dx), xmax+0.35*dx
	p.Y.Min, p.Y.Max = math.Max(0, ymin-0.15*dy), ymax+0.15*dy
	return render(w, opts, func(c draw.Canvas) { p.Draw(c) })
}

func newLegend() gplot.Legend {
	l := gplot.NewLegend()
	l.Top, l.Left = true, false
	return l
}

// withLegend draws leg in a strip at the right of c and returns the rest of
// c, so the legend never covers the data.
func withLegend(c draw.Canvas, leg *gplot.Legend) draw.Canvas {
	r := leg.Rectangle(c)
	w := r.Max.X - r.Min.X + vg.Points(12)
	leg.Draw(draw.Crop(c, c.Max.X-c.Min.X-w, -vg.Points(4), 0, -vg.Points(24)))
	return draw.Crop(c, 0, -w, 0, 0)
}

// render draws onto a canvas of the options' size and writes it as PNG.
func render(w io.Writer, opts *Options, drawFn func(draw.Canvas)) error {
	o := opts.norm()
	inch := func(px int) vg.Length { return vg.Length(float64(px)/float64(o.DPI)) * vg.Inch }
	c := vgimg.NewWith(vgimg.UseWH(inch(o.Width), inch(o.Height)), vgimg.UseDPI(o.DPI))
	drawFn(draw.New(c))
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
		return fmt.Errorf("plot: write png: %w", err)
	}
	return nil
}
