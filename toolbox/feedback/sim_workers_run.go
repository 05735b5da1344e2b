package feedback

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// WorkersSim configures SimulateWorkers. The zero value is the
// scenario of issue 13: 10 workers at 10 ms mean (exponential) service
// time, 1,000 jobs/s of capacity; Poisson load of 0.5×, 1.5× then 0.8×
// that capacity for 40 s each; queue-wait p99 target 20 ms, 500 ms
// windows.
type WorkersSim struct {
	Seed uint64
	// ServiceMean is the mean service time (default 10 ms) and
	// ServiceSigma, when > 0, makes it lognormal with that sigma instead
	// of exponential (default 0: exponential, the loop's model).
	ServiceMean  time.Duration
	ServiceSigma float64
	// Workers is the initial number of workers (default 10); the
	// initial capacity, which Steps are multiples of, is
	// Workers/ServiceMean jobs per second.
	Workers int
	// Steps are the successive arrival rates as multiples of the
	// initial capacity (default 0.5, 1.5, 0.8), each held StepLength
	// (default 40 s). Figures for a step are taken after it has run for
	// Settle (default 10 s; < StepLength).
	Steps      []float64
	StepLength time.Duration
	Settle     time.Duration
	// Window is the control window (default 100 ms), Target the p99
	// queue wait to hold (default 20 ms).
	Window time.Duration
	Target time.Duration
	// MaxWorkers bounds the loop (default 64; it keeps at least 1) and
	// ScaleDownDelay is its WithScaleDownDelay (default 5 s).
	MaxWorkers     int
	ScaleDownDelay time.Duration
}

func (c WorkersSim) withDefaults() (WorkersSim, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ServiceMean, 10*time.Millisecond)
	def(&c.StepLength, 40*time.Second)
	def(&c.Settle, 10*time.Second)
	def(&c.Window, 100*time.Millisecond)
	def(&c.Target, 20*time.Millisecond)
	def(&c.ScaleDownDelay, 5*time.Second)
	if c.Workers == 0 {
		c.Workers = 10
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = 64
	}
	if c.Steps == nil {
		c.Steps = []float64{0.5, 1.5, 0.8}
	}
	switch {
	case c.ServiceMean < 0 || c.ServiceSigma < 0 || c.Workers < 0 || c.MaxWorkers < 1:
		return c, fmt.Errorf("%w: negative service, workers or max workers", ErrSimConfig)
	case c.StepLength < 0 || c.Window < 0 || c.Target < 0 || c.ScaleDownDelay < 0 || c.Settle < 0:
		return c, fmt.Errorf("%w: negative duration", ErrSimConfig)
	case c.Settle >= c.StepLength:
		return c, fmt.Errorf("%w: Settle %v not below StepLength %v", ErrSimConfig, c.Settle, c.StepLength)
	case c.Window > c.StepLength || c.StepLength%c.Window != 0:
		return c, fmt.Errorf("%w: StepLength %v is not a whole number of windows of %v", ErrSimConfig, c.StepLength, c.Window)
	case len(c.Steps) == 0:
		return c, fmt.Errorf("%w: no load steps", ErrSimConfig)
	}
	for _, s := range c.Steps {
		if !(s >= 0) || math.IsInf(s, 0) {
			return c, fmt.Errorf("%w: load step %v", ErrSimConfig, s)
		}
	}
	return c, nil
}

func (c WorkersSim) service() Distribution {
	if c.ServiceSigma > 0 {
		return Lognormal(c.ServiceMean, c.ServiceSigma)
	}
	return Exponential(c.ServiceMean)
}

// rate returns the arrival rate of load step k.
func (c WorkersSim) rate(k int) float64 {
	return c.Steps[k] * float64(c.Workers) / c.ServiceMean.Seconds()
}

// settled reports whether a window ending at t into its step counts
// for the step's settled figures.
func (c WorkersSim) settled(t time.Duration) bool { return t > c.Settle }

// workersStep sums one load step of a run up.
type workersStep struct {
	waits       []time.Duration // settled waits
	allWaits    []time.Duration // every wait of the step, transient included
	workerArea  float64         // settled worker-seconds
	settledTime float64         // seconds
	moves       []int           // nonzero changes of the worker count
	peakP99     time.Duration   // highest window p99 in the step
}

func (s *workersStep) p99() time.Duration {
	if len(s.waits) == 0 {
		return 0
	}
	slices.Sort(s.waits)
	return nearestRank(s.waits, 0.99)
}

// p99All is the p99 wait over the whole step, the transient after the
// step included.
func (s *workersStep) p99All() time.Duration {
	if len(s.allWaits) == 0 {
		return 0
	}
	slices.Sort(s.allWaits)
	return nearestRank(s.allWaits, 0.99)
}

func (s *workersStep) meanWorkers() float64 {
	if s.settledTime == 0 {
		return 0
	}
	return s.workerArea / s.settledTime
}

// reversals counts the changes of direction among the step's moves.
func (s *workersStep) reversals() int {
	n := 0
	for i := 1; i < len(s.moves); i++ {
		if (s.moves[i] > 0) != (s.moves[i-1] > 0) {
			n++
		}
	}
	return n
}

// workersRun is one run of the scenario, with the loop or with a
// fixed number of workers.
type workersRun struct {
	steps         []workersStep
	windowP99     []time.Duration // per window
	workers       []int           // per window, after the window
	workerSeconds float64
}

// runWorkers runs c's load steps on a simulated pool: with loop, the
// WorkerLoop sets the workers starting from c.Workers; without, the
// pool keeps fixed workers.
func runWorkers(c WorkersSim, withLoop bool, fixed int) (*workersRun, error) {
	start := fixed
	if withLoop {
		start = c.Workers
	}
	pool, err := NewWorkerPool(NewSim(c.Seed), PoolConfig{Workers: start, Service: c.service(), Rate: c.rate(0)})
	if err != nil {
		return nil, err
	}
	sp, err := NewSimPool(pool, true)
	if err != nil {
		return nil, err
	}
	var loop *WorkerLoop
	if withLoop {
		loop, err = NewWorkerLoop(c.Target, sp, sp, WithWorkerBounds(1, c.MaxWorkers), WithScaleDownDelay(c.ScaleDownDelay))
		if err != nil {
			return nil, err
		}
	}
	run := &workersRun{steps: make([]workersStep, len(c.Steps))}
	for k := range c.Steps {
		pool.SetArrivalRate(c.rate(k))
		for into := c.Window; into <= c.StepLength; into += c.Window {
			if err := run.window(c, &run.steps[k], sp, loop, into); err != nil {
				return nil, err
			}
		}
	}
	return run, nil
}

// window runs one window, into its step, and records it in st.
func (run *workersRun) window(c WorkersSim, st *workersStep, sp *SimPool, loop *WorkerLoop, into time.Duration) error {
	before := sp.Workers()
	var w WaitWindow
	if loop != nil {
		loop.Step(c.Window)
		ls := loop.Stats()
		if ls.Err != nil {
			return ls.Err
		}
		w = ls.Wait
	} else {
		var err error
		if w, err = sp.MeasureWait(c.Window, c.Target); err != nil {
			return err
		}
	}
	after, waits, win := sp.Workers(), sp.TakeWaits(), c.Window.Seconds()
	st.allWaits = append(st.allWaits, waits...)
	if after != before {
		st.moves = append(st.moves, after-before)
	}
	run.workerSeconds += float64(before) * win
	if into-c.Window >= c.Settle {
		st.waits = append(st.waits, waits...)
		st.workerArea += float64(before) * win
		st.settledTime += win
	}
	st.peakP99 = max(st.peakP99, w.WaitP99)
	run.windowP99 = append(run.windowP99, w.WaitP99)
	run.workers = append(run.workers, after)
	return nil
}

// neededWorkers returns the fewest fixed workers (at least 1) whose
// queue-wait p99, measured over a step's settled time at load step k,
// is within the target: the workers the load needs.
func neededWorkers(c WorkersSim, k int) (int, error) {
	rate := c.rate(k)
	if rate == 0 {
		return 1, nil
	}
	one := c
	one.Steps = []float64{c.Steps[k]}
	meets := func(n int) (bool, error) {
		run, err := runWorkers(one, false, n)
		if err != nil {
			return false, err
		}
		return run.steps[0].p99() <= c.Target, nil
	}
	mean := c.ServiceMean.Seconds()
	n := max(mmcWorkers(rate*mean, c.Target.Seconds()/mean, 1-waitQuantile, 4*c.MaxWorkers), 1)
	ok, err := meets(n)
	for ; err == nil && ok && n > 1; n-- {
		if ok, err = meets(n - 1); !ok {
			return n, err
		}
	}
	for ; err == nil && !ok && n < 4*c.MaxWorkers; n++ {
		if ok, err = meets(n + 1); ok {
			return n + 1, err
		}
	}
	return n, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// SimulateWorkers runs a WorkerLoop on a simulated worker pool through
// load steps (WorkersSim; the zero value is issue 13's scenario) and
// the same load with the initial number of workers fixed. For each
// step k (from 1) it reports, over the step's settled time (after
// Settle):
//
//   - stepK_needed_workers: the fewest fixed workers whose p99 wait at
//     that load is within the target (found by simulation);
//   - stepK_wait_p99_ms and stepK_wait_overshoot_pct: the loop's p99
//     wait over every job taken in the settled time, and how far it is
//     above the target, max(0, p99/target − 1), in percent;
//   - stepK_workers_mean and stepK_worker_overshoot_pct: the loop's
//     time-averaged workers and how far that is above the needed
//     workers, max(0, mean/needed − 1), in percent;
//   - stepK_reversals: changes of direction among the loop's changes
//     of the worker count during the whole step;
//   - stepK_peak_window_p99_ms: the highest p99 of one window during
//     the whole step, the transient included;
//   - stepK_fixed_wait_p99_ms: the p99 wait with the workers fixed;
//   - stepK_peak_worker_overshoot_pct: how far the worker count went
//     past the needed workers once it had reached them, transients
//     included (above on a step up, below on a step down), in percent
//     of the needed workers.
//
// It also reports worker_seconds for the loop and for the peak needed
// workers held all along (peak_fixed_worker_seconds), and the peak
// fixed run's worst step p99 (peak_fixed_wait_p99_ms).
func SimulateWorkers(cfg WorkersSim) (*SimReport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	loop, err := runWorkers(c, true, 0)
	if err != nil {
		return nil, err
	}
	fixed, err := runWorkers(c, false, c.Workers)
	if err != nil {
		return nil, err
	}
	needed := make([]int, len(c.Steps))
	peak := 1
	for k := range c.Steps {
		if needed[k], err = neededWorkers(c, k); err != nil {
			return nil, err
		}
		peak = max(peak, needed[k])
	}
	peakRun, err := runWorkers(c, false, peak)
	if err != nil {
		return nil, err
	}
	rep := &SimReport{Name: "workers", Seed: c.Seed}
	if rep.Trace, err = workersTrace(c, loop, fixed, needed); err != nil {
		return nil, err
	}
	rep.Plot = PlotOptions{
		Title: fmt.Sprintf("autoscaling: queue-wait p99 target %v, load %v × %d workers' capacity", c.Target, c.Steps, c.Workers),
		Panels: []Panel{
			{Title: "queue wait p99 with the loop (ms)", Series: []string{SeriesSetpoint, SeriesMeasurement}},
			{Title: "workers: loop and needed", Series: []string{SeriesActuation, "needed"}},
			{Title: fmt.Sprintf("queue wait p99 with %d fixed workers (ms)", c.Workers), Series: []string{SeriesSetpoint, "fixed_p99_ms"}},
			{Title: "load (× initial capacity)", Series: []string{"load"}},
		},
	}
	var peakP99 time.Duration
	perStep := int(c.StepLength / c.Window)
	start := c.Workers
	for k := range c.Steps {
		addWorkersStepMetrics(rep, c, k, &loop.steps[k], &fixed.steps[k], needed[k])
		series := loop.workers[k*perStep : min((k+1)*perStep, len(loop.workers))]
		rep.AddMetric(fmt.Sprintf("step%d_peak_worker_overshoot_pct", k+1), 100*peakOvershoot(start, series, needed[k]), "%")
		if len(series) > 0 {
			start = series[len(series)-1]
		}
		peakP99 = max(peakP99, peakRun.steps[k].p99())
	}
	rep.AddMetric("worker_seconds", loop.workerSeconds, "worker·s")
	rep.AddMetric("peak_fixed_worker_seconds", peakRun.workerSeconds, "worker·s")
	rep.AddMetric("peak_fixed_wait_p99_ms", ms(peakP99), "ms")
	return rep, nil
}

func addWorkersStepMetrics(rep *SimReport, c WorkersSim, k int, st, fixed *workersStep, needed int) {
	name := func(s string) string { return fmt.Sprintf("step%d_%s", k+1, s) }
	p99, mean := st.p99(), st.meanWorkers()
	rep.AddMetric(name("load"), c.Steps[k], "× capacity")
	rep.AddMetric(name("needed_workers"), float64(needed), "workers")
	rep.AddMetric(name("wait_p99_ms"), ms(p99), "ms")
	rep.AddMetric(name("wait_overshoot_pct"), 100*max(0, float64(p99)/float64(c.Target)-1), "%")
	all := st.p99All()
	rep.AddMetric(name("wait_p99_whole_step_ms"), ms(all), "ms")
	rep.AddMetric(name("wait_overshoot_whole_step_pct"), 100*max(0, float64(all)/float64(c.Target)-1), "%")
	rep.AddMetric(name("workers_mean"), mean, "workers")
	rep.AddMetric(name("worker_overshoot_pct"), 100*max(0, mean/float64(needed)-1), "%")
	rep.AddMetric(name("reversals"), float64(st.reversals()), "")
	rep.AddMetric(name("peak_window_p99_ms"), ms(st.peakP99), "ms")
	rep.AddMetric(name("fixed_wait_p99_ms"), ms(fixed.p99()), "ms")
}

// peakOvershoot returns how far the worker count went past needed,
// as a share of needed, once it had reached it: moving from start
// toward needed, the largest excess beyond it in the same direction
// (above it on the way up, below it on the way down), transients
// included. 0 when it never went past.
func peakOvershoot(start int, workers []int, needed int) float64 {
	dir := 1
	if needed < start {
		dir = -1
	}
	crossed, worst := start == needed, 0
	for _, n := range workers {
		if dir*(n-needed) >= 0 {
			crossed = true
		}
		if crossed {
			worst = max(worst, dir*(n-needed))
		}
	}
	if needed == 0 {
		return 0
	}
	return float64(worst) / float64(needed)
}

// workersTrace has a row per window of the loop's run.
func workersTrace(c WorkersSim, loop, fixed *workersRun, needed []int) (*Trace, error) {
	tr, err := NewTrace("needed", "fixed_p99_ms", "load")
	if err != nil {
		return nil, err
	}
	perStep := int(c.StepLength / c.Window)
	for i := range loop.windowP99 {
		k := i / perStep
		at := time.Duration(i+1) * c.Window
		err := tr.Add(at, ms(c.Target), ms(loop.windowP99[i]), float64(loop.workers[i]),
			float64(needed[k]), ms(fixed.windowP99[i]), c.Steps[k])
		if err != nil {
			return nil, err
		}
	}
	return tr, nil
}
