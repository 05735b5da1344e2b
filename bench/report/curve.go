package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gozmp/zmp/bench/spec"
)

// curveSystems are the systems whose CURVE cost is reported: those that
// run the CURVE variants.
var curveSystems = []string{refSystem, "libzmq"}

// curveRows are the rows of the CURVE ÷ NULL table: every metric of
// every CURVE variant of the run, but MB/s (msgs/s says the same).
func curveRows(r *results) []row {
	var out []row
	for _, rw := range rows(r.run) {
		if rw.v.IsCurve() && rw.metric != spec.MBPerSec {
			out = append(out, rw)
		}
	}
	return out
}

// curveNames are the systems of the cost table, in report order.
func curveNames(r *results) []string {
	return slices.DeleteFunc(slices.Clone(r.run.Systems), func(s string) bool { return !slices.Contains(curveSystems, s) })
}

// curveCost is the three cells of system in the cost table for row rw:
// its NULL figure, its CURVE figure, and CURVE ÷ NULL.
func (r *results) curveCost(rw row, system string) [3]string {
	null, okN := r.value(rw.v.Plain(), system, rw.metric)
	curve, okC := r.value(rw.v, system, rw.metric)
	cells := [3]string{r.missing(rw.v.Plain(), system), r.missing(rw.v, system), ""}
	if okN {
		cells[0] = format(rw.metric, null)
	}
	if okC {
		cells[1] = format(rw.metric, curve)
	}
	if okN && okC && null > 0 {
		cells[2] = ratio(curve / null)
	}
	return cells
}

// curveHeader is the explanation above the cost table.
const curveHeader = "Each system's CURVE figure ÷ its own NULL figure on the same case in this run: above 1 for a latency, below 1 for a rate, is what encryption costs."

// markdownCurve writes the CURVE ÷ NULL section, if the run has CURVE
// variants and a system that runs them.
func markdownCurve(w io.Writer, r *results) {
	rs, names := curveRows(r), curveNames(r)
	if len(rs) == 0 || len(names) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## CURVE ÷ NULL cost\n\n%s\n\n| case | transport |", curveHeader)
	for _, s := range names {
		fmt.Fprintf(w, " %s NULL | %s CURVE | %s CURVE ÷ NULL |", s, s, s)
	}
	fmt.Fprintf(w, "\n|---|---|%s\n", strings.Repeat("---|", 3*len(names)))
	for _, rw := range rs {
		fmt.Fprintf(w, "| %s | %s |", row{v: rw.v.Plain(), metric: rw.metric}.label(), rw.v.Transport)
		for _, s := range names {
			c := r.curveCost(rw, s)
			fmt.Fprintf(w, " %s | %s | %s |", c[0], c[1], c[2])
		}
		fmt.Fprintln(w)
	}
}

// textCurve writes the same for a terminal.
func textCurve(w io.Writer, r *results) {
	rs, names := curveRows(r), curveNames(r)
	if len(rs) == 0 || len(names) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCURVE ÷ NULL cost: %s\n", strings.ToLower(curveHeader[:1])+curveHeader[1:])
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "case\ttransport")
	for _, s := range names {
		fmt.Fprintf(tw, "\t%s NULL\t%s CURVE\tCURVE÷NULL", s, s)
	}
	fmt.Fprintln(tw)
	for _, rw := range rs {
		fmt.Fprintf(tw, "%s\t%s", row{v: rw.v.Plain(), metric: rw.metric}.label(), rw.v.Transport)
		for _, s := range names {
			c := r.curveCost(rw, s)
			fmt.Fprintf(tw, "\t%s\t%s\t%s", c[0], c[1], c[2])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
