package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gozmp/zmp/bench/spec"
)

// target is one goal of issue 3, checked against a run.
type target struct {
	name     string
	measured string // "" when the run lacks a figure it needs
	met      bool
}

func (t target) verdict() string {
	switch {
	case t.measured == "":
		return "not measured in this run"
	case t.met:
		return t.measured + ": met"
	}
	return t.measured + ": NOT met"
}

// targets checks zmp against issue 3's goals, as ratios in the run.
func targets(r *results) []target {
	rtt := spec.Variant{Case: spec.RTT, Transport: spec.TCP, Size: spec.Small, Inflight: 1}
	in64 := spec.Variant{Case: spec.Inflight, Transport: spec.TCP, Size: spec.Small, Inflight: 64}
	ps := spec.Variant{Case: spec.PubSub, Transport: spec.TCP, Size: spec.Small, Subs: 1}
	st := spec.Variant{Case: spec.Stalled, Transport: spec.TCP, Size: spec.Large, Subs: 1}
	out := []target{
		r.versus("call p50 ≤ 1.5× raw Go TCP round trip", rtt, spec.P50, tcpSystem, func(x float64) bool { return x <= 1.5 }),
		r.versus("calls/s at 64 in flight ≥ libzmq", in64, spec.CallsPerSec, "libzmq", func(x float64) bool { return x >= 1 }),
		r.versus("64 B pub/sub msgs/s ≥ libzmq", ps, spec.MsgsPerSec, "libzmq", func(x float64) bool { return x >= 1 }),
		r.versus("64 B pub/sub msgs/s ≥ NATS", ps, spec.MsgsPerSec, "nats", func(x float64) bool { return x >= 1 }),
	}
	t := target{name: "publisher peak RSS, stalled subscriber ≤ 64 MiB"}
	if x, ok := r.value(st, refSystem, spec.ServerRSSMiB); ok {
		t.measured, t.met = fmt.Sprintf("%.0f MiB", x), x <= 64
	}
	return append(out, t)
}

// versus compares zmp's metric with other's as zmp ÷ other.
func (r *results) versus(name string, v spec.Variant, metric, other string, ok func(float64) bool) target {
	t := target{name: name}
	z, ok1 := r.value(v, refSystem, metric)
	o, ok2 := r.value(v, other, metric)
	if ok1 && ok2 && o > 0 {
		t.measured = fmt.Sprintf("zmp %s vs %s %s = %s", format(metric, z), other, format(metric, o), ratio(z/o))
		t.met = ok(z / o)
	}
	return t
}

// memory is the "server / client" peak RSS cell of (v, system).
func (r *results) memory(v spec.Variant, system string) string {
	s, ok1 := r.value(v, system, spec.ServerRSSMiB)
	c, ok2 := r.value(v, system, spec.ClientRSSMiB)
	if !ok1 || !ok2 {
		return r.missing(v, system)
	}
	return trim(s) + " / " + trim(c)
}

// notes explain the run: skipped systems, failures, and the drop
// counters of the one-way cases (figures count delivered messages only).
func notes(r *results) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range r.run.Skipped {
		if strings.HasPrefix(s.Reason, "skipped:") && !seen[s.System] {
			seen[s.System] = true
			out = append(out, fmt.Sprintf("%s %s", s.System, s.Reason))
		}
	}
	for _, s := range r.run.Summaries {
		if len(s.Errors) > 0 {
			out = append(out, fmt.Sprintf("%s %s: %d of %d repetitions failed: %s", s.System, s.ID, len(s.Errors), len(s.Errors)+s.Runs, s.Errors[0]))
		}
	}
	return append(out, dropNotes(r)...)
}

// dropCounters are the counters, reported by the adapters, of messages
// that were published but not delivered.
var dropCounters = []string{"pub_dropped", "sub_dropped", "sub_missed", "slow_consumers"}

func dropNotes(r *results) []string {
	var out []string
	for _, s := range r.run.Summaries {
		if s.Variant.IsRPC() || s.Runs == 0 {
			continue
		}
		var parts []string
		for _, k := range dropCounters {
			if x := s.Stats[k]; x > 0 {
				parts = append(parts, fmt.Sprintf("%s %s", k, rate(x)))
			}
		}
		if len(parts) > 0 {
			pub := s.Stats["published"]
			out = append(out, fmt.Sprintf("%s %s: published %s, %s (medians per run)", s.System, s.ID, rate(pub), strings.Join(parts, ", ")))
		}
	}
	slices.Sort(out)
	return out
}
