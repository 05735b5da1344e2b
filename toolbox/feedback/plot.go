package feedback

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Panel is one chart of a plot: the series drawn in it, by name, sharing a
// y axis.
type Panel struct {
	Title  string
	Series []string
	// FitY fits the y axis to the values drawn; by default it starts at
	// zero (or below, for negative values), which flattens a series
	// that moves within a narrow band far from zero, such as a hit rate
	// held near 0.8.
	FitY bool
}

// PlotOptions lays out the SVG drawn by Trace.WriteSVG.
type PlotOptions struct {
	// Title is drawn above the first panel; empty draws none.
	Title string
	// Width is the image width in pixels; 0 means 900.
	Width int
	// PanelHeight is the height of each panel in pixels; 0 means 220.
	PanelHeight int
	// Panels are drawn stacked top to bottom over a shared time axis. Empty
	// means the default: set point and measurement, then actuation, then
	// every extra series together when there are any.
	Panels []Panel
}

// plot geometry, in pixels
const (
	plotLeft   = 70  // room for y tick labels
	plotRight  = 190 // room for the legend
	plotTop    = 28  // room for a panel title
	plotBottom = 34  // room for x tick labels
	titleSpace = 26
)

// seriesColour colours series in the order a panel names them.
func seriesColour(i int) string {
	palette := [...]string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}
	return palette[i%len(palette)]
}

// WriteSVG draws the trace as an SVG image: panels stacked over a shared
// time axis in seconds, each with axes, ticks, grid lines, a legend and one
// polyline per series (broken at NaN values). Coordinates are written with
// two decimals and nothing depends on map order, so the same trace gives
// the same bytes. A panel naming an unknown series is an error.
func (t *Trace) WriteSVG(w io.Writer, opts PlotOptions) error {
	if opts.Width == 0 {
		opts.Width = 900
	}
	if opts.PanelHeight == 0 {
		opts.PanelHeight = 220
	}
	if opts.Width < plotLeft+plotRight+50 || opts.PanelHeight < plotTop+plotBottom+30 {
		return fmt.Errorf("%w: plot %dx%d per panel too small", ErrSimConfig, opts.Width, opts.PanelHeight)
	}
	if len(opts.Panels) == 0 {
		opts.Panels = t.defaultPanels()
	}
	for _, p := range opts.Panels {
		for _, name := range p.Series {
			if _, ok := t.Series(name); !ok {
				return fmt.Errorf("%w: plot panel %q names unknown series %q", ErrSimConfig, p.Title, name)
			}
		}
	}
	top := 0
	if opts.Title != "" {
		top = titleSpace
	}
	height := top + len(opts.Panels)*opts.PanelHeight
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		opts.Width, height, opts.Width, height)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", opts.Width, height)
	if opts.Title != "" {
		fmt.Fprintf(bw, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", plotLeft, svgEscape(opts.Title))
	}
	xlo, xhi := t.timeRange()
	for i, p := range opts.Panels {
		t.drawPanel(bw, p, plotBox{
			x0: plotLeft, x1: float64(opts.Width - plotRight),
			y0: float64(top + i*opts.PanelHeight + plotTop), y1: float64(top + (i+1)*opts.PanelHeight - plotBottom),
		}, xlo, xhi)
	}
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

func (t *Trace) defaultPanels() []Panel {
	ps := []Panel{
		{Title: "set point and measurement", Series: []string{SeriesSetpoint, SeriesMeasurement}},
		{Title: "actuation", Series: []string{SeriesActuation}},
	}
	if len(t.names) > 3 {
		ps = append(ps, Panel{Title: "other series", Series: append([]string(nil), t.names[3:]...)})
	}
	return ps
}

type plotBox struct{ x0, x1, y0, y1 float64 }

func (t *Trace) timeRange() (lo, hi float64) {
	if len(t.times) == 0 {
		return 0, 1
	}
	return t.times[0].Seconds(), t.times[len(t.times)-1].Seconds()
}

func (t *Trace) drawPanel(bw *bufio.Writer, p Panel, box plotBox, xlo, xhi float64) {
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, name := range p.Series {
		vs, _ := t.Series(name)
		for _, v := range vs {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				ylo, yhi = math.Min(ylo, v), math.Max(yhi, v)
			}
		}
	}
	if ylo > yhi { // nothing finite to draw
		ylo, yhi = 0, 1
	}
	if !p.FitY {
		ylo = math.Min(ylo, 0)
	}
	xt := niceAxis(xlo, xhi, 8)
	yt := niceAxis(ylo, yhi, 5)
	sx := func(v float64) float64 { return box.x0 + (v-xt.lo)/(xt.hi-xt.lo)*(box.x1-box.x0) }
	sy := func(v float64) float64 { return box.y1 - (v-yt.lo)/(yt.hi-yt.lo)*(box.y1-box.y0) }

	fmt.Fprintf(bw, `<text x="%s" y="%s" font-weight="bold">%s</text>`+"\n", svgNum(box.x0), svgNum(box.y0-8), svgEscape(p.Title))
	for _, v := range yt.values() {
		y := sy(v)
		fmt.Fprintf(bw, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/>`+"\n", svgNum(box.x0), svgNum(y), svgNum(box.x1), svgNum(y))
		fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="end">%s</text>`+"\n", svgNum(box.x0-6), svgNum(y+4), yt.label(v))
	}
	for _, v := range xt.values() {
		x := sx(v)
		fmt.Fprintf(bw, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/>`+"\n", svgNum(x), svgNum(box.y0), svgNum(x), svgNum(box.y1))
		fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", svgNum(x), svgNum(box.y1+16), xt.label(v))
	}
	fmt.Fprintf(bw, `<text x="%s" y="%s" text-anchor="end">time (s)</text>`+"\n", svgNum(box.x1), svgNum(box.y1+30))
	fmt.Fprintf(bw, `<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="black"/>`+"\n",
		svgNum(box.x0), svgNum(box.y0), svgNum(box.x1-box.x0), svgNum(box.y1-box.y0))
	for i, name := range p.Series {
		colour := seriesColour(i)
		vs, _ := t.Series(name)
		for _, run := range finiteRuns(vs) {
			var pts strings.Builder
			for j := run[0]; j < run[1]; j++ {
				if j > run[0] {
					pts.WriteByte(' ')
				}
				pts.WriteString(svgNum(sx(t.times[j].Seconds())) + "," + svgNum(sy(vs[j])))
			}
			fmt.Fprintf(bw, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", colour, pts.String())
		}
		ly := box.y0 + 12 + float64(i)*16
		fmt.Fprintf(bw, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/>`+"\n",
			svgNum(box.x1+12), svgNum(ly-4), svgNum(box.x1+32), svgNum(ly-4), colour)
		fmt.Fprintf(bw, `<text x="%s" y="%s">%s</text>`+"\n", svgNum(box.x1+38), svgNum(ly), svgEscape(name))
	}
}

// finiteRuns returns [start, end) index ranges of vs holding finite values.
func finiteRuns(vs []float64) [][2]int {
	var runs [][2]int
	start := -1
	for i, v := range vs {
		ok := !math.IsNaN(v) && !math.IsInf(v, 0)
		switch {
		case ok && start < 0:
			start = i
		case !ok && start >= 0:
			runs = append(runs, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		runs = append(runs, [2]int{start, len(vs)})
	}
	return runs
}

// axisTicks is an axis range widened to whole multiples of a 1-2-5 step.
type axisTicks struct{ lo, hi, step float64 }

func niceAxis(lo, hi float64, want int) axisTicks {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(want)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag * 10
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	return axisTicks{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step, step: step}
}

func (tk axisTicks) values() []float64 {
	n := int(math.Round((tk.hi - tk.lo) / tk.step))
	vs := make([]float64, 0, n+1)
	for i := 0; i <= n; i++ {
		vs = append(vs, tk.lo+float64(i)*tk.step)
	}
	return vs
}

func (tk axisTicks) label(v float64) string {
	decimals := max(0, int(-math.Floor(math.Log10(tk.step))))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if s == "-0" || strings.Trim(s, "-0.") == "" {
		return "0"
	}
	return s
}

// svgNum formats a coordinate with two decimals.
func svgNum(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func svgEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
