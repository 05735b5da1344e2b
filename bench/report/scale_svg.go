package report

import (
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// Layout of the scale panels, in pixels.
const (
	scaleTitle   = 30  // a panel's title line
	scaleRow     = 240 // one row of plots: label, plot, x labels
	scalePlot    = 170 // plot height
	scalePlotTop = 30  // plot offset within a row
	scaleGap     = 70  // between two plots of a row (room for y labels)
	scalePerRow  = 3   // plots in a row at most
)

// colors of the series of a scale panel.
var scaleColors = map[string]string{"zmp": "#1f5fbf", "directory": "#1f5fbf", "registry node": "#f28e2b"}

// scaleGroups are the panels: one per group of scale cases that ran.
func scaleGroups(run *harness.Run) []string {
	if run.Scale == nil {
		return nil
	}
	var out []string
	for _, g := range growths(run.Scale) {
		if grp := g.Case.Group(); !slices.Contains(out, grp) {
			out = append(out, grp)
		}
	}
	return out
}

// groupGrowths returns the growths of the cases of group grp, and the
// metrics among them in order.
func groupGrowths(run *harness.Run, grp string) ([]harness.Growth, []string) {
	var gs []harness.Growth
	var metrics []string
	for _, g := range growths(run.Scale) {
		if g.Case.Group() == grp {
			gs = append(gs, g)
			if !slices.Contains(metrics, g.Metric) {
				metrics = append(metrics, g.Metric)
			}
		}
	}
	return gs, metrics
}

// rowsOf lays out n plots: how many in a row, and how many rows.
func rowsOf(n int) (perRow, rows int) {
	perRow = n
	if n > scalePerRow {
		perRow = (n + 1) / 2
	}
	return perRow, (n + perRow - 1) / perRow
}

func panelHeight(metrics int) int {
	_, rows := rowsOf(metrics)
	return scaleTitle + rows*scaleRow
}

// scaleHeight is the height the scale panels take.
func scaleHeight(run *harness.Run) int {
	h := 0
	for _, grp := range scaleGroups(run) {
		_, metrics := groupGrowths(run, grp)
		h += panelHeight(len(metrics))
	}
	return h
}

// drawScale draws one panel per group of scale cases from y0 down: a
// plot per metric of cost against size, log x axis, one line per case.
func drawScale(w io.Writer, run *harness.Run, y0 int) {
	for _, grp := range scaleGroups(run) {
		gs, metrics := groupGrowths(run, grp)
		scalePanelSVG(w, grp, gs, metrics, y0)
		y0 += panelHeight(len(metrics))
	}
}

// scalePanelSVG draws one group's panel at y0: its title, a legend
// when it has several cases, and its plots in rows.
func scalePanelSVG(w io.Writer, grp string, gs []harness.Growth, metrics []string, y0 int) {
	var cases []spec.ScaleCase
	for _, g := range gs {
		if !slices.Contains(cases, g.Case) {
			cases = append(cases, g.Case)
		}
	}
	title := fmt.Sprintf("Scale: %s, against N %s (log scale)", grp, cases[0].Unit())
	if len(cases) == 1 {
		title = fmt.Sprintf("Scale: %s, against N %s (log scale)", scaleTitles[cases[0]], cases[0].Unit())
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, y0+22, esc(title))
	if len(cases) > 1 {
		x := svgWidth - svgRight
		for _, c := range slices.Backward(cases) {
			x -= 30 + 7*len(c.Series())
			fmt.Fprintf(w, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`+"\n",
				x, y0+15, scaleColor(c), x+19, y0+21, esc(c.Series()))
		}
	}
	perRow, _ := rowsOf(len(metrics))
	pw := (svgWidth - svgLeft - svgRight - scaleGap*(perRow-1)) / perRow
	for i, metric := range metrics {
		var series []harness.Growth
		for _, g := range gs {
			if g.Metric == metric {
				series = append(series, g)
			}
		}
		x, y := svgLeft+(i%perRow)*(pw+scaleGap), y0+scaleTitle+(i/perRow)*scaleRow+scalePlotTop
		scalePlotSVG(w, cases[0], metric, series, x, y, pw)
	}
}

func scaleColor(c spec.ScaleCase) string {
	if col, ok := scaleColors[c.Series()]; ok {
		return col
	}
	return "#999999"
}

// scalePlotSVG draws one metric against size at (x0, top), width pw:
// a line per series, each point labelled with its figure.
func scalePlotSVG(w io.Writer, c spec.ScaleCase, metric string, series []harness.Growth, x0, top, pw int) {
	var vals []float64
	var sizes []int
	for _, g := range series {
		vals = append(vals, g.Values...)
		sizes = append(sizes, g.Sizes...)
	}
	sc := newScale(vals, 0)
	lo, hi := float64(slices.Min(sizes)), float64(slices.Max(sizes))
	xs := logX{lo: lo, hi: hi, x0: float64(x0) + 20, w: float64(pw) - 40}
	base := float64(top + scalePlot)
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="12">%s</text>`+"\n", x0, top-6, esc(spec.ScaleLabel(c, metric)))
	for _, t := range sc.ticks() {
		y := base - sc.height(t, scalePlot)
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e3e3"/><text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#444">%s</text>`+"\n",
			x0, x0+pw, y, y, x0-4, y+3, esc(tick(metric, t)))
	}
	fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0, x0+pw, base, base)
	for _, n := range slices.Compact(slices.Sorted(slices.Values(sizes))) {
		fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%d</text>`+"\n", xs.at(float64(n)), base+15, n)
	}
	for _, g := range series {
		col := scaleColor(g.Case)
		var pts string
		for i, n := range g.Sizes {
			pts += fmt.Sprintf("%.1f,%.1f ", xs.at(float64(n)), base-max(sc.height(g.Values[i], scalePlot), 0))
		}
		fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", pts, col)
		for i, n := range g.Sizes {
			px, py := xs.at(float64(n)), base-max(sc.height(g.Values[i], scalePlot), 0)
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s N=%d: %s</title></circle><text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="%s">%s</text>`+"\n",
				px, py, col, esc(g.Case.Series()), n, esc(scaleFigure(metric, g.Values[i])), px, py-7, col, esc(scaleFigure(metric, g.Values[i])))
		}
	}
}

// logX maps sizes to x on a log scale; a single size sits in the middle.
type logX struct{ lo, hi, x0, w float64 }

func (l logX) at(n float64) float64 {
	if l.hi <= l.lo || n <= 0 {
		return l.x0 + l.w/2
	}
	return l.x0 + l.w*math.Log10(n/l.lo)/math.Log10(l.hi/l.lo)
}
