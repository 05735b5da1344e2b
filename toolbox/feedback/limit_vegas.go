package feedback

import (
	"math"
	"sync"
	"time"
)

// Vegas is a delay-based concurrency limit after TCP Vegas. It keeps
// an estimate of the no-load round trip (the time a request takes with
// no queue) and from each sample estimates the requests queued behind
// the limit as limit × (1 − noLoad/rtt). Below alpha queued requests it
// raises the limit by one, above beta it lowers it by one, and on a
// drop it multiplies it by the backoff factor. While fewer than half
// the limit are in flight the limit is not raised: the load, not the
// limit, is what holds the latency down.
//
// The no-load estimate is the least round trip seen over the current
// and the previous epoch of WithProbeEvery samples. Keeping a minimum
// forever would never learn that the service became slower; resetting
// it to the next sample, as the original does to re-probe, takes a
// queued request's round trip for the no-load one, and the estimate
// ratchets upward at each reset under load. The windowed minimum needs
// no reset and no shedding: an epoch under a working limit always holds
// some requests that found no queue. Build it with NewVegas; it is safe
// for concurrent use.
type Vegas struct {
	mu      sync.Mutex
	cfg     limitConfig
	limit   float64
	prevMin time.Duration // least rtt of the previous epoch (0: none)
	curMin  time.Duration // least rtt of the current epoch (0: none)
	n       int           // samples in the current epoch
}

// NewVegas builds a Vegas limiter. Options: WithLimitBounds,
// WithInitialLimit, WithBackoff (default 0.9), WithVegasThresholds
// (default 3 and 6), WithProbeEvery (default 100 samples).
func NewVegas(opts ...LimitOption) (*Vegas, error) {
	cfg, err := buildLimitConfig(kindVegas, opts)
	if err != nil {
		return nil, err
	}
	return &Vegas{cfg: cfg, limit: float64(cfg.initial)}, nil
}

// Limit returns the current limit.
func (v *Vegas) Limit() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return int(v.limit)
}

// NoLoadRTT returns the current estimate of the no-load round trip;
// 0 before the first sample.
func (v *Vegas) NoLoadRTT() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.noLoad()
}

func (v *Vegas) noLoad() time.Duration {
	switch {
	case v.prevMin == 0:
		return v.curMin
	case v.curMin == 0:
		return v.prevMin
	}
	return min(v.prevMin, v.curMin)
}

// OnSample updates the no-load estimate and the limit from one
// completed request. A non-positive rtt is ignored.
func (v *Vegas) OnSample(rtt time.Duration, inflight int, dropped bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	lo, hi := float64(v.cfg.minLimit), float64(v.cfg.maxLimit)
	if dropped {
		v.limit = clampLimit(math.Floor(v.limit*v.cfg.backoff), lo, hi)
		return
	}
	if rtt <= 0 {
		return
	}
	v.observe(rtt)
	queue := v.limit * (1 - float64(v.noLoad())/float64(rtt))
	switch {
	case queue > v.cfg.beta:
		v.limit = clampLimit(v.limit-1, lo, hi)
	case queue < v.cfg.alpha && 2*inflight >= int(v.limit):
		v.limit = clampLimit(v.limit+1, lo, hi)
	}
}

// observe records rtt in the current epoch, starting a new epoch every
// probeEvery samples.
func (v *Vegas) observe(rtt time.Duration) {
	if v.curMin == 0 || rtt < v.curMin {
		v.curMin = rtt
	}
	v.n++
	if v.n >= v.cfg.probeEvery {
		v.prevMin, v.curMin, v.n = v.curMin, 0, 0
	}
}
