package feedback

import (
	"math"
	"sync"
	"time"
)

// LatencyTarget is a concurrency limit that holds a latency percentile
// (the p99 by default) at a target by admission control, in the spirit
// of Uber's Cinnamon: a PI controller, with gains derived from the
// target and the measurement rather than tuned per service, turns the
// limit so that the measured percentile sits at the target.
//
// It gathers the round trips of completed requests in windows of time
// (WithTargetWindow, default 100 ms, on the WithClock clock). At the
// first sample after a window's end it closes the window and measures
// the nearest-rank percentile over the samples of the newest windows
// that together hold enough of them (WithTargetMinSamples, 1,000 for
// the p99), looking back at most the span (1 s by default): windows
// with too few samples are merged with the ones before. A measurement
// of fewer than 1/(1−q) samples (100 for the p99), where the
// nearest-rank percentile is the slowest sample, counts for less: its
// error is scaled by its share of those. A dropped request (OnSample
// with dropped set) counts as a sample slower than any other.
//
// The controller works on logarithms, which makes it the same for a
// 10 ms and a 10 s service: its measurement is ln(percentile), its set
// point ln(target), its output ln(limit / initial limit), so a given
// relative error moves the limit by a given ratio. A queue's latency
// grows about in proportion to the requests admitted, so the plant's
// gain in these units is at most 1 whatever the service; the rest of
// the plant is a delay: a window, the time an admitted request takes
// (the target, at the set point) and half the measurement's look-back,
// τ = window + target + look-back/2. The gains follow from that (an
// IMC rule for a first-order plant with delay τ and time constant half
// a window, closed-loop time constant τ), recomputed as the look-back
// changes:
//
//	Ki = 1/(2τ) per second,  Kp = window/(4τ),  Kd = 0
//
// with the measurement clamped to within a factor of 10 of the target.
// The derivative is left out: a percentile is too noisy for it to
// help. The controller is this package's PID (NewPID), with bumpless
// changes of gains and set point; whenever the limit bounds or the
// headroom below hold the limit back, its integral is rebased on the
// limit applied, so it does not wind up.
//
// Under light load the measured latency is below the target whatever
// the limit, and an integral controller would raise the limit until it
// meant nothing; a burst would then find no limit at all. So while
// latency is under the target the limit grows to at most the headroom
// (WithTargetHeadroom, default 2) times the most requests seen in
// flight in the window, and never falls for that reason.
//
// Build it with NewLatencyTarget. It is safe for concurrent use, starts
// no goroutines and needs no Close. It works only when samples arrive:
// with no completions the limit stays where it is.
type LatencyTarget struct {
	mu      sync.Mutex
	cfg     limitConfig
	now     func() time.Duration
	pid     *PID
	target  time.Duration
	limit   float64
	initial float64 // the output's reference: output = ln(limit/initial)

	cur     *targetWin   // the window being gathered
	recent  []*targetWin // closed windows the next measurement may pool, oldest first
	free    []*targetWin // spare windows, to reuse their buffers
	scratch []time.Duration

	stats TargetStats
}

// targetWin is one window's samples.
type targetWin struct {
	start   time.Duration
	rtts    []time.Duration
	dropped int
	peak    int
}

// targetMaxSamples bounds the samples one window holds: a window closes
// early when it has this many, whatever its age.
const targetMaxSamples = 1 << 16

// targetClamp bounds the measurement to within this ratio of the target
// either side, so one extreme window moves the limit by a bounded step.
const targetClamp = 10.0

// Compile-time check that *LatencyTarget is a Limiter.
var _ Limiter = (*LatencyTarget)(nil)

// TargetWindow is what a LatencyTarget measured at the close of one
// window and the limit it set.
type TargetWindow struct {
	End          time.Duration // clock reading when the window closed
	Span         time.Duration // the window's length
	Samples      int           // completed requests in the window, dropped ones included
	Dropped      int           // of which reported dropped
	PeakInFlight int           // most requests in flight when one of the window's samples was sent
	Pooled       int           // samples the percentile was taken over (this window and earlier ones)
	LookBack     time.Duration // time those samples span
	Latency      time.Duration // the percentile measured; math.MaxInt64 when it falls among drops
	Limit        int           // the limit set at the window's close
}

// TargetStats sums up a LatencyTarget since it was built.
type TargetStats struct {
	Target     time.Duration // the latency target
	Percentile float64       // the percentile held at it, as a fraction
	Limit      int           // the current limit
	Windows    uint64        // windows closed
	Thin       uint64        // measurements of fewer than 1/(1−q) samples, which counted for less
	Samples    uint64        // samples taken, dropped ones included
	Dropped    uint64        // samples reported dropped
	Last       TargetWindow  // the last window closed; zero before the first
}

// NewLatencyTarget builds a limiter holding the latency percentile at
// target, > 0. Options: WithLimitBounds, WithInitialLimit (default 20),
// WithClock, WithTargetWindow (default 100 ms, merged up to 1 s),
// WithTargetPercentile (default 0.99), WithTargetMinSamples (default
// 100 for the p99) and WithTargetHeadroom (default 2).
func NewLatencyTarget(target time.Duration, opts ...LimitOption) (*LatencyTarget, error) {
	if target <= 0 {
		return nil, limitErr("latency target %v: want > 0", target)
	}
	cfg, err := buildLimitConfig(kindTarget, opts)
	if err != nil {
		return nil, err
	}
	initial := float64(cfg.initial)
	kp, ki := targetGains(cfg.target.window, target, 0)
	pid, err := NewPID(
		WithGains(kp, ki, 0),
		WithSetpoint(math.Log(target.Seconds())),
	)
	if err != nil {
		return nil, limitErr("controller: %v", err)
	}
	l := &LatencyTarget{cfg: cfg, now: cfg.monotonicClock(), pid: pid, target: target, limit: initial, initial: initial}
	l.cur = &targetWin{start: l.now()}
	l.stats = TargetStats{Target: target, Percentile: cfg.target.percentile, Limit: cfg.initial}
	return l, nil
}

// targetGains derives the PI gains from the window, the target and the
// measurement's look-back, as the type's documentation explains.
func targetGains(window, target, lookBack time.Duration) (kp, ki float64) {
	tau := (window + target + lookBack/2).Seconds()
	return window.Seconds() / (4 * tau), 1 / (2 * tau)
}

// Limit returns the current limit, the controller's (real-valued) limit
// rounded to the nearest whole request.
func (l *LatencyTarget) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(math.Round(l.limit))
}

// OnSample records one completed request and, when the window is due,
// closes it and updates the limit. A non-positive rtt is ignored unless
// dropped.
func (l *LatencyTarget) OnSample(rtt time.Duration, inflight int, dropped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !dropped && rtt <= 0 {
		return
	}
	w := l.cur
	if dropped {
		w.dropped++
	} else {
		w.rtts = append(w.rtts, rtt)
	}
	w.peak = max(w.peak, inflight)
	now := l.now()
	if now-w.start >= l.cfg.target.window || len(w.rtts)+w.dropped >= targetMaxSamples {
		l.closeWindow(now)
	}
}

// closeWindow measures, updates the controller and the limit, and
// starts the next window at now.
func (l *LatencyTarget) closeWindow(now time.Duration) {
	cur := l.cur
	l.recent = append(l.recent, cur)
	y, w := l.measure(now)
	w.Limit = l.actuate(y, w)
	l.record(w)
	l.cur = l.newWin(now)
}

// measure takes the percentile over the pooled windows and returns the
// controller's measurement, ln(percentile) clamped and, for a thin
// measurement, drawn toward the set point; and the window's record
// without its limit.
func (l *LatencyTarget) measure(now time.Duration) (float64, TargetWindow) {
	tc := l.cfg.target
	cur := l.cur
	pooled, dropped, from := l.pool(now)
	lat, inf := l.percentile(pooled, dropped)
	n := len(pooled) + dropped
	w := TargetWindow{End: now, Span: now - cur.start, Samples: len(cur.rtts) + cur.dropped, Dropped: cur.dropped,
		PeakInFlight: cur.peak, Pooled: n, LookBack: now - from, Latency: lat}

	r, span := l.pid.Setpoint(), math.Log(targetClamp)
	y := r + span // the percentile fell among the drops
	if inf {
		w.Latency = math.MaxInt64
	} else {
		y = clampLimit(math.Log(lat.Seconds()), r-span, r+span)
	}
	if n < tc.full() {
		y = r + (y-r)*float64(n)/float64(tc.full())
		l.stats.Thin++
	}
	return y, w
}

// actuate updates the gains for the measurement's look-back, runs the
// controller and returns the new limit, held within the bounds and,
// while it grows, within the headroom over the window's peak in flight.
// When either holds it back, the controller's integral is rebased on
// the limit applied (a bumpless pass through manual mode), so it never
// winds up beyond it.
func (l *LatencyTarget) actuate(y float64, w TargetWindow) int {
	tc := l.cfg.target
	kp, ki := targetGains(tc.window, l.target, min(w.LookBack, tc.span()))
	_ = l.pid.SetGains(kp, ki, 0) // finite and positive: cannot fail
	prev := l.limit
	raw := l.initial * math.Exp(l.pid.Update(y, min(w.Span, tc.span())))
	next := l.bound(raw)
	if headroom := tc.headroom * float64(w.PeakInFlight); next > prev && next > headroom {
		next = l.bound(max(prev, headroom))
	}
	if next != raw { // held back: rebase the integral on the limit applied
		_ = l.pid.SetManual(math.Log(next / l.initial)) // finite: cannot fail
		l.pid.SetAuto()
	}
	l.limit = next
	return int(math.Round(next))
}

// pool gathers the samples of the newest closed windows until there
// are enough or the look-back is reached (the newest window always
// counts), forgets the windows it did not need, and returns the finite
// samples, the dropped count and the start of the oldest window used.
// The returned slice is l.scratch, valid until the next call.
func (l *LatencyTarget) pool(now time.Duration) ([]time.Duration, int, time.Duration) {
	tc := l.cfg.target
	l.scratch = l.scratch[:0]
	dropped, keep := 0, len(l.recent)
	for i := len(l.recent) - 1; i >= 0; i-- {
		w := l.recent[i]
		if i < len(l.recent)-1 && (w.start < now-tc.span() || len(l.scratch)+dropped >= tc.pool()) {
			break
		}
		l.scratch = append(l.scratch, w.rtts...)
		dropped += w.dropped
		keep = i
	}
	for _, w := range l.recent[:keep] {
		l.free = append(l.free, w)
	}
	l.recent = append(l.recent[:0], l.recent[keep:]...)
	return l.scratch, dropped, l.recent[0].start
}

func (l *LatencyTarget) newWin(start time.Duration) *targetWin {
	if n := len(l.free); n > 0 {
		w := l.free[n-1]
		l.free = l.free[:n-1]
		*w = targetWin{start: start, rtts: w.rtts[:0]}
		return w
	}
	return &targetWin{start: start}
}

// percentile returns the nearest-rank percentile of the samples with
// dropped ones counted as slower than any, and true instead when that
// rank falls among the dropped. It reorders rtts.
func (l *LatencyTarget) percentile(rtts []time.Duration, dropped int) (time.Duration, bool) {
	n := len(rtts) + dropped
	rank := max(int(math.Ceil(l.cfg.target.percentile*float64(n)-1e-9)), 1) // 1-based
	if rank > len(rtts) {
		return 0, true
	}
	return nthDuration(rtts, rank-1), false
}

func (l *LatencyTarget) bound(x float64) float64 {
	return clampLimit(x, float64(l.cfg.minLimit), float64(l.cfg.maxLimit))
}

func (l *LatencyTarget) record(w TargetWindow) {
	s := &l.stats
	s.Windows++
	s.Samples += uint64(w.Samples)
	s.Dropped += uint64(w.Dropped)
	s.Limit = w.Limit
	s.Last = w
}

// SetTarget changes the latency target, > 0, without a jump of the
// limit: the controller's set point and gains change bumplessly and the
// limit then moves toward the new target at the controller's pace.
func (l *LatencyTarget) SetTarget(target time.Duration) error {
	if target <= 0 {
		return limitErr("latency target %v: want > 0", target)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.pid.SetSetpoint(math.Log(target.Seconds())); err != nil {
		return limitErr("controller: %v", err)
	}
	l.target = target
	l.stats.Target = target
	return nil
}

// Stats returns the counters, the current limit and the last window.
func (l *LatencyTarget) Stats() TargetStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Last returns the last window closed, and false before the first.
func (l *LatencyTarget) Last() (TargetWindow, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats.Last, l.stats.Windows > 0
}
