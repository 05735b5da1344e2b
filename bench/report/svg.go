package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// Layout of the chart, in pixels.
const (
	svgWidth    = 1000
	svgLeft     = 80 // room for the y axis labels
	svgRight    = 20
	svgHeader   = 80  // title and legend
	svgPanel    = 290 // one panel: title, plot, x labels
	svgPlot     = 200 // plot height within a panel
	svgPlotTop  = 40  // plot offset within a panel
	svgMaxBar   = 22
	svgLogRatio = 50 // a panel whose max/min exceeds this uses a log scale
)

// colors of the systems, zmp first.
var colors = map[string]string{
	"zmp": "#1f5fbf", "tcp": "#6b6b6b", "tcp-buffered": "#b5b5b5", "zmq4": "#f28e2b",
	"libzmq": "#59a14f", "netrpc": "#9c6ade", "nats": "#2bb3c0",
}

func color(system string) string {
	if c, ok := colors[system]; ok {
		return c
	}
	return "#999999"
}

// panel is one chart: a group of bars per variant (or metric).
type panel struct {
	title  string
	unit   string
	groups []group
	limit  float64 // a target drawn as a dashed line; 0: none
}

type group struct {
	label  string
	v      spec.Variant
	metric string
}

// panels lays out the run's variants, one panel per case.
func panels(run *harness.Run) []panel {
	ps := []panel{
		{title: "Round trip, one call at a time (lower is better)", unit: "µs"},
		{title: "Calls/s with N calls in flight (higher is better)", unit: "calls/s"},
		{title: "Pub/sub to one subscriber: delivered msgs/s (higher is better)", unit: "msgs/s"},
		{title: "Fan-out, 64 B: delivered msgs/s, all subscribers (higher is better)", unit: "msgs/s"},
		{title: "Publisher peak RSS, subscriber stopped, 4 KiB messages (lower is better; target ≤ 64 MiB)", unit: "MiB", limit: 64},
	}
	if run.PinRTT != "" {
		ps[0].title = "Round trip, one call at a time, both processes on CPU " + run.PinRTT + " (lower is better)"
	}
	for _, v := range run.Variants {
		curve := ""
		if v.IsCurve() {
			curve = ", CURVE"
		}
		switch v.Case {
		case spec.RTT:
			ps[0].groups = append(ps[0].groups, group{"p50 " + v.Transport + curve, v, spec.P50}, group{"p99 " + v.Transport + curve, v, spec.P99})
		case spec.Inflight:
			ps[1].groups = append(ps[1].groups, group{fmt.Sprintf("%d in flight, %s%s", v.Inflight, v.Transport, curve), v, spec.CallsPerSec})
		case spec.PubSub:
			ps[2].groups = append(ps[2].groups, group{spec.SizeLabel(v.Size) + ", " + v.Transport + curve, v, spec.MsgsPerSec})
		case spec.Fanout:
			ps[3].groups = append(ps[3].groups, group{subscribers(v.Subs) + ", " + v.Transport, v, spec.MsgsPerSec})
		case spec.Stalled:
			ps[4].groups = append(ps[4].groups, group{spec.SizeLabel(v.Size) + ", " + v.Transport, v, spec.ServerRSSMiB})
		}
	}
	var out []panel
	for _, p := range ps {
		if len(p.groups) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// SVG writes the chart: a legend, then one panel of grouped bars per
// case, each bar labelled with its figure.
func SVG(w io.Writer, run *harness.Run) {
	r := index(run)
	ps := panels(run)
	height := svgHeader + len(ps)*svgPanel + scaleHeight(run) + 10
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">
<rect width="100%%" height="100%%" fill="white"/>
<text x="%d" y="24" font-size="17" font-weight="bold">zmp compared: medians of %d interleaved repetition(s), two processes per case (%s, %d CPUs)</text>
`, svgWidth, height, svgWidth, height, svgLeft, run.Reps, esc(run.Machine.CPU), run.Machine.Cores)
	legend(w, run.Systems)
	for i, p := range ps {
		drawPanel(w, r, p, svgHeader+i*svgPanel)
	}
	drawScale(w, run, svgHeader+len(ps)*svgPanel)
	fmt.Fprintln(w, "</svg>")
}

func legend(w io.Writer, systems []string) {
	x := svgLeft
	for _, s := range systems {
		fmt.Fprintf(w, `<rect x="%d" y="40" width="14" height="14" fill="%s"/><text x="%d" y="52" font-size="13">%s</text>`+"\n", x, color(s), x+19, esc(s))
		x += 30 + 8*len(s)
	}
	fmt.Fprintf(w, `<text x="%d" y="72" font-size="11" fill="#555">A missing bar: the system has no such case (or it was skipped); × marks a failed measurement.</text>`+"\n", svgLeft)
}

// scale maps values to bar heights, linear or logarithmic.
type scale struct {
	lo, hi float64
	log    bool
}

func newScale(vals []float64, limit float64) scale {
	lo, hi := math.Inf(1), limit
	for _, v := range vals {
		if v > 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi <= 0 {
		return scale{lo: 0, hi: 1}
	}
	if lo > 0 && hi/lo > svgLogRatio {
		return scale{lo: math.Pow(10, math.Floor(math.Log10(lo))), hi: math.Pow(10, math.Ceil(math.Log10(hi*1.05))), log: true}
	}
	return scale{lo: 0, hi: niceCeil(hi * 1.05)}
}

// niceCeil rounds up to a round multiple of a power of ten, one that
// divides into 5 round ticks.
func niceCeil(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// height of v in a plot of h pixels.
func (s scale) height(v float64, h float64) float64 {
	if s.log {
		if v <= s.lo {
			return 0
		}
		return h * math.Log10(v/s.lo) / math.Log10(s.hi/s.lo)
	}
	return h * v / s.hi
}

// ticks are the values with grid lines.
func (s scale) ticks() []float64 {
	var t []float64
	if s.log {
		for v := s.lo; v <= s.hi*1.001; v *= 10 {
			t = append(t, v)
		}
		return t
	}
	for i := range 6 {
		t = append(t, s.hi*float64(i)/5)
	}
	return t
}

func subscribers(n int) string {
	if n == 1 {
		return "1 subscriber"
	}
	return fmt.Sprintf("%d subscribers", n)
}

// tick formats an axis value: as short as it can be, k and M for rates.
func tick(metric string, x float64) string {
	unit := ""
	if metric == spec.CallsPerSec || metric == spec.MsgsPerSec {
		switch {
		case x >= 1e6:
			x, unit = x/1e6, " M"
		case x >= 1e3:
			x, unit = x/1e3, " k"
		}
	}
	return strconv.FormatFloat(math.Round(x*1e6)/1e6, 'f', -1, 64) + unit
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
