package feedback

import (
	"fmt"
	"strings"
	"time"
)

// The scenarios' default schedules.
var (
	latencyStepPhases  = []LoadPhase{{0.5, 10 * time.Second}, {3, 20 * time.Second}, {0.5, 10 * time.Second}}
	latencyDriftPhases = []LoadPhase{{1.2, 11 * time.Minute}}
)

// SimulateLatency runs the load-step scenario: by default a backend of
// 1,000 req/s (10 servers, 10 ms mean exponential service) offered
// 0.5×, then 3×, then 0.5× its capacity, with a 100 ms p99 target, once
// per limiter and once with no limit, all drawn on one trace.
//
// Its metrics, for each run (named by the limiter, or "unlimited") and
// each phase i (1-based):
//
//   - "<run> phase i p99" (ms): the p99 of the phase's completions after
//     the allowance (Settle, 2 s by default);
//   - "<run> phase i settle" (s): how long after the phase began the p99
//     over the last second (of the phase) first came within 1.1× the
//     target with the p99 of the phase's later completions within it too
//     (-1: never);
//   - "<run> phase i worst 1s p99" (ms) and "<run> phase i out of
//     tolerance" (%): after the allowance, the highest p99 over a
//     sliding second, and the share of windows at whose end it was above
//     1.1× the target: the noise around the phase's p99;
//   - "<run> phase i limit" (requests): the mean limit, limiters only;
//
// and over the overloaded phases (load above 1×) together:
//
//   - "<run> overload goodput" (req/s): completions within the target;
//   - "<run> overload goodput share" (%): the same as a share of the
//     capacity;
//   - "<run> overload throughput" (req/s): every completion;
//   - "<run> overload rejected" (%): arrivals refused by the limit.
//
// The trace has one row per Row: set point (the target, ms), the first
// limiter's p99 (ms) and limit as measurement and actuation, then
// "<run> p99" and "<run> limit" for each run and the offered "load"
// (req/s). The plot draws the limiters' p99s, their limits, the
// unlimited p99 and the load in four panels.
func SimulateLatency(cfg LatencySim) (*SimReport, error) {
	cfg, err := cfg.withDefaults(latencyStepPhases, 0)
	if err != nil {
		return nil, err
	}
	runs, err := runLatencyAll(cfg, cfg.Settle, true)
	if err != nil {
		return nil, err
	}
	rep := &SimReport{Name: "latency", Seed: cfg.Seed}
	if err := latencyTrace(rep, cfg, runs, "load steps"); err != nil {
		return nil, err
	}
	for _, r := range runs {
		addPhaseMetrics(rep, r, true)
		addOverloadMetrics(rep, cfg, r)
	}
	return rep, nil
}

// SimulateLatencyDrift runs the sustained-overload scenario: by default
// the backend of SimulateLatency offered 1.2× its capacity for 11
// minutes, once per limiter and once with no limit. The first eleventh
// of the run is warm-up; the drift compares the mean limit over the
// second eleventh with that over the last (minute 2 and minute 11 by
// default: 10 simulated minutes apart).
//
// Its metrics, for each run: "<run> limit early" and "<run> limit late"
// (requests, limiters only), "<run> drift" (%, late over early, minus
// 100), "<run> phase i p99" (ms, after the warm-up), "<run> phase i
// limit", and the overload metrics of SimulateLatency. The trace is
// that of SimulateLatency with one row per second.
func SimulateLatencyDrift(cfg LatencySim) (*SimReport, error) {
	cfg, err := cfg.withDefaults(latencyDriftPhases, time.Second)
	if err != nil {
		return nil, err
	}
	var total time.Duration
	for _, p := range cfg.Phases {
		total += p.Duration
	}
	warm := (total / 11 / cfg.Window) * cfg.Window
	if warm == 0 {
		return nil, fmt.Errorf("%w: latency drift: run of %v too short for an eleventh of whole windows of %v", ErrSimConfig, total, cfg.Window)
	}
	runs, err := runLatencyAll(cfg, warm, false)
	if err != nil {
		return nil, err
	}
	rep := &SimReport{Name: "latency-drift", Seed: cfg.Seed}
	if err := latencyTrace(rep, cfg, runs, "sustained overload"); err != nil {
		return nil, err
	}
	n := int(warm / cfg.Window)
	for _, r := range runs {
		if r.limited {
			early := meanOf(r.winLimit[n : 2*n])
			late := meanOf(r.winLimit[len(r.winLimit)-n:])
			rep.AddMetric(r.name+" limit early", early, "requests")
			rep.AddMetric(r.name+" limit late", late, "requests")
			rep.AddMetric(r.name+" drift", 100*(late/early-1), "%")
		}
		addPhaseMetrics(rep, r, false)
		addOverloadMetrics(rep, cfg, r)
	}
	return rep, nil
}

func meanOf(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func addPhaseMetrics(rep *SimReport, r *latencyRun, settle bool) {
	for i, p := range r.phases {
		prefix := fmt.Sprintf("%s phase %d ", r.name, i+1)
		rep.AddMetric(prefix+"p99", durMillis(p.p99), "ms")
		if settle {
			rep.AddMetric(prefix+"settle", seconds(p.settle), "s")
			rep.AddMetric(prefix+"worst 1s p99", durMillis(p.worst), "ms")
			rep.AddMetric(prefix+"out of tolerance", 100*p.out, "%")
		}
		if r.limited {
			rep.AddMetric(prefix+"limit", p.meanLimit, "requests")
		}
	}
}

// seconds gives d in seconds, keeping -1 (never) as -1.
func seconds(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return d.Seconds()
}

func addOverloadMetrics(rep *SimReport, cfg LatencySim, r *latencyRun) {
	var secs float64
	var good, done, arrivals, rejected int
	for _, p := range r.phases {
		if p.load > 1 {
			secs += p.duration.Seconds()
			good += p.good
			done += p.done
			arrivals += p.arrivals
			rejected += p.rejected
		}
	}
	if secs == 0 {
		return
	}
	capacity := float64(cfg.Servers) / cfg.ServiceMean.Seconds()
	rep.AddMetric(r.name+" overload goodput", float64(good)/secs, "req/s")
	rep.AddMetric(r.name+" overload goodput share", 100*float64(good)/secs/capacity, "%")
	rep.AddMetric(r.name+" overload throughput", float64(done)/secs, "req/s")
	rep.AddMetric(r.name+" overload rejected", 100*float64(rejected)/float64(max(arrivals, 1)), "%")
}

// latencyTrace fills rep's trace and plot from the runs; the last run
// is the one with no limit.
func latencyTrace(rep *SimReport, cfg LatencySim, runs []*latencyRun, scenario string) error {
	var extra, p99s, limits []string
	unlimited := false
	for _, r := range runs {
		unlimited = unlimited || !r.limited
		extra = append(extra, r.name+" p99")
		if r.limited {
			extra = append(extra, r.name+" limit")
			p99s = append(p99s, r.name+" p99")
			limits = append(limits, r.name+" limit")
		}
	}
	extra = append(extra, "load")
	tr, err := NewTrace(extra...)
	if err != nil {
		return err
	}
	first := runs[0] // the unlimited run when there are no limiters
	loads := rowLoads(cfg)
	for i := range first.rowP99 {
		var row []float64
		for _, r := range runs {
			row = append(row, r.rowP99[i])
			if r.limited {
				row = append(row, r.rowLimit[i])
			}
		}
		row = append(row, loads[i])
		at := time.Duration(i+1) * cfg.Row
		if err := tr.Add(at, durMillis(cfg.Target), first.rowP99[i], first.rowLimit[i], row...); err != nil {
			return err
		}
	}
	rep.Trace = tr
	// Series are coloured by their place in a panel: each limiter keeps
	// its colour across panels with the set point drawn last.
	rep.Plot = PlotOptions{
		Title: fmt.Sprintf("p99 target %v, %s: %s", cfg.Target, scenario, phaseSummary(cfg)),
		Panels: []Panel{
			{Title: "p99 latency with a limit (ms)", Series: append(p99s, SeriesSetpoint)},
			{Title: "concurrency limit (requests)", Series: limits},
			{Title: "p99 latency with no limit (ms)", Series: []string{unlimitedName + " p99", SeriesSetpoint}},
			{Title: "offered load (req/s)", Series: []string{"load"}},
		},
	}
	switch {
	case len(limits) == 0:
		rep.Plot.Panels = rep.Plot.Panels[2:]
	case !unlimited:
		rep.Plot.Panels = append(rep.Plot.Panels[:2:2], rep.Plot.Panels[3])
	}
	return nil
}

// rowLoads is the offered load, req/s, of each trace row.
func rowLoads(cfg LatencySim) []float64 {
	capacity := float64(cfg.Servers) / cfg.ServiceMean.Seconds()
	var out []float64
	for _, p := range cfg.Phases {
		for range int(p.Duration / cfg.Row) {
			out = append(out, p.Load*capacity)
		}
	}
	return out
}

func phaseSummary(cfg LatencySim) string {
	var parts []string
	for _, p := range cfg.Phases {
		parts = append(parts, fmt.Sprintf("%g× %v", p.Load, p.Duration))
	}
	return strings.Join(parts, " → ")
}
