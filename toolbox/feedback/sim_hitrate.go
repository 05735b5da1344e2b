package feedback

import (
	"fmt"
	"math"
	"time"
)

// HitRateSim configures SimulateHitRate. The zero value (with a seed) is
// issue 13's scenario: an LRU cache read 10,000 times a second with Zipf
// keys (skew 1.1), held at an 80 % hit rate in windows of 1 s; it starts
// cold at 256 entries on a working set of 10,000 keys, which doubles to
// 20,000 after 60 windows and halves back after 120, for 180 windows.
type HitRateSim struct {
	Seed uint64
	// Target is the hit rate to hold, in (0, 1). 0 means 0.8.
	Target float64
	// Tolerance is the band around Target, as a fraction (0.02 is two
	// points), a window must stay within to count as settled. 0 means
	// 0.02.
	Tolerance float64
	// Skew is the Zipf exponent of the keys (> 1). 0 means 1.1.
	Skew float64
	// Rate is the reads per second. 0 means 10,000.
	Rate float64
	// Window is the control window. 0 means 1 s.
	Window time.Duration
	// Duration is the simulated time. 0 means 180 windows. A shorter run
	// scales the default schedule with it.
	Duration time.Duration
	// Schedule sets the working set over time: from each entry's At on,
	// keys are drawn from the entry's Keys. The first entry must be at 0
	// and the entries in order. nil means Keys 10,000 at 0, 20,000 at a
	// third of Duration and 10,000 again at two thirds.
	Schedule []WorkingSetStep
	// InitialSize is the loop's cache's size at the start, in entries.
	// 0 means 256.
	InitialSize int
	// BaselineSize is the size of the cache run without the loop, for
	// comparison, over the same reads. 0 means the size the loop had
	// reached at the end of the first phase: a fixed size tuned for the
	// first working set.
	BaselineSize int
	// Options configure the loop (NewHitRateLoop); nil means defaults.
	Options []HitRateOption
}

// WorkingSetStep is one entry of HitRateSim.Schedule.
type WorkingSetStep struct {
	At   time.Duration
	Keys uint64
}

// Series of SimulateHitRate's trace besides the standard three (set
// point and measurement in percent, actuation the loop's cache size in
// entries): the fixed-size cache's hit rate in percent, the working set
// in keys, the deviations from the target of the loop's and the fixed
// size's hit rates in points, and the edges of the tolerance band in
// points, drawn with the deviations so the band can be seen.
const (
	SeriesBaselineHitRate   = "baseline_hitrate"
	SeriesWorkingSet        = "working_set"
	SeriesDeviation         = "deviation"
	SeriesBaselineDeviation = "baseline_deviation"
	SeriesToleranceHigh     = "tolerance_high"
	SeriesToleranceLow      = "tolerance_low"
)

func (c *HitRateSim) defaults() error {
	if c.Target == 0 {
		c.Target = 0.8
	}
	if c.Tolerance == 0 {
		c.Tolerance = 0.02
	}
	if c.Skew == 0 {
		c.Skew = 1.1
	}
	if c.Rate == 0 {
		c.Rate = 10_000
	}
	if c.Window == 0 {
		c.Window = time.Second
	}
	if c.Duration == 0 {
		c.Duration = 180 * c.Window
	}
	if c.InitialSize == 0 {
		c.InitialSize = 256
	}
	if c.Schedule == nil {
		third := c.Duration / 3
		c.Schedule = []WorkingSetStep{{0, 10_000}, {third, 20_000}, {2 * third, 10_000}}
	}
	return c.check()
}

func (c *HitRateSim) check() error {
	switch {
	case !(c.Target > 0 && c.Target < 1):
		return fmt.Errorf("%w: Target %v: want (0, 1)", ErrSimConfig, c.Target)
	case !(c.Tolerance > 0 && c.Tolerance < 1):
		return fmt.Errorf("%w: Tolerance %v: want (0, 1)", ErrSimConfig, c.Tolerance)
	case c.Window <= 0 || c.Duration < c.Window:
		return fmt.Errorf("%w: Window %v, Duration %v: want 0 < Window ≤ Duration", ErrSimConfig, c.Window, c.Duration)
	case c.InitialSize < 0 || c.BaselineSize < 0:
		return fmt.Errorf("%w: InitialSize %d, BaselineSize %d: want ≥ 0", ErrSimConfig, c.InitialSize, c.BaselineSize)
	case len(c.Schedule) == 0 || c.Schedule[0].At != 0:
		return fmt.Errorf("%w: Schedule must start at 0", ErrSimConfig)
	}
	for i, s := range c.Schedule {
		if s.Keys < 1 || (i > 0 && s.At <= c.Schedule[i-1].At) {
			return fmt.Errorf("%w: Schedule[%d] %+v: want Keys ≥ 1 and times increasing", ErrSimConfig, i, s)
		}
	}
	return nil
}

// hitRun is one pass over the scenario: per window, the hit rate, the
// size after the window and the working set.
type hitRun struct {
	hitRate []float64
	size    []int
	keys    []uint64
	phase   []int // index of the schedule entry in force
}

// SimulateHitRate runs the hit-rate loop on a simulated LRU cache
// through the working-set schedule, and the same reads through a cache
// of fixed size, and reports both. Metrics, for each phase p of the
// schedule (phase0 the start, phase1 the first change, …):
//
//   - phaseP_settle_windows: windows from the phase's start until the
//     last window whose hit rate is outside Target ± Tolerance (0 when
//     none is; -1 when the phase ends outside);
//   - phaseP_max_dev_after_settle: the largest |hit rate − Target|
//     after settling, in points (-1 when not settled);
//   - phaseP_reversals: resizes in the phase against the direction of
//     the resize before (the first resize of a phase counts against the
//     last one of the phase before);
//   - phaseP_hitrate and phaseP_baseline_hitrate: the mean hit rate over
//     the second half of the phase, with the loop and without, in %;
//   - phaseP_size: the loop's size at the end of the phase, in entries;
//
// and baseline_size, the fixed size.
func SimulateHitRate(cfg HitRateSim) (*SimReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	loop, err := runHitRate(cfg, true)
	if err != nil {
		return nil, err
	}
	if cfg.BaselineSize == 0 {
		cfg.BaselineSize = loop.size[hitLastOfPhase(loop.phase, 0)]
	}
	base, err := runHitRate(cfg, false)
	if err != nil {
		return nil, err
	}
	return hitRateReport(cfg, loop, base)
}

// runHitRate runs the scenario once, with the loop or at the baseline
// size.
func runHitRate(cfg HitRateSim, withLoop bool) (*hitRun, error) {
	sim := NewSim(cfg.Seed)
	size := cfg.BaselineSize
	if withLoop {
		size = cfg.InitialSize
	}
	plant, err := NewCachePlant(sim, CacheConfig{Capacity: size, Keys: cfg.Schedule[0].Keys, Skew: cfg.Skew, Rate: cfg.Rate})
	if err != nil {
		return nil, err
	}
	rp := NewResizablePlant(plant)
	var loop *HitRateLoop
	if withLoop {
		if loop, err = NewHitRateLoop(cfg.Target, rp, cfg.Options...); err != nil {
			return nil, err
		}
	}
	windows := int(cfg.Duration / cfg.Window)
	run := &hitRun{}
	phase := 0
	for i := range windows {
		start := time.Duration(i) * cfg.Window
		for phase+1 < len(cfg.Schedule) && cfg.Schedule[phase+1].At <= start {
			phase++
			plant.SetWorkingSet(cfg.Schedule[phase].Keys, 0)
		}
		s := rp.Step(cfg.Window)
		if loop != nil {
			loop.Step(cfg.Window)
		}
		run.hitRate = append(run.hitRate, s.HitRate)
		run.size = append(run.size, rp.HitStats().Capacity)
		run.keys = append(run.keys, cfg.Schedule[phase].Keys)
		run.phase = append(run.phase, phase)
	}
	return run, nil
}

// hitLastOfPhase returns the index of the last window of phase p (or of
// the last phase reached before it).
func hitLastOfPhase(phases []int, p int) int {
	last := 0
	for i, q := range phases {
		if q <= p {
			last = i
		}
	}
	return last
}

func hitRateReport(cfg HitRateSim, loop, base *hitRun) (*SimReport, error) {
	tr, err := NewTrace(SeriesBaselineHitRate, SeriesWorkingSet,
		SeriesDeviation, SeriesBaselineDeviation, SeriesToleranceHigh, SeriesToleranceLow)
	if err != nil {
		return nil, err
	}
	for i := range loop.hitRate {
		at := time.Duration(i+1) * cfg.Window
		if err := tr.Add(at, 100*cfg.Target, 100*loop.hitRate[i], float64(loop.size[i]),
			100*base.hitRate[i], float64(loop.keys[i]),
			100*(loop.hitRate[i]-cfg.Target), 100*(base.hitRate[i]-cfg.Target),
			100*cfg.Tolerance, -100*cfg.Tolerance); err != nil {
			return nil, err
		}
	}
	r := &SimReport{
		Name:  "hitrate",
		Seed:  cfg.Seed,
		Trace: tr,
		Plot: PlotOptions{
			Title: fmt.Sprintf("cache hit rate held at %.0f %% by resizing (fixed size %d for comparison)", 100*cfg.Target, cfg.BaselineSize),
			Panels: []Panel{
				{Title: "hit rate (%)", Series: []string{SeriesSetpoint, SeriesMeasurement, SeriesBaselineHitRate}, FitY: true},
				{Title: "hit rate − target (points), with the tolerance band", Series: []string{
					SeriesDeviation, SeriesBaselineDeviation, SeriesToleranceHigh, SeriesToleranceLow}},
				{Title: "cache size (entries)", Series: []string{SeriesActuation}},
				{Title: "working set (keys)", Series: []string{SeriesWorkingSet}},
			},
		},
	}
	sizes := append([]int{cfg.InitialSize}, loop.size...) // sizes[i+1] after window i
	dir := 0
	for p := range cfg.Schedule {
		lo, hi := hitPhaseBounds(loop.phase, p)
		if lo < 0 {
			break // the run ended before this phase
		}
		settle, dev := hitSettle(loop.hitRate[lo:hi], cfg.Target, cfg.Tolerance)
		var rev int
		rev, dir = hitSizeReversals(sizes, lo+1, hi+1, dir)
		name := fmt.Sprintf("phase%d_", p)
		r.AddMetric(name+"settle_windows", float64(settle), "windows")
		r.AddMetric(name+"max_dev_after_settle", dev, "points")
		r.AddMetric(name+"reversals", float64(rev), "")
		mid := lo + (hi-lo)/2
		r.AddMetric(name+"hitrate", 100*hitMean(loop.hitRate[mid:hi]), "%")
		r.AddMetric(name+"baseline_hitrate", 100*hitMean(base.hitRate[mid:hi]), "%")
		r.AddMetric(name+"size", float64(loop.size[hi-1]), "entries")
	}
	r.AddMetric("baseline_size", float64(cfg.BaselineSize), "entries")
	return r, nil
}

// hitPhaseBounds returns the windows [lo, hi) of phase p; lo is -1 when
// the phase has none.
func hitPhaseBounds(phases []int, p int) (lo, hi int) {
	lo, hi = -1, -1
	for i, q := range phases {
		if q == p {
			if lo < 0 {
				lo = i
			}
			hi = i + 1
		}
	}
	return lo, hi
}

// hitSettle returns the number of windows until the last one outside
// target ± tol (-1 if the last window is outside) and the largest
// deviation after it, in points (-1 when not settled).
func hitSettle(h []float64, target, tol float64) (settle int, dev float64) {
	for i, v := range h {
		if math.Abs(v-target) > tol {
			settle = i + 1
		}
	}
	if settle == len(h) {
		return -1, -1
	}
	for _, v := range h[settle:] {
		dev = max(dev, 100*math.Abs(v-target))
	}
	return settle, dev
}

// hitSizeReversals counts changes of direction of size between entries
// lo-1 and hi-1 (lo ≥ 1), given the direction of the last change before lo, and
// returns the direction of the last change.
func hitSizeReversals(size []int, lo, hi, dir int) (reversals, last int) {
	for i := lo; i < hi; i++ {
		d := 0
		switch {
		case size[i] > size[i-1]:
			d = 1
		case size[i] < size[i-1]:
			d = -1
		}
		if d == 0 {
			continue
		}
		if dir != 0 && d != dir {
			reversals++
		}
		dir = d
	}
	return reversals, dir
}

func hitMean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
