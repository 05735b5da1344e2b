package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gozmp/zmp/bench/harness"
)

// Markdown writes the tables, targets and notes as Markdown.
func Markdown(w io.Writer, run *harness.Run) {
	if len(run.Variants) == 0 {
		scaleOnlyMarkdown(w, run)
		return
	}
	r := index(run)
	m := run.Machine
	fmt.Fprintf(w, "# zmp comparison\n\n%s, %d CPUs, %s RAM, Linux %s, %s. Medians of %d interleaved repetition(s), %s measured after %s of warm-up; two processes per measurement%s. `(r×)` is the system's figure ÷ zmp's; the last column is zmp's ÷ raw TCP's.\n\n",
		m.CPU, m.Cores, memory(m.MemTotal), m.Kernel, m.Go, run.Reps, run.Duration, run.Warmup, pinned(run.PinRTT))
	fmt.Fprintf(w, "| case | transport | %s | zmp ÷ tcp |\n|---|---|%s---|\n", strings.Join(run.Systems, " | "), strings.Repeat("---|", len(run.Systems)))
	for _, row := range rows(run) {
		fmt.Fprintf(w, "| %s | %s |", row.label(), row.v.Transport)
		for _, s := range run.Systems {
			fmt.Fprintf(w, " %s |", r.cell(row.v, s, row.metric))
		}
		fmt.Fprintf(w, " %s |\n", r.zmpVsTCP(row.v, row.metric))
	}
	fmt.Fprintf(w, "\n## Peak RSS, MiB (server / client)\n\n| case | transport | %s |\n|---|---|%s\n", strings.Join(run.Systems, " | "), strings.Repeat("---|", len(run.Systems)))
	for _, v := range run.Variants {
		fmt.Fprintf(w, "| %s | %s |", v.Title(), v.Transport)
		for _, s := range run.Systems {
			fmt.Fprintf(w, " %s |", r.memory(v, s))
		}
		fmt.Fprintln(w)
	}
	markdownCurve(w, r)
	fmt.Fprintf(w, "\n## Targets (issue 15)\n\n| target | result |\n|---|---|\n")
	for _, t := range targets(r) {
		fmt.Fprintf(w, "| %s | %s |\n", t.name, t.verdict())
	}
	if ns := notes(r); len(ns) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range ns {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	ScaleMarkdown(w, run)
	fmt.Fprintf(w, "\nVersions: %s. Run took %.0f s.\n", versions(m), run.Seconds)
}

// memory turns /proc/meminfo's "24684092 kB" into "23.5 GiB".
func memory(kB string) string {
	n, err := strconv.ParseFloat(strings.TrimSuffix(kB, " kB"), 64)
	if err != nil {
		return kB
	}
	return fmt.Sprintf("%.1f GiB", n/(1<<20))
}

func pinned(cpus string) string {
	if cpus == "" {
		return ""
	}
	return ", the round trips with both processes bound to CPU " + cpus
}

func versions(m harness.Machine) string {
	var parts []string
	for _, k := range []string{CommitKey, "github.com/go-zeromq/zmq4", "libzmq", "github.com/pebbe/zmq4", "nats-server", "github.com/nats-io/nats.go"} {
		if v, ok := m.Versions[k]; ok {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}
