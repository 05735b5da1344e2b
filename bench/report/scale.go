package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// scaleTitles describe the scale cases for the tables and the chart.
var scaleTitles = map[spec.ScaleCase]string{
	spec.ScaleCallers:      "one echo provider, N callers (a peer and a connection each), one 64 B call in flight per caller",
	spec.ScaleSubscribers:  "one 64 B publisher, N subscribers (a peer and a connection each)",
	spec.ScaleRegistryDir:  "a directory registry holding N nodes, one of them the provider",
	spec.ScaleRegistryNode: "a registry node holding N nodes, one of them the provider",
	spec.ScaleTopics:       "one node advertising N topics",
}

// ScaleMarkdown writes the scale section: one table per case, the
// median at each size with its factor over the previous size, and the
// reading of the last step. It writes nothing for a run without scale
// cases.
func ScaleMarkdown(w io.Writer, run *harness.Run) {
	sr := run.Scale
	if sr == nil {
		return
	}
	fmt.Fprintf(w, "\n## Scale (zmp)\n\n%s\n", scaleIntro(sr))
	for _, c := range spec.ScaleCases {
		gs := growthsOf(sr, c)
		if len(gs) == 0 {
			scaleFailures(w, sr, c)
			continue
		}
		sizes := allSizes(gs)
		fmt.Fprintf(w, "\n### %s: %s\n\n| metric |", c, scaleTitles[c])
		for _, n := range sizes {
			fmt.Fprintf(w, " N = %d |", n)
		}
		fmt.Fprintf(w, " growth |\n|---|%s---|\n", strings.Repeat("---|", len(sizes)))
		for _, g := range gs {
			fmt.Fprintf(w, "| %s |", spec.ScaleLabel(c, g.Metric))
			for _, n := range sizes {
				fmt.Fprintf(w, " %s |", scaleCell(g, n))
			}
			fmt.Fprintf(w, " %s |\n", g.Reading)
		}
		scaleFailures(w, sr, c)
	}
	if sr.Note != "" {
		fmt.Fprintf(w, "\nNote: %s.\n", sr.Note)
	}
}

// scaleOnlyMarkdown is the Markdown of a run of scale cases only.
func scaleOnlyMarkdown(w io.Writer, run *harness.Run) {
	m := run.Machine
	fmt.Fprintf(w, "# zmp scale cases\n\n%s, %d CPUs, %s RAM, Linux %s, %s.\n", m.CPU, m.Cores, memory(m.MemTotal), m.Kernel, m.Go)
	ScaleMarkdown(w, run)
}

// scaleIntro says how the section was measured and how to read it.
func scaleIntro(sr *harness.ScaleRun) string {
	sizes := "full sizes"
	if sr.Quick {
		sizes = "the reduced sizes of --quick"
	}
	return fmt.Sprintf("zmp alone, at %s; medians of %d repetition(s), each time-to-first figure the median of %d fresh clients; %.0f s in all. "+
		"Each cell is the median at that size and, in brackets, its factor over the previous size and, for a cost, the marginal cost of each unit added over that step "+
		"(for a cost per unit, of the total it adds up to). "+
		"Growth: a rate holds, rises or falls (the exponent k of the last step, value ∝ N^k); "+
		"a cost is linear when the last step's marginal cost is within 2× of the step before's, worse above, sublinear below, and constant when the last step adds under 25 %%; "+
		"a cost per connection, subscriber or topic is read as the total it adds up to (constant per connection: total linear). compare.json has every step's factor, exponent and marginal cost.",
		sizes, sr.Reps, sr.Samples, sr.Seconds)
}

// scaleCell is a figure and, after the first size, its step: the
// factor over the previous size and, for a cost, the marginal cost of
// each unit added.
func scaleCell(g harness.Growth, n int) string {
	i := slices.Index(g.Sizes, n)
	if i < 0 {
		return "–"
	}
	s := scaleFigure(g.Metric, g.Values[i])
	if i == 0 {
		return s
	}
	st := g.Steps[i-1]
	factor := "×–"
	if st.OK {
		factor = "×" + scaleFigure("", st.Factor)
	}
	if !spec.ScaleLowerIsBetter(g.Metric) {
		return s + " (" + factor + ")"
	}
	sign := "+"
	if st.Marginal < 0 {
		sign = "−"
	}
	return fmt.Sprintf("%s (%s, %s%s/%s)", s, factor, sign, scaleFigure("", math.Abs(st.Marginal)), strings.TrimSuffix(g.Case.Unit(), "s"))
}

// scaleFailures lists the points of case c that failed.
func scaleFailures(w io.Writer, sr *harness.ScaleRun, c spec.ScaleCase) {
	for _, s := range sr.Summaries {
		if s.Point.Case == c && len(s.Errors) > 0 {
			fmt.Fprintf(w, "\n- %s failed %d of %d: %s\n", s.ID, len(s.Errors), len(s.Errors)+s.Runs, s.Errors[0])
		}
	}
}

// ScaleText writes the scale figures for a terminal.
func ScaleText(w io.Writer, run *harness.Run) {
	sr := run.Scale
	if sr == nil {
		return
	}
	fmt.Fprintf(w, "\nscale (zmp): medians at each size, (×factor over the previous size)\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, g := range growths(sr) {
		fmt.Fprintf(tw, "%s\t%s", g.Case, spec.ScaleLabel(g.Case, g.Metric))
		for i, n := range g.Sizes {
			fmt.Fprintf(tw, "\t%d: %s", n, scaleFigure(g.Metric, g.Values[i]))
			if i > 0 && g.Steps[i-1].OK {
				fmt.Fprintf(tw, " (×%s)", scaleFigure("", g.Steps[i-1].Factor))
			}
		}
		fmt.Fprintf(tw, "\t%s\n", g.Reading)
	}
	tw.Flush()
	for _, s := range sr.Summaries {
		for _, e := range s.Errors {
			fmt.Fprintf(w, "scale %s FAILED: %s\n", s.ID, e)
		}
	}
}

// growthsOf returns the growths of case c, in metric order.
func growthsOf(sr *harness.ScaleRun, c spec.ScaleCase) []harness.Growth {
	var out []harness.Growth
	for _, g := range growths(sr) {
		if g.Case == c {
			out = append(out, g)
		}
	}
	return out
}

// allSizes is the union of the growths' sizes, increasing.
func allSizes(gs []harness.Growth) []int {
	var out []int
	for _, g := range gs {
		out = append(out, g.Sizes...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scaleFigure prints a figure briefly: 3 significant digits, k and M
// for rates.
func scaleFigure(metric string, x float64) string {
	if metric == spec.CallsPerSec || metric == spec.MsgsPerSec {
		switch {
		case math.Abs(x) >= 1e6:
			return scaleFigure("", x/1e6) + " M"
		case math.Abs(x) >= 1e3:
			return scaleFigure("", x/1e3) + " k"
		}
	}
	switch a := math.Abs(x); {
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3g", x)
}

// growths recomputes the growth of every metric from the summaries, so
// that a redrawn run (zmpbench render) is read as this code reads it.
func growths(sr *harness.ScaleRun) []harness.Growth { return harness.Growths(sr.Summaries) }
