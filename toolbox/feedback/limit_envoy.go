package feedback

import (
	"math"
	"sync"
	"time"
)

// envoyConfig holds the settings of the Envoy-style gradient limiter.
type envoyConfig struct {
	window      time.Duration // WithWindow
	percentile  float64       // WithPercentile, in (0, 1)
	buffer      float64       // WithBuffer, a fraction of minRTT
	minSamples  int           // WithMinSamples, per window
	rttSamples  int           // WithMinRTTSamples
	rttInterval time.Duration // WithMinRTTInterval
}

func defaultEnvoyConfig() envoyConfig {
	return envoyConfig{
		window:      100 * time.Millisecond,
		percentile:  0.9,
		buffer:      0.25,
		minSamples:  10,
		rttSamples:  250,
		rttInterval: time.Minute,
	}
}

// WithWindow sets the length of the Envoy-style gradient's sampling
// window: the limit moves once per window, from the round trips that
// completed in it; > 0. Default: 100 ms. EnvoyGradient only.
func WithWindow(d time.Duration) LimitOption {
	return limitOpt("WithWindow", kindEnvoy, func(c *limitConfig) error {
		if d <= 0 {
			return limitErr("window %v: want > 0", d)
		}
		c.envoy.window = d
		return nil
	})
}

// WithPercentile sets the percentile, as a fraction in (0, 1), that
// sums a window's round trips up (the sample RTT) and the no-load
// samples up (the min RTT). Default: 0.9 (p90). EnvoyGradient only.
func WithPercentile(p float64) LimitOption {
	return limitOpt("WithPercentile", kindEnvoy, func(c *limitConfig) error {
		if !(p > 0 && p < 1) {
			return limitErr("percentile %v: want 0 < p < 1", p)
		}
		c.envoy.percentile = p
		return nil
	})
}

// WithBuffer sets how much slower than the min RTT a window may be,
// as a fraction of the min RTT, before the gradient falls below one;
// ≥ 0. Default: 0.25 (Envoy's 25 %). EnvoyGradient only.
func WithBuffer(ratio float64) LimitOption {
	return limitOpt("WithBuffer", kindEnvoy, func(c *limitConfig) error {
		if !(ratio >= 0) || math.IsInf(ratio, 0) {
			return limitErr("buffer %v: want finite ≥ 0", ratio)
		}
		c.envoy.buffer = ratio
		return nil
	})
}

// WithMinSamples sets the least number of round trips a window needs
// to move the limit; a window with fewer leaves it as it is; ≥ 1.
// Default: 10. EnvoyGradient only.
func WithMinSamples(n int) LimitOption {
	return limitOpt("WithMinSamples", kindEnvoy, func(c *limitConfig) error {
		if n < 1 {
			return limitErr("min samples %d: want ≥ 1", n)
		}
		c.envoy.minSamples = n
		return nil
	})
}

// WithMinRTTSamples sets the least number of no-load round trips,
// taken within the re-measurement interval (WithMinRTTInterval), the
// min RTT is measured from; it is measured from the latest 2,048 at
// most; 10 ≤ n ≤ 2048. Default: 250. EnvoyGradient only.
func WithMinRTTSamples(n int) LimitOption {
	return limitOpt("WithMinRTTSamples", kindEnvoy, func(c *limitConfig) error {
		if n < 10 || n > envoyMaxRTTSamples {
			return limitErr("min RTT samples %d: want 10 ≤ n ≤ %d", n, envoyMaxRTTSamples)
		}
		c.envoy.rttSamples = n
		return nil
	})
}

// WithMinRTTInterval sets the re-measurement interval: the longest a
// round trip counts toward the min RTT, so a min RTT measured from
// fresh samples is never older than d; > 0. Default: 1 minute (Envoy's
// default interval). EnvoyGradient only.
func WithMinRTTInterval(d time.Duration) LimitOption {
	return limitOpt("WithMinRTTInterval", kindEnvoy, func(c *limitConfig) error {
		if d <= 0 {
			return limitErr("min RTT interval %v: want > 0", d)
		}
		c.envoy.rttInterval = d
		return nil
	})
}

// EnvoyGradient is a concurrency limit after the gradient controller
// of Envoy's adaptive concurrency filter. Round trips are gathered in
// windows of time (WithWindow). When a window ends, a percentile of
// its round trips (WithPercentile) is the sample RTT, and
//
//	gradient  = clamp((minRTT + buffer) / sampleRTT, 0.5, 2)
//	limit     = gradient × limit + √(gradient × limit)
//
// where buffer is a fraction of the min RTT (WithBuffer) and the
// square root is headroom that lets the limit grow while latency is
// within the buffer. A window with fewer than WithMinSamples round
// trips leaves the limit alone. The min RTT is the same percentile
// taken over round trips that found no queue: the no-load latency.
//
// Envoy keeps the min RTT fresh by dropping the limit to a handful of
// requests (3 by default) once an interval until it has measured again,
// which sheds everything above that handful while it measures. This
// limiter never lowers the limit to measure; it measures from the
// traffic it already has. A round trip is a no-load sample when it was
// sent with no more in flight than both half the least limit of the
// last ten windows and the lowest quarter of its own window's in-flight
// counts: the requests that found the service least busy, while the
// limit was nowhere near holding them back. The min RTT is the
// percentile of the no-load samples taken within the last
// WithMinRTTInterval (the latest 2,048 at most), re-measured at the end
// of every window once there are WithMinRTTSamples of them: a sample
// counts for one interval at most, so the min RTT follows a service
// that became slower or faster within one interval of light traffic.
// Under sustained overload the requests in flight always fill the
// limit, there are no no-load samples, and the last min RTT is kept —
// a min RTT learnt from requests queued behind a limit in use would
// take the queueing for the service's own latency and let the limit
// ratchet up — except that the percentile of all round trips of the
// interval lowers it when it is lower (the service became faster).
// Nothing is shed to measure, so nothing needs jitter to keep hosts
// from shedding at the same moment.
//
// Three rules keep the limit from shedding what the service could
// serve while the min RTT catches up with a slower service. The limit
// grows only after a window that used at least half of it. A window in
// which fewer than a quarter of the requests were sent with nine
// tenths of the limit or more in flight (the limit was not what held
// them back) lowers it only down to its peak in flight plus the same √
// headroom. And in such a window, when its own no-load samples (at
// least WithMinSamples of them) are slower than the min RTT, the
// gradient reads their percentile in its place: the service, not a
// queue, became slower.
//
// Limits of the approach: what it cannot see, it does not measure. A
// limiter started straight into overload never sees a request find the
// service idle; its first min RTT is then the percentile of all round
// trips, queueing included, and the limit settles somewhat higher than
// it would (in simulation at twice the capacity: a min RTT of 30 ms
// against a no-load p90 of 23 ms, a limit of 32 rather than about 25)
// until lighter traffic re-measures it. And a service whose capacity
// halves at once under a load it can still just carry is cut, and
// sheds a little, during the seconds the min RTT takes to follow.
//
// Build it with NewEnvoyGradient. It is safe for concurrent use (a
// mutex guards its state), starts no goroutines, never sleeps and
// needs no Close; it reads its clock (WithClock) in Limit and OnSample.
type EnvoyGradient struct {
	mu    sync.Mutex
	cfg   limitConfig
	now   func() time.Duration
	limit float64
	win   envoyWindow
	// recent holds the limit in force in each of the last windows; a
	// sample is a no-load one only against the least of them.
	recent [envoyRecentWindows]float64
	nwin   int       // windows closed, to index recent
	light  envoyRing // no-load samples
	all    envoyRing // every sample, to lower a stale min RTT
	stats  EnvoyStats
	buf    []time.Duration // scratch for percentiles
	lbuf   []time.Duration // the closing window's no-load samples
	ibuf   []int           // scratch for the in-flight quartile
}

// EnvoyStats is what an EnvoyGradient measured at the end of its last
// window that had enough samples.
type EnvoyStats struct {
	Limit     int           // the limit now
	MinRTT    time.Duration // the no-load latency estimate (0: none yet)
	SampleRTT time.Duration // the last window's percentile round trip
	Gradient  float64       // the last gradient, before the growth and floor rules
	// MinRTTAt is the clock reading when the min RTT was last measured
	// or lowered.
	MinRTTAt time.Duration
	Windows  int  // windows that had enough samples
	Measured int  // windows at whose end the min RTT was re-measured from no-load samples
	Busy     bool // whether the last window ran at the limit
}

// NewEnvoyGradient builds an Envoy-style gradient limiter. Options:
// WithLimitBounds, WithInitialLimit, WithClock (default the real
// monotonic clock), WithWindow (100 ms), WithPercentile (0.9),
// WithBuffer (0.25), WithMinSamples (10), WithMinRTTSamples (250),
// WithMinRTTInterval (1 minute). Until the first min RTT is measured
// the limit stays at its initial value.
func NewEnvoyGradient(opts ...LimitOption) (*EnvoyGradient, error) {
	cfg, err := buildLimitConfig(kindEnvoy, opts)
	if err != nil {
		return nil, err
	}
	e := &EnvoyGradient{cfg: cfg, now: cfg.monotonicClock(), limit: float64(cfg.initial)}
	e.light = newEnvoyRing(envoyMaxRTTSamples)
	e.all = newEnvoyRing(envoyMaxRTTSamples)
	e.win.reset(e.now(), cfg.initial)
	return e, nil
}

// Limit returns the current limit, first closing the window if its
// time is up.
func (e *EnvoyGradient) Limit() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.roll(e.now())
	return int(e.limit)
}

// Stats returns what the limiter measured at its last window.
func (e *EnvoyGradient) Stats() EnvoyStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Limit = int(e.limit)
	return s
}

// OnSample records one completed request in the current window,
// closing the previous window first if its time is up. A dropped
// request, or one with a non-positive rtt, is not a round trip and is
// ignored: the gradient reads latency only, as Envoy's does.
func (e *EnvoyGradient) OnSample(rtt time.Duration, inflight int, dropped bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	e.roll(now)
	if dropped || rtt <= 0 {
		return
	}
	e.win.add(rtt, inflight, int(e.limit))
}

// lowLimit returns the least limit in force over the last
// envoyRecentWindows windows, the current one included.
func (e *EnvoyGradient) lowLimit() float64 {
	low := e.limit
	for _, l := range e.recent[:min(e.nwin, envoyRecentWindows)] {
		low = math.Min(low, l)
	}
	return low
}

// roll closes the current window if now is past its end and starts the
// window now falls in.
func (e *EnvoyGradient) roll(now time.Duration) {
	w := e.cfg.envoy.window
	if now < e.win.start+w {
		return
	}
	e.recent[e.nwin%envoyRecentWindows] = e.limit
	e.nwin++
	e.close(e.win.start + w)
	e.win.reset(e.win.start+(now-e.win.start)/w*w, int(e.lowLimit()))
}

// close ends the window at time end: the window's samples feed the min
// RTT, then the limit moves.
func (e *EnvoyGradient) close(end time.Duration) {
	n := len(e.win.rtts)
	if n < e.cfg.envoy.minSamples {
		return
	}
	busy := 4*e.win.near >= n
	e.lbuf, e.ibuf = e.win.light(e.lbuf[:0], e.ibuf)
	e.light.push(e.lbuf, end)
	e.all.push(e.win.rtts, end)
	e.remeasure(end)
	minRTT := e.stats.MinRTT
	if !busy && len(e.lbuf) >= e.cfg.envoy.minSamples {
		// The window's own no-load round trips show the service's
		// latency now: when they are slower than the min RTT, the
		// service slowed, and the gradient reads them.
		minRTT = max(minRTT, e.percentile(e.lbuf))
	}
	sample := e.percentile(e.win.rtts)
	e.stats.SampleRTT, e.stats.Busy = sample, busy
	e.stats.Windows++
	if minRTT > 0 {
		e.update(minRTT, sample, busy)
	}
}

// remeasure sets the min RTT from the fresh no-load samples when there
// are enough of them. When there are not, it lowers the min RTT to the
// percentile of all fresh samples if that is lower.
func (e *EnvoyGradient) remeasure(now time.Duration) {
	since, need := now-e.cfg.envoy.rttInterval, e.cfg.envoy.rttSamples
	if e.buf = e.light.fresh(since, e.buf[:0]); len(e.buf) >= need {
		e.stats.MinRTT, e.stats.MinRTTAt = e.percentile(e.buf), now
		e.stats.Measured++
		return
	}
	if e.buf = e.all.fresh(since, e.buf[:0]); len(e.buf) >= need {
		if p := e.percentile(e.buf); e.stats.MinRTT == 0 || p < e.stats.MinRTT {
			e.stats.MinRTT, e.stats.MinRTTAt = p, now
		}
	}
}

// update moves the limit by the gradient of sample against minRTT.
func (e *EnvoyGradient) update(minRTT, sample time.Duration, busy bool) {
	g := clampLimit(float64(minRTT)*(1+e.cfg.envoy.buffer)/float64(sample), 0.5, 2)
	e.stats.Gradient = g
	next := g * e.limit
	next += math.Sqrt(next)
	peak := float64(e.win.maxInflight)
	switch {
	case next > e.limit && 2*peak < math.Floor(e.limit):
		next = e.limit // the limit was not in use: no evidence it may grow
	case next < e.limit && !busy:
		next = math.Max(next, math.Min(e.limit, peak+math.Sqrt(peak)))
	}
	e.limit = clampLimit(next, float64(e.cfg.minLimit), float64(e.cfg.maxLimit))
}

// percentile returns the configured percentile of ds (nearest rank),
// reordering ds in place.
func (e *EnvoyGradient) percentile(ds []time.Duration) time.Duration {
	k := int(math.Ceil(e.cfg.envoy.percentile*float64(len(ds)))) - 1
	return nthDuration(ds, max(k, 0))
}
