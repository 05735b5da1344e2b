package feedback

import (
	"math"
	"sync"
	"time"
)

// Gradient2 is a concurrency limit driven by the ratio of a long-term
// to a short-term round-trip average, after Netflix's Gradient2. Each
// sample updates the short average (the sample itself) and the
// long-term exponential average over WithLongWindow samples; the
// gradient
//
//	g = clamp(tolerance × long / short, 0.5, 1)
//
// is 1 while latency stays within tolerance of the long-term level and
// falls below 1 as it rises above. The new limit is limit × g, plus the
// queue-size headroom only while the sample is no slower than the
// long-term level, smoothed with WithSmoothing: between the long-term
// level and tolerance times it the limit holds still.
//
// The original adds the headroom whenever g is 1, that is whenever
// latency is within tolerance, and lets the long-term average follow
// every sample; under sustained modest overload latency sits inside the
// tolerance, the average creeps up to it, and the limit grows without
// bound. Here the headroom needs latency at or below the long-term
// level, and the long-term average rises only on samples
// sent while fewer than half the limit were in flight — when the load,
// not the limit, sets the latency, so higher latency is the service's
// own — and falls on any sample below it. While the limit is in use and
// latency is high the long-term level stays put and the limit cannot
// grow. Build it with NewGradient2; it is safe for concurrent use.
type Gradient2 struct {
	mu    sync.Mutex
	cfg   limitConfig
	limit float64
	long  float64 // long-term average rtt in seconds (0: no sample yet)
}

// NewGradient2 builds a Gradient2 limiter. Options: WithLimitBounds,
// WithInitialLimit, WithGradientTolerance (default 1.5), WithSmoothing
// (default 0.2), WithQueueSize (default 4), WithLongWindow (default
// 600 samples).
func NewGradient2(opts ...LimitOption) (*Gradient2, error) {
	cfg, err := buildLimitConfig(kindGradient2, opts)
	if err != nil {
		return nil, err
	}
	return &Gradient2{cfg: cfg, limit: float64(cfg.initial)}, nil
}

// Limit returns the current limit.
func (g *Gradient2) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return int(g.limit)
}

// LongRTT returns the long-term round-trip average; 0 before the first
// sample.
func (g *Gradient2) LongRTT() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Duration(g.long * float64(time.Second))
}

// OnSample updates the averages and the limit from one completed
// request. A dropped request halves the gradient's floor: the limit is
// multiplied by 0.5 before smoothing. A non-positive rtt is ignored
// unless dropped.
func (g *Gradient2) OnSample(rtt time.Duration, inflight int, dropped bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	lo, hi := float64(g.cfg.minLimit), float64(g.cfg.maxLimit)
	if dropped {
		g.limit = clampLimit(g.smooth(g.limit*0.5), lo, hi)
		return
	}
	if rtt <= 0 {
		return
	}
	short := rtt.Seconds()
	g.updateLong(short, inflight)
	grad := clampLimit(g.cfg.tolerance*g.long/short, 0.5, 1)
	next := g.limit * grad
	if short <= g.long {
		next += g.cfg.queueSize
	}
	g.limit = clampLimit(g.smooth(next), lo, hi)
}

func (g *Gradient2) smooth(next float64) float64 {
	return g.limit*(1-g.cfg.smoothing) + next*g.cfg.smoothing
}

// updateLong moves the long-term average toward short: always when
// short is lower, only when the limit is not in use when it is higher.
func (g *Gradient2) updateLong(short float64, inflight int) {
	if g.long == 0 {
		g.long = short
		return
	}
	if short > g.long && 2*inflight >= int(math.Ceil(g.limit)) {
		return
	}
	w := 2 / float64(g.cfg.longWindow+1)
	g.long += w * (short - g.long)
}
