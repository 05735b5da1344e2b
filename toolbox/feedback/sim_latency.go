package feedback

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// LatencySim configures SimulateLatency and SimulateLatencyDrift: a
// simulated backend (Servers handlers with exponential service times of
// mean ServiceMean, so a capacity of Servers/ServiceMean requests per
// second) offered Poisson load in phases, run once per limiter (each on
// its own simulator with the same seed, so the same plant and load)
// and once with no limit. Every completion is a sample for the limiter,
// which then sets the backend's admission limit. The zero value is the
// issue's scenario.
type LatencySim struct {
	// Seed seeds every run's simulator.
	Seed uint64
	// Target is the latency the limiters are judged against, and the
	// one LatencyTarget holds its p99 at; goodput counts completions
	// within it. 0 means 100 ms: ten mean service times and about twice
	// the service time's own p99 (46 ms), so half the target is
	// queueing, the part admission control governs.
	Target time.Duration
	// Servers is the number of requests served at once; 0 means 10.
	Servers int
	// ServiceMean is the mean service time; 0 means 10 ms.
	ServiceMean time.Duration
	// Phases is the load schedule, in multiples of the capacity. Empty
	// means the scenario's default: for SimulateLatency 0.5× for 10 s,
	// 3× for 20 s, 0.5× for 10 s; for SimulateLatencyDrift 1.2× for
	// 11 minutes.
	Phases []LoadPhase
	// Duration, when Phases is empty, scales the default phases to this
	// total length (a shorter run for a quick look); 0 keeps them.
	Duration time.Duration
	// Window is the simulation's measuring step: the backend's counters,
	// the limit and the p99 over the last second are read once per
	// window (the limiters themselves act on every completion). 0 means
	// 100 ms.
	Window time.Duration
	// Row is the time one row of the trace spans, a whole number of
	// windows; 0 means one window for SimulateLatency and 1 s for
	// SimulateLatencyDrift.
	Row time.Duration
	// Settle is the allowance after each step: a phase's p99 counts the
	// completions after it. 0 means 2 s. SimulateLatencyDrift uses the
	// warm-up instead.
	Settle time.Duration
	// Limiters are the limiters to compare, in order; the first one's
	// p99 and limit are the trace's measurement and actuation. Nil
	// means LatencyLimiters(Target): LatencyTarget, AIMD, Vegas and
	// Gradient2.
	Limiters []NamedLimiter
	// NoUnlimited leaves out the run with no limit, which is otherwise
	// added after the limiters.
	NoUnlimited bool
}

// LoadPhase is one stretch of constant offered load.
type LoadPhase struct {
	Load     float64       // offered load as a multiple of the capacity; ≥ 0
	Duration time.Duration // the phase's length; at least one Window
}

// NamedLimiter names a limiter and builds a fresh one for each run.
// New receives the run's virtual clock, for limiters that measure in
// windows of time (pass it to WithClock).
type NamedLimiter struct {
	Name string
	New  func(clock func() time.Duration) (Limiter, error)
}

// Scenario constants: the tolerance on the target, the default
// allowance after each step, and the span of the sliding p99 the
// settling time is read from.
const (
	latencyTolerance = 1.1
	latencySettle    = 2 * time.Second
	latencySliding   = time.Second
	// unlimitedName names the run with no limit in the trace and the
	// metrics.
	unlimitedName = "unlimited"
)

// LatencyLimiters returns the package's limiters, for a comparison
// against the latency target, by name (case-insensitive):
//   - "LatencyTarget": NewLatencyTarget(target);
//   - "Envoy": NewEnvoyGradient, which windows its samples itself;
//   - "AIMD", "Vegas", "Gradient2": NewAIMD (its timeout at the target,
//     so a window slower than the target is a drop), NewVegas and
//     NewGradient2 with their defaults, each fed through NewWindowed, as
//     they are meant to be used on per-request samples;
//   - "AIMD-raw", "Vegas-raw", "Gradient2-raw": the same fed every
//     request's sample alone, for comparison.
//
// No names means the first five, in that order. An unknown name fails
// with ErrSimConfig.
func LatencyLimiters(target time.Duration, names ...string) ([]NamedLimiter, error) {
	if target <= 0 {
		target = 100 * time.Millisecond
	}
	windowed := func(name string, mk func() (Limiter, error)) NamedLimiter {
		return NamedLimiter{name, func(clock func() time.Duration) (Limiter, error) {
			l, err := mk()
			if err != nil {
				return nil, err
			}
			return NewWindowed(l, WithClock(clock))
		}}
	}
	raw := func(name string, mk func() (Limiter, error)) NamedLimiter {
		return NamedLimiter{name, func(func() time.Duration) (Limiter, error) { return mk() }}
	}
	aimd := func() (Limiter, error) { return NewAIMD(WithTimeout(target)) }
	vegas := func() (Limiter, error) { return NewVegas() }
	gradient2 := func() (Limiter, error) { return NewGradient2() }
	all := []NamedLimiter{
		{"LatencyTarget", func(clock func() time.Duration) (Limiter, error) {
			return NewLatencyTarget(target, WithClock(clock))
		}},
		{"Envoy", func(clock func() time.Duration) (Limiter, error) { return NewEnvoyGradient(WithClock(clock)) }},
		windowed("AIMD", aimd), windowed("Vegas", vegas), windowed("Gradient2", gradient2),
		raw("AIMD-raw", aimd), raw("Vegas-raw", vegas), raw("Gradient2-raw", gradient2),
	}
	if len(names) == 0 {
		return all[:5], nil
	}
	var out []NamedLimiter
	for _, n := range names {
		i := indexFold(all, n)
		if i < 0 {
			return nil, fmt.Errorf("%w: unknown limiter %q (want one of %s)", ErrSimConfig, n, limiterNames(all))
		}
		out = append(out, all[i])
	}
	return out, nil
}

func limiterNames(ls []NamedLimiter) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return strings.Join(names, ", ")
}

func indexFold(ls []NamedLimiter, name string) int {
	for i, l := range ls {
		if strings.EqualFold(l.Name, name) {
			return i
		}
	}
	return -1
}

// withDefaults fills the zero fields of cfg; phases are the scenario's
// default schedule and row its default trace row.
func (cfg LatencySim) withDefaults(phases []LoadPhase, row time.Duration) (LatencySim, error) {
	if cfg.Target == 0 {
		cfg.Target = 100 * time.Millisecond
	}
	if cfg.Servers == 0 {
		cfg.Servers = 10
	}
	if cfg.ServiceMean == 0 {
		cfg.ServiceMean = 10 * time.Millisecond
	}
	if cfg.Window == 0 {
		cfg.Window = 100 * time.Millisecond
	}
	if cfg.Settle == 0 {
		cfg.Settle = latencySettle
	}
	if cfg.Row == 0 {
		cfg.Row = max(row, cfg.Window)
	}
	if len(cfg.Phases) == 0 && cfg.Row > 0 {
		cfg.Phases = scalePhases(phases, cfg.Duration, cfg.Row)
	}
	if cfg.Limiters == nil {
		ls, err := LatencyLimiters(cfg.Target)
		if err != nil {
			return cfg, err
		}
		cfg.Limiters = ls
	}
	return cfg, cfg.validate()
}

// scalePhases stretches phases to total d, keeping their proportions,
// each a whole number of rows (at least one); d of 0 keeps them.
func scalePhases(phases []LoadPhase, d, row time.Duration) []LoadPhase {
	var sum time.Duration
	for _, p := range phases {
		sum += p.Duration
	}
	out := append([]LoadPhase(nil), phases...)
	if d <= 0 || sum == 0 {
		return out
	}
	for i := range out {
		rows := math.Round(float64(out[i].Duration) * float64(d) / float64(sum) / float64(row))
		out[i].Duration = time.Duration(max(rows, 1)) * row
	}
	return out
}

func (cfg LatencySim) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSimConfig}, args...)...)
	}
	switch {
	case cfg.Target < 0 || cfg.Servers < 0 || cfg.ServiceMean < 0 || cfg.Window < 0 || cfg.Row < 0 || cfg.Duration < 0 || cfg.Settle < 0:
		return bad("latency sim: negative Target, Servers, ServiceMean, Window, Row, Duration or Settle")
	case len(cfg.Limiters) == 0 && cfg.NoUnlimited:
		return bad("latency sim: no limiter and no unlimited run: nothing to run")
	case cfg.Row%cfg.Window != 0:
		return bad("latency sim: Row %v is not a whole number of windows of %v", cfg.Row, cfg.Window)
	}
	for i, p := range cfg.Phases {
		if !(p.Load >= 0) || p.Duration < cfg.Row || p.Duration%cfg.Row != 0 {
			return bad("latency sim: phase %d (%v× for %v): want load ≥ 0 and a whole number of rows of %v", i+1, p.Load, p.Duration, cfg.Row)
		}
	}
	seen := map[string]bool{unlimitedName: true}
	for _, l := range cfg.Limiters {
		if l.Name == "" || seen[l.Name] || l.New == nil {
			return bad("latency sim: limiter %q: want a unique name, not %q, and a constructor", l.Name, unlimitedName)
		}
		seen[l.Name] = true
	}
	return nil
}
