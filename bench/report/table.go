package report

import (
	"fmt"
	"math"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// Reference systems: ratios are to zmp; zmp's own is given to raw TCP.
const (
	refSystem = "zmp"
	tcpSystem = "tcp"
)

// row is one metric of one variant: a line of the tables.
type row struct {
	v      spec.Variant
	metric string
}

// metricsOf lists the metrics reported for a case, headline first.
func metricsOf(c spec.Case) []string {
	switch c {
	case spec.RTT:
		return []string{spec.P50, spec.P99, spec.P999}
	case spec.PubSub:
		return []string{spec.MsgsPerSec, spec.MBPerSec}
	}
	return []string{spec.Headline(c)}
}

func rows(run *harness.Run) []row {
	var out []row
	for _, v := range run.Variants {
		for _, m := range metricsOf(v.Case) {
			out = append(out, row{v: v, metric: m})
		}
	}
	return out
}

// label names a row without its transport; a CURVE row says CURVE.
func (r row) label() string {
	curve := ""
	if r.v.IsCurve() {
		curve = ", CURVE"
	}
	switch r.metric {
	case spec.P50:
		return "round trip p50" + curve + ", µs"
	case spec.P99:
		return "round trip p99" + curve + ", µs"
	case spec.P999:
		return "round trip p99.9" + curve + ", µs"
	case spec.ServerRSSMiB:
		return r.v.Title() + ": publisher peak RSS, MiB"
	}
	s := r.v.Title() + ", " + spec.Unit(r.metric)
	if r.v.Case == spec.Fanout {
		s += " (total)"
	}
	return s
}

// results indexes a run's summaries.
type results struct {
	run *harness.Run
	by  map[[2]string]harness.Summary
	why map[[2]string]string // skipped pairs
}

func index(run *harness.Run) *results {
	r := &results{run: run, by: map[[2]string]harness.Summary{}, why: map[[2]string]string{}}
	for _, s := range run.Summaries {
		r.by[[2]string{s.ID, s.System}] = s
	}
	for _, s := range run.Skipped {
		r.why[[2]string{s.ID, s.System}] = s.Reason
	}
	return r
}

// value returns the median of metric for (v, system), if measured.
func (r *results) value(v spec.Variant, system, metric string) (float64, bool) {
	s, ok := r.by[[2]string{v.ID(), system}]
	if !ok || s.Runs == 0 {
		return 0, false
	}
	x, ok := s.Median[metric]
	return x, ok && !math.IsNaN(x)
}

// cell is the text of one table cell: the figure, and its ratio to
// zmp's for other systems; "–" where the system does not run the
// variant, "skipped" where it could not run, "failed" where every
// repetition failed.
func (r *results) cell(v spec.Variant, system, metric string) string {
	x, ok := r.value(v, system, metric)
	if !ok {
		return r.missing(v, system)
	}
	s := format(metric, x)
	if ref, ok := r.value(v, refSystem, metric); ok && system != refSystem && ref > 0 {
		s += fmt.Sprintf(" (%s)", ratio(x/ref))
	}
	return s
}

func (r *results) missing(v spec.Variant, system string) string {
	if why, ok := r.why[[2]string{v.ID(), system}]; ok {
		if len(why) > 8 && why[:8] == "skipped:" {
			return "skipped"
		}
		return "–"
	}
	if s, ok := r.by[[2]string{v.ID(), system}]; ok && len(s.Errors) > 0 {
		return "failed"
	}
	return "–"
}

// zmpVsTCP is zmp's figure divided by raw TCP's, "" without both.
func (r *results) zmpVsTCP(v spec.Variant, metric string) string {
	z, ok1 := r.value(v, refSystem, metric)
	t, ok2 := r.value(v, tcpSystem, metric)
	if !ok1 || !ok2 || t == 0 {
		return ""
	}
	return ratio(z / t)
}

// format prints a figure in its metric's unit, briefly.
func format(metric string, x float64) string {
	switch metric {
	case spec.P50, spec.P99, spec.P999:
		return trim(x)
	case spec.CallsPerSec, spec.MsgsPerSec:
		return rate(x)
	}
	return trim(x)
}

// trim prints 3 significant digits at most, no exponent.
func trim(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// rate prints a per-second figure with k or M.
func rate(x float64) string {
	switch {
	case x >= 1e6:
		return trim(x/1e6) + " M"
	case x >= 1e3:
		return trim(x/1e3) + " k"
	}
	return trim(x)
}

func ratio(x float64) string {
	if x >= 10 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}
