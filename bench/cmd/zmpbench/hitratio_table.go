package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gozmp/zmp/bench/hitratio"
)

// writeHitratioTable prints one line per trace and capacity with every
// policy's hit ratio, the best of each family, the gap and whether it
// meets the goal, then a verdict line per row and the policies' notes.
// markdown makes it a Markdown table.
func writeHitratioTable(w io.Writer, rep hitratioReport, markdown bool) error {
	keys := rep.Config.Keys
	head := []string{"trace", "capacity", "max"}
	head = append(head, rep.Config.Policies...)
	head = append(head, "gap, points", "goal (≤ 2)")
	var lines [][]string
	for _, row := range rep.Rows {
		l := []string{row.Trace, capacityLabel(row.Capacity, keys), pct(1 - float64(row.Distinct)/float64(row.Requests))}
		for _, r := range row.Results {
			l = append(l, pct(r.HitRatio))
		}
		gap, goal := "–", "–"
		if g, ok := lruGap(row); ok {
			gap, goal = fmt.Sprintf("%.2f (%s vs %s)", g.Points, g.Best, g.Reference), yesNo(g.Within)
		}
		lines = append(lines, append(l, gap, goal))
	}
	if err := table(w, head, lines, markdown); err != nil {
		return err
	}
	if markdown {
		fmt.Fprintln(w, "\nmax: the hit ratio of an unbounded cache, 1 − distinct keys / requests.")
	}
	first := true
	for _, row := range rep.Rows {
		for _, g := range row.Gaps {
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintln(w, bullet(markdown)+verdict(row, g, keys))
		}
	}
	notes(w, rep.Rows, markdown)
	return nil
}

// lruGap is the gap of the golang-lru family, if the row has one.
func lruGap(row hitratio.Row) (hitratio.Gap, bool) {
	for _, g := range row.Gaps {
		if g.Family == hitratio.FamilyGolangLRU {
			return g, true
		}
	}
	return hitratio.Gap{}, false
}

func verdict(row hitratio.Row, g hitratio.Gap, keys int) string {
	v := "within 2 points"
	if !g.Within {
		v = "NOT within 2 points"
	}
	return fmt.Sprintf("%s at %s: best %s %s %s, best %s %s %s: gap %.2f points, %s",
		row.Trace, capacityLabel(row.Capacity, keys), g.Family, g.Best, pct(g.BestRatio),
		hitratio.FamilyTinyLFU, g.Reference, pct(g.ReferenceRatio), g.Points, v)
}

func notes(w io.Writer, rows []hitratio.Row, markdown bool) {
	first := true
	for _, row := range rows {
		for _, r := range row.Results {
			if r.Note == "" {
				continue
			}
			if first {
				fmt.Fprintln(w)
				first = false
			}
			fmt.Fprintf(w, "%s%s %s %s: %s\n", bullet(markdown), r.Policy, r.Trace, capacityLabel(r.Capacity, rows[0].Universe), r.Note)
		}
	}
}

func table(w io.Writer, head []string, lines [][]string, markdown bool) error {
	if markdown {
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
		for _, l := range lines {
			fmt.Fprintf(w, "| %s |\n", strings.Join(l, " | "))
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	return tw.Flush()
}

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func bullet(markdown bool) string {
	if markdown {
		return "- "
	}
	return ""
}
