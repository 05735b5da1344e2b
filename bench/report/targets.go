package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gozmp/zmp/bench/spec"
)

// target is one goal of issue 15, checked against a run.
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

// Rivals are the systems zmp must lead on every figure (issue 15).
var rivals = []string{"libzmq", "nats", "zmq4"}

// Predicates on zmp ÷ other.
func atMost(limit float64) func(float64) bool  { return func(x float64) bool { return x <= limit } }
func atLeast(limit float64) func(float64) bool { return func(x float64) bool { return x >= limit } }

// asGood is "at least as good as": zmp ÷ other ≤ 1 for a metric where
// lower is better, ≥ 1 otherwise.
func asGood(metric string) func(float64) bool {
	if spec.LowerIsBetter(metric) {
		return atMost(1)
	}
	return atLeast(1)
}

// Variants the targets name.
func rttOn(tr string) spec.Variant {
	return spec.Variant{Case: spec.RTT, Transport: tr, Size: spec.Small, Inflight: 1}
}
func inflightOn(n int, tr string) spec.Variant {
	return spec.Variant{Case: spec.Inflight, Transport: tr, Size: spec.Small, Inflight: n}
}
func pubsubOn(size int, tr string) spec.Variant {
	return spec.Variant{Case: spec.PubSub, Transport: tr, Size: size, Subs: 1}
}
func fanoutTo(n int) spec.Variant {
	return spec.Variant{Case: spec.Fanout, Transport: spec.TCP, Size: spec.Small, Subs: n}
}
func curveOf(v spec.Variant) spec.Variant { v.Security = spec.Curve; return v }

// targets checks zmp against issue 15's goals, as ratios in the run.
func targets(r *results) []target {
	var out []target
	for _, tr := range []string{spec.TCP, spec.IPC} {
		out = append(out, r.versus("call p50 ≤ 1.3× raw TCP, "+tr, rttOn(tr), spec.P50, tcpSystem, atMost(1.3)))
	}
	for _, tr := range []string{spec.TCP, spec.IPC} {
		out = append(out, r.versus("call p99.9 ≤ 2× raw TCP, "+tr, rttOn(tr), spec.P999, tcpSystem, atMost(2)))
	}
	for _, v := range []spec.Variant{inflightOn(64, spec.TCP), inflightOn(256, spec.TCP), inflightOn(64, spec.IPC)} {
		out = append(out, r.versus(fmt.Sprintf("calls/s at %d in flight ≥ libzmq, %s", v.Inflight, v.Transport), v, spec.CallsPerSec, "libzmq", atLeast(1)))
	}
	out = append(out, r.leads()...)
	for _, tr := range []string{spec.TCP, spec.IPC} {
		out = append(out, r.versus("4 KiB pub/sub msgs/s ≥ raw TCP (one write per message), "+tr, pubsubOn(spec.Large, tr), spec.MsgsPerSec, tcpSystem, atLeast(1)))
	}
	out = append(out, r.fanoutHolds())
	for _, n := range []int{4, 16} {
		out = append(out, r.versus(fmt.Sprintf("fan-out to %d msgs/s (total) ≥ NATS", n), fanoutTo(n), spec.MsgsPerSec, "nats", atLeast(1)))
	}
	for _, v := range []spec.Variant{rttOn(spec.TCP), inflightOn(64, spec.TCP), pubsubOn(spec.Small, spec.TCP)} {
		v = curveOf(v)
		metric := spec.Headline(v.Case)
		name := fmt.Sprintf("zmp CURVE ≥ libzmq CURVE: %s", row{v: v, metric: metric}.label())
		out = append(out, r.versus(name, v, metric, "libzmq", asGood(metric)))
	}
	return out
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

// leads checks that every zmp figure of the main table is at least as
// good as the best of the rivals on the same row: one target per row
// where zmp is behind (or has no figure), else one saying all are led.
func (r *results) leads() []target {
	const goal = "zmp ≥ the best of libzmq, NATS, zmq4"
	var behind []target
	compared := 0
	for _, rw := range rows(r.run) {
		if rw.metric == spec.MBPerSec { // the same as msgs/s
			continue
		}
		best, bestSys, ok := r.best(rw)
		if !ok {
			continue
		}
		compared++
		t := target{name: fmt.Sprintf("%s: %s, %s", goal, rw.label(), rw.v.Transport)}
		z, ok := r.value(rw.v, refSystem, rw.metric)
		switch {
		case !ok:
			t.measured = fmt.Sprintf("zmp has no figure, %s %s", bestSys, format(rw.metric, best))
		case best > 0 && !asGood(rw.metric)(z/best):
			t.measured = fmt.Sprintf("zmp %s vs %s %s = %s", format(rw.metric, z), bestSys, format(rw.metric, best), ratio(z/best))
		default:
			continue
		}
		behind = append(behind, t)
	}
	switch {
	case len(behind) > 0:
		return behind
	case compared == 0:
		return []target{{name: goal + " on every figure"}}
	}
	return []target{{name: goal + " on every figure", measured: fmt.Sprintf("zmp leads on all %d figures that a rival has", compared), met: true}}
}

// best returns the best rival figure of a row and whose it is.
func (r *results) best(rw row) (float64, string, bool) {
	var best float64
	var who string
	for _, s := range rivals {
		x, ok := r.value(rw.v, s, rw.metric)
		if !ok {
			continue
		}
		if who == "" || (spec.LowerIsBetter(rw.metric) && x < best) || (!spec.LowerIsBetter(rw.metric) && x > best) {
			best, who = x, s
		}
	}
	return best, who, who != ""
}

// fanoutHolds checks that zmp's total fan-out rate does not fall as
// subscribers grow from 1 to 4 and 16: the lowest of the larger counts
// ÷ the rate to 1 subscriber.
func (r *results) fanoutHolds() target {
	t := target{name: "fan-out msgs/s (total) does not fall from 1 to 16 subscribers"}
	one, ok := r.value(fanoutTo(1), refSystem, spec.MsgsPerSec)
	if !ok || one <= 0 {
		return t
	}
	parts := []string{format(spec.MsgsPerSec, one) + " (1)"}
	low, lowN := 0.0, 0
	for _, n := range []int{4, 16} {
		x, ok := r.value(fanoutTo(n), refSystem, spec.MsgsPerSec)
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%d)", format(spec.MsgsPerSec, x), n))
		if lowN == 0 || x < low {
			low, lowN = x, n
		}
	}
	if lowN == 0 {
		return t
	}
	t.measured = fmt.Sprintf("zmp %s: lowest %s of 1 subscriber's", strings.Join(parts, " → "), ratio(low/one))
	t.met = low >= one
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
