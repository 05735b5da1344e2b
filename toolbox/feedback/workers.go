package feedback

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// WaitWindow is what a WaitSource measured over one control window:
// how long requests waited in a queue for a worker, how many came, and
// how long workers took with them.
type WaitWindow struct {
	// Window is the time the measurement covers.
	Window time.Duration
	// Arrivals counts requests that joined the queue in the window.
	Arrivals int
	// Dispatched counts requests a worker took in the window; WaitP99 is
	// the 99th percentile of their waits (0 when none was taken).
	Dispatched int
	WaitP99    time.Duration
	// Late counts the requests taken in the window that had waited
	// longer than the late threshold the loop passed to MeasureWait (its
	// target); it may be an estimate (interpolated within a histogram
	// bucket). Late/Dispatched ≤ 1 % is a p99 within the target.
	Late float64
	// Queued is the number of requests waiting at the end of the window
	// and OldestWait how long the oldest of them has waited: a backlog
	// no worker has reached yet shows here before it shows in WaitP99.
	Queued     int
	OldestWait time.Duration
	// MeanService is the mean time a worker spent on a request finished
	// in the window; 0 when the source does not know.
	MeanService time.Duration
}

// WaitSource measures queue wait for a WorkerLoop. MeasureWait returns
// what happened since the previous call, dt ago, counting as Late the
// requests that waited longer than late; a simulated source advances
// its virtual clock by dt, a real one reads its counters. A WorkerLoop
// calls it from Step only, never concurrently.
type WaitSource interface {
	MeasureWait(dt, late time.Duration) (WaitWindow, error)
}

// Scaler is the knob of a WorkerLoop: a set of worker nodes it can
// grow and shrink. SetWorkers starts or stops workers until n run, or
// ctx ends; a worker being stopped finishes its request first where
// the implementation can ensure it. Workers reports how many run now.
type Scaler interface {
	Workers() int
	SetWorkers(ctx context.Context, n int) error
}

// WorkerLoopStats is a WorkerLoop's last window: what it measured, the
// terms of its decision and what it did.
type WorkerLoopStats struct {
	// Wait is the last window's measurement.
	Wait WaitWindow
	// ArrivalRate is the loop's estimate of the arrival rate per second
	// (smoothed over windows, reset at once when a window's count is
	// too far from it to be Poisson noise: a load step) and MeanService
	// its smoothed mean service time.
	ArrivalRate float64
	MeanService time.Duration
	// Needed is the feedforward term: the fewest workers that keep the
	// p99 wait of an M/M/c queue at ArrivalRate and MeanService within
	// the target (offered load ArrivalRate × MeanService, Little's
	// law). Backlog is the extra workers that serve the requests
	// already waiting within the drain time (WithDrainTime), when there
	// is a backlog (see WithDrainTime). Correction is the feedback
	// term: workers added because more than 1.5 % of requests kept
	// waiting past the target although the loop ran the workers it
	// wanted (a service-time distribution the model does not fit),
	// given back while fewer than 0.3 % do, forgotten at a load step.
	Needed, Backlog, Correction int
	// LateFraction is the smoothed fraction of requests that waited
	// past the target (Late over Dispatched, recent windows weighing
	// more), restarted at each change of the number of workers; at most
	// 0.01 is a p99 within the target.
	LateFraction float64
	// Desired is Needed+Backlog+Correction within the bounds, and
	// Workers what the loop asked the Scaler for.
	Desired, Workers int
	// ScaleUps and ScaleDowns count the loop's changes of the number of
	// workers since it started; Steps counts its windows.
	ScaleUps, ScaleDowns, Steps uint64
	// Err is the last window's error from the WaitSource or the Scaler,
	// nil when the window went well. The loop keeps running after one.
	Err error
}

// WorkerLoop holds the p99 queue wait of requests at a target by
// starting and stopping workers. Each Step it measures the window's
// arrivals, mean service time and waits, and wants
//
//	Needed (M/M/c model) + Backlog + Correction
//
// workers (see WorkerLoopStats). It scales up at once when even the
// low end of its arrival-rate estimate's noise band (3 standard
// deviations) wants more workers than run, so a load step or a backlog
// gets its workers in one window, and otherwise once it has wanted
// more for the scale-down delay. It scales down only after the high
// end of the band (1.5 standard deviations) has wanted fewer for the
// whole scale-down delay, to the most it wanted during the delay. So
// the measurement noise of a steady load moves few workers, and the
// count does not flap.
//
// A WorkerLoop is a Stepper: drive it with NewRunner on real time or
// call Step from a simulation. Step must not be called concurrently;
// Stats may be called from any goroutine.
type WorkerLoop struct {
	target time.Duration
	src    WaitSource
	scaler Scaler
	cfg    workerLoopConfig

	// Controller state, owned by Step.
	rate      float64       // smoothed arrival rate, per second
	svc       float64       // smoothed mean service time, seconds; 0: unknown
	late      float64       // discounted sum of late requests
	taken     float64       // discounted sum of dispatched requests
	corr      int           // feedback correction, workers
	corrAge   time.Duration // time since the correction last changed
	hot       time.Duration // time the late fraction has stayed high, settled
	cold      time.Duration // time it has stayed low
	downFor   time.Duration // time the loop has wanted fewer workers
	downMax   int           // most the loop wanted during downFor
	upFor     time.Duration // time the loop has wanted more workers
	stable    time.Duration // time since the number of workers last changed
	estimated bool          // rate holds an estimate

	mu    sync.Mutex
	stats WorkerLoopStats
}

// NewWorkerLoop returns a loop holding the p99 queue wait that src
// measures at target (> 0) by setting the number of workers of scaler.
// Options: WithWorkerBounds, WithScaleDownDelay, WithDrainTime,
// WithScaleTimeout. The loop does nothing until its first Step.
func NewWorkerLoop(target time.Duration, src WaitSource, scaler Scaler, opts ...WorkerLoopOption) (*WorkerLoop, error) {
	switch {
	case target <= 0:
		return nil, fmt.Errorf("%w: target %v: want > 0", ErrInvalidWorkerLoop, target)
	case src == nil:
		return nil, fmt.Errorf("%w: nil WaitSource", ErrInvalidWorkerLoop)
	case scaler == nil:
		return nil, fmt.Errorf("%w: nil Scaler", ErrInvalidWorkerLoop)
	}
	cfg := defaultWorkerLoopConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidWorkerLoop)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &WorkerLoop{target: target, src: src, scaler: scaler, cfg: cfg}, nil
}

// Target returns the p99 queue wait the loop holds.
func (l *WorkerLoop) Target() time.Duration { return l.target }

// Stats returns the loop's last window.
func (l *WorkerLoop) Stats() WorkerLoopStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Step runs one control window of length dt: measure, decide, and ask
// the Scaler for the new number of workers (waiting for it at most the
// scale timeout).
func (l *WorkerLoop) Step(dt time.Duration) {
	st := l.Stats()
	st.Steps++
	w, err := l.src.MeasureWait(dt, l.target)
	if err != nil {
		st.Err = err
		l.setStats(st)
		return
	}
	st.Wait, st.Err = w, nil
	cur := l.scaler.Workers()
	l.decide(&st, dt, cur)
	if st.Workers != cur {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.scaleTimeout)
		st.Err = l.scaler.SetWorkers(ctx, st.Workers)
		cancel()
	}
	l.setStats(st)
}

func (l *WorkerLoop) setStats(st WorkerLoopStats) {
	l.mu.Lock()
	l.stats = st
	l.mu.Unlock()
}

// decide fills st's terms and the new number of workers from the
// window in st.Wait, dt long, with cur workers running now.
func (l *WorkerLoop) decide(st *WorkerLoopStats, dt time.Duration, cur int) {
	w := st.Wait
	sigma := l.estimate(w, dt)
	st.ArrivalRate = l.rate
	st.MeanService = time.Duration(l.svc * float64(time.Second))
	st.Backlog = l.backlog(w, cur)
	st.Needed = l.needed(l.rate)
	l.feedback(w, dt, cur >= st.Needed+l.corr && st.Backlog == 0)
	st.Correction = l.corr
	st.LateFraction = l.lateFraction()
	clamp := func(n int) int { return min(max(n, l.cfg.min), l.cfg.max) }
	extra := st.Backlog + st.Correction
	st.Desired = clamp(st.Needed + extra)
	lo := clamp(l.needed(l.rate*(1-upBand*sigma)) + extra)
	hi := clamp(l.needed(l.rate*(1+downBand*sigma)) + extra)
	if l.svc == 0 { // nothing known yet: hold, plus any backlog
		st.Desired = clamp(cur + st.Backlog)
		lo, hi = st.Desired, st.Desired
	}
	st.Workers = l.hysteresis(st, dt, clamp(cur), lo, hi)
	if st.Workers != cur {
		l.stable, l.late, l.taken = 0, 0, 0
	}
}

// estimate updates the smoothed arrival rate, service time and late
// fraction from
// w and returns the relative standard deviation of the rate estimate
// for Poisson arrivals.
func (l *WorkerLoop) estimate(w WaitWindow, dt time.Duration) float64 {
	sec := dt.Seconds()
	if sec <= 0 {
		return 0
	}
	// The weights are per smoothingWindow of time, so the estimates
	// remember as long whatever the control window.
	alpha := perWindow(rateSmoothing, dt)
	keep := 1 - perWindow(lateSmoothing, dt)
	if ms := w.MeanService.Seconds(); ms > 0 {
		l.svc = smooth(l.svc, ms, alpha, l.svc == 0)
	}
	l.late = keep*l.late + w.Late
	l.taken = keep*l.taken + float64(w.Dispatched)
	l.stable += dt
	n, expect := float64(w.Arrivals), l.rate*sec
	// A count more than jumpBand standard deviations from the estimate
	// is a load step: follow it at once.
	jump := !l.estimated || math.Abs(n-expect) > jumpBand*math.Sqrt(math.Max(expect, 1))
	l.rate = smooth(l.rate, n/sec, alpha, jump)
	l.estimated = true
	if jump { // the correction was learnt at another load
		l.corr, l.hot, l.cold = 0, 0, 0
	}
	if l.rate*sec < 1 {
		return 0
	}
	return math.Sqrt(alpha/(2-alpha)) / math.Sqrt(l.rate*sec)
}

// perWindow converts w, a weight per smoothingWindow of time, to the
// weight for a window of dt: 1 − (1 − w)^(dt/smoothingWindow).
func perWindow(w float64, dt time.Duration) float64 {
	return 1 - math.Pow(1-w, float64(dt)/float64(smoothingWindow))
}

// smooth moves an exponentially weighted average toward x by weight
// alpha, or to x when reset.
func smooth(avg, x, alpha float64, reset bool) float64 {
	if reset {
		return x
	}
	return avg + alpha*(x-avg)
}

// needed returns the feedforward workers at arrival rate r.
func (l *WorkerLoop) needed(r float64) int {
	if l.svc == 0 {
		return 0
	}
	return mmcWorkers(r*l.svc, l.target.Seconds()/l.svc, 1-waitQuantile, l.cfg.max)
}

// backlog returns the workers to add so that a backlog is served
// within the drain time; without a service-time estimate it doubles the
// workers. A backlog is a queue whose oldest request has waited more
// than twice the target and that the running workers would take longer
// than the target to serve: the queue of a steady load held at the
// target is not one.
func (l *WorkerLoop) backlog(w WaitWindow, cur int) int {
	if w.Queued == 0 || w.OldestWait <= 2*l.target {
		return 0
	}
	if l.svc == 0 {
		return max(cur, 1)
	}
	work := float64(w.Queued) * l.svc // worker-seconds queued
	if work <= float64(max(cur, 1))*l.target.Seconds() {
		return 0
	}
	return int(math.Ceil(work / l.cfg.drain.Seconds()))
}

// lateFraction returns the smoothed late fraction, 0 before enough
// requests were seen to tell.
func (l *WorkerLoop) lateFraction() float64 {
	if l.taken < minLateSample {
		return 0
	}
	return l.late / l.taken
}

// feedback updates the correction from the smoothed late fraction
// (restarted at every change of the number of workers): one worker
// more when it has stayed above lateHigh for the scale-down delay while
// the loop ran what it wanted (settled), the workers unchanged for
// twice the delay, at most once per delay; one less after it has stayed
// under lateLow for four times the delay.
func (l *WorkerLoop) feedback(w WaitWindow, dt time.Duration, settled bool) {
	l.corrAge += dt
	f := l.lateFraction()
	switch {
	case l.taken < minLateSample:
		l.hot, l.cold = 0, 0
	case f > lateHigh:
		l.cold = 0
		if settled {
			l.hot += dt
		}
		if l.hot >= l.cfg.downDelay && l.corrAge >= l.cfg.downDelay && l.stable >= 2*l.cfg.downDelay {
			l.corr = min(l.corr+1, l.cfg.max)
			l.corrAge, l.hot = 0, 0
		}
	case f < lateLow && w.OldestWait < l.target/2:
		l.hot = 0
		l.cold += dt
		if l.cold >= 4*l.cfg.downDelay && l.corr > 0 {
			l.corr--
			l.cold = 0
		}
	default:
		l.hot, l.cold = 0, 0
	}
}

// hysteresis returns the number of workers to ask for. Up: the
// desired count at once when even lo, the count wanted at the low end
// of the arrival rate's noise band (upBand standard deviations), is
// above cur, or once the desired count has stayed above cur for half
// the scale-down delay. Down: once hi, the count wanted a little above
// the rate estimate (downBand standard deviations), has stayed below
// cur for the whole scale-down delay, the most the loop desired during
// the delay. Else cur.
func (l *WorkerLoop) hysteresis(st *WorkerLoopStats, dt time.Duration, cur, lo, hi int) int {
	if st.Desired > cur {
		l.upFor += dt
	} else {
		l.upFor = 0
	}
	switch {
	case lo > cur || st.Desired > cur && l.upFor >= l.cfg.downDelay:
		l.downFor, l.downMax, l.upFor = 0, 0, 0
		st.ScaleUps++
		return max(st.Desired, lo)
	case hi >= cur:
		l.downFor, l.downMax = 0, 0
		return cur
	}
	l.downFor += dt
	l.downMax = max(l.downMax, st.Desired)
	if l.downFor < l.cfg.downDelay {
		return cur
	}
	n := l.downMax
	l.downFor, l.downMax = 0, 0
	st.ScaleDowns++
	return n
}

// smoothingWindow is the time the smoothing weights are given per.
const smoothingWindow = 500 * time.Millisecond

const (
	waitQuantile  = 0.99
	rateSmoothing = 0.2   // weight of the last smoothingWindow in the smoothed estimates
	lateSmoothing = 0.1   // discount per smoothingWindow of the late and dispatched counts
	minLateSample = 200   // dispatched requests (discounted) before the late fraction counts
	lateHigh      = 0.015 // late fraction above which feedback adds a worker
	lateLow       = 0.003 // and below which it gives one back
	upBand        = 3.0   // standard deviations of the rate estimate a scale-up must clear
	downBand      = 1.5   // and a scale-down
	jumpBand      = 5.0   // standard deviations of a window's arrival count from the estimate that make a load step
)

// mmcWorkers returns the fewest servers c ≤ limit for which an M/M/c
// queue offered a Erlangs (arrival rate × mean service time, Little's
// law) keeps P(wait > t) ≤ p, with t in mean service times; limit when
// none does, 0 when a is 0. P(wait > t) = C(c, a)·exp(−(c−a)t), with
// Erlang's C formula computed through the Erlang B recursion.
func mmcWorkers(a, t, p float64, limit int) int {
	if !(a > 0) {
		return 0
	}
	b := 1.0 // Erlang B with 0 servers
	for c := 1; c <= limit; c++ {
		fc := float64(c)
		b = a * b / (fc + a*b)
		if fc <= a {
			continue
		}
		erlangC := fc * b / (fc - a*(1-b))
		if erlangC*math.Exp(-(fc-a)*t) <= p {
			return c
		}
	}
	return limit
}
