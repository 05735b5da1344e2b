package feedback

import (
	"cmp"
	"fmt"
	"time"
)

// FixedLimitSim configures SimulateFixedLimit. The zero value is the
// scenario of docs/feedback.md: a backend of 1,000 req/s (10 servers,
// exponential 10 ms service) whose load steps 0.5× → 3× → 0.5× of
// capacity at 5 s and 10 s, in 100 ms windows, for 30 s.
type FixedLimitSim struct {
	Seed uint64
	// Limit is the fixed admission limit on requests in flight; ≥ 0,
	// 0 means 20.
	Limit int
	// Target is the p99 set point drawn for reference; 0 means 100 ms.
	Target time.Duration
	// Duration is the virtual time simulated; 0 means 30 s, at least 10 s.
	Duration time.Duration
}

// loadStep returns the offered load of the step scenario at window i of
// 100 ms: 0.5× of 1,000 req/s, 3× from 5 s to 10 s, then 0.5× again.
func loadStep(i int) float64 {
	if i >= 50 && i < 100 {
		return 3000
	}
	return 500
}

// SimulateFixedLimit runs the load-step scenario on two identical
// backends, one behind a fixed admission limit and one without any, and
// records both: what a limit buys before any controller sets it. The
// second backend runs on seed+1.
func SimulateFixedLimit(cfg FixedLimitSim) (*SimReport, error) {
	limit, target, dur := cfg.Limit, cfg.Target, cfg.Duration
	switch {
	case limit < 0:
		return nil, fmt.Errorf("%w: Limit %d < 0", ErrSimConfig, limit)
	case target < 0:
		return nil, fmt.Errorf("%w: Target %v < 0", ErrSimConfig, target)
	case dur != 0 && dur < 10*time.Second:
		return nil, fmt.Errorf("%w: Duration %v < 10s", ErrSimConfig, dur)
	}
	limit = cmp.Or(limit, 20)
	target = cmp.Or(target, 100*time.Millisecond)
	dur = cmp.Or(dur, 30*time.Second)

	tr, err := NewTrace("p99 without limit (ms)", "offered (req/s)", "goodput (req/s)", "rejected (req/s)")
	if err != nil {
		return nil, err
	}
	limited, base := NewSim(cfg.Seed), NewSim(cfg.Seed+1)
	qc := QueueConfig{Servers: 10, Service: Exponential(10 * time.Millisecond), Rate: loadStep(0)}
	qb, err := NewQueueServer(base, qc)
	if err != nil {
		return nil, err
	}
	qc.Limit = limit
	ql, err := NewQueueServer(limited, qc)
	if err != nil {
		return nil, err
	}
	const window = 100 * time.Millisecond
	var worst, good, basePeak float64
	var overWindows int
	for i := range int(dur / window) {
		rate := loadStep(i)
		if i > 0 && rate != loadStep(i-1) {
			ql.SetArrivalRate(rate)
			qb.SetArrivalRate(rate)
		}
		sl, sb := ql.Step(window), qb.Step(window)
		if err := tr.Add(limited.Now(), msOf(target), msOf(sl.P99), float64(sl.Limit),
			msOf(sb.P99), rate, sl.Goodput, float64(sl.Rejected)/window.Seconds()); err != nil {
			return nil, err
		}
		if i >= 55 && i < 100 { // overloaded, after its first half second
			worst = max(worst, msOf(sl.P99))
			good += sl.Goodput
			overWindows++
		}
		basePeak = max(basePeak, msOf(sb.P99))
	}
	rep := &SimReport{Name: "fixed", Seed: cfg.Seed, Trace: tr, Plot: PlotOptions{
		Title: fmt.Sprintf("Load 0.5x → 3x → 0.5x of a 1,000 req/s backend: fixed admission limit %d vs none (seed %d)", limit, cfg.Seed),
		Panels: []Panel{
			{Title: fmt.Sprintf("p99 latency with limit %d (ms)", limit), Series: []string{SeriesSetpoint, SeriesMeasurement}},
			{Title: "p99 latency without limit (ms)", Series: []string{SeriesSetpoint, "p99 without limit (ms)"}},
			{Title: "admission limit (in flight)", Series: []string{SeriesActuation}},
			{Title: fmt.Sprintf("with limit %d (req/s)", limit), Series: []string{"offered (req/s)", "goodput (req/s)", "rejected (req/s)"}},
		},
	}}
	rep.AddMetric("limited worst p99 while overloaded", worst, "ms")
	if overWindows > 0 {
		rep.AddMetric("limited goodput while overloaded", good/float64(overWindows), "req/s")
	}
	rep.AddMetric("unlimited peak p99", basePeak, "ms")
	return rep, nil
}

// msOf returns d in milliseconds.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
