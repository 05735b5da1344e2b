package report

import (
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// drawPanel draws one panel at vertical offset y0.
func drawPanel(w io.Writer, r *results, p panel, y0 int) {
	var vals []float64
	for _, g := range p.groups {
		for _, s := range r.run.Systems {
			if v, ok := r.value(g.v, s, g.metric); ok {
				vals = append(vals, v)
			}
		}
	}
	sc := newScale(vals, p.limit)
	top, base := float64(y0+svgPlotTop), float64(y0+svgPlotTop+svgPlot)
	kind := ""
	if sc.log {
		kind = ", log scale"
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, y0+22, esc(p.title))
	fmt.Fprintf(w, `<text x="16" y="%.0f" font-size="11" transform="rotate(-90 16 %.0f)" text-anchor="middle">%s%s</text>`+"\n", (top+base)/2, (top+base)/2, esc(p.unit), kind)
	axis(w, sc, p.groups[0].metric, top, base)
	gw := float64(svgWidth-svgLeft-svgRight) / float64(len(p.groups))
	for i, g := range p.groups {
		drawGroup(w, r, g, sc, float64(svgLeft)+float64(i)*gw, gw, base)
	}
	if p.limit > 0 {
		y := base - sc.height(p.limit, svgPlot)
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#d62728" stroke-dasharray="6 4"/><text x="%d" y="%.1f" font-size="11" fill="#d62728" text-anchor="end">target %s %s</text>`+"\n",
			svgLeft, svgWidth-svgRight, y, y, svgWidth-svgRight, y-4, tick("", p.limit), esc(p.unit))
	}
}

// axis draws the grid lines and their labels.
func axis(w io.Writer, sc scale, metric string, top, base float64) {
	for _, t := range sc.ticks() {
		y := base - sc.height(t, base-top)
		fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e3e3"/><text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="#444">%s</text>`+"\n",
			svgLeft, svgWidth-svgRight, y, y, svgLeft-6, y+3, esc(tick(metric, t)))
	}
	fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#333"/>`+"\n", svgLeft, svgWidth-svgRight, base, base)
}

// drawGroup draws one bar per system for group g in [x, x+gw).
func drawGroup(w io.Writer, r *results, g group, sc scale, x, gw, base float64) {
	n := len(r.run.Systems)
	bw := min(svgMaxBar, gw*0.85/float64(n))
	x0 := x + (gw-bw*float64(n))/2
	for j, s := range r.run.Systems {
		bx := x0 + float64(j)*bw
		v, ok := r.value(g.v, s, g.metric)
		if !ok {
			if r.missing(g.v, s) == "failed" {
				fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s">×</text>`+"\n", bx+bw/2, base-3, color(s))
			}
			continue
		}
		h := max(sc.height(v, svgPlot), 1)
		fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
			bx, base-h, bw-1, h, color(s), esc(s), esc(g.label), esc(format(g.metric, v)))
		barLabel(w, format(g.metric, v), bx+bw/2, base-h, h)
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="%.3g" text-anchor="middle">%s</text>`+"\n", x+gw/2, base+18, labelSize(g.label, gw), esc(g.label))
}

// labelSize is the font size of a group label: 12, or smaller for a
// label that would not fit in its group's width (about 0.6 em a
// character).
func labelSize(label string, width float64) float64 {
	n := float64(utf8.RuneCountInString(label))
	return max(8, min(12, math.Floor(10*0.95*width/(0.6*n))/10))
}

// barLabel writes a bar's figure vertically: inside a tall bar, above
// a short one.
func barLabel(w io.Writer, text string, cx, ytop, h float64) {
	fill, anchor, y := "#222", "start", ytop-3
	if h > 52 {
		fill, anchor, y = "white", "end", ytop+4
	}
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f" font-size="9" fill="%s" text-anchor="%s" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		cx+3, y, fill, anchor, cx+3, y, esc(text))
}
