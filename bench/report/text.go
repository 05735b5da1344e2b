package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gozmp/zmp/bench/harness"
)

// Text writes the comparison table, the memory table and the targets
// for a terminal.
func Text(w io.Writer, run *harness.Run) {
	if len(run.Variants) == 0 {
		ScaleText(w, run)
		return
	}
	r := index(run)
	fmt.Fprintf(w, "\nzmp comparison: medians of %d repetition(s), %s windows; (r×) = system ÷ zmp\n\n", run.Reps, run.Duration)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "case\ttransport\t%s\tzmp÷tcp\n", strings.Join(run.Systems, "\t"))
	for _, row := range rows(run) {
		fmt.Fprintf(tw, "%s\t%s", row.label(), row.v.Transport)
		for _, s := range run.Systems {
			fmt.Fprintf(tw, "\t%s", r.cell(row.v, s, row.metric))
		}
		fmt.Fprintf(tw, "\t%s\n", r.zmpVsTCP(row.v, row.metric))
	}
	tw.Flush()
	fmt.Fprintln(w, "\npeak RSS, MiB (server / client):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "case\ttransport\t%s\n", strings.Join(run.Systems, "\t"))
	for _, v := range run.Variants {
		fmt.Fprintf(tw, "%s\t%s", v.Title(), v.Transport)
		for _, s := range run.Systems {
			fmt.Fprintf(tw, "\t%s", r.memory(v, s))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	textCurve(w, r)
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range targets(r) {
		fmt.Fprintf(tw, "  %s\t%s\n", t.name, t.verdict())
	}
	tw.Flush()
	for _, n := range notes(r) {
		fmt.Fprintln(w, "note:", n)
	}
	ScaleText(w, run)
}
