package feedback

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Limiter is an adaptive concurrency limit: it watches how requests
// fare and says how many may be in flight at once. The caller admits a
// request only while fewer than Limit() are in flight, and calls
// OnSample once for each request that completes.
//
// OnSample takes the request's round-trip time, the number of requests
// that were in flight when it was sent (itself included), and whether
// it was dropped: shed, timed out or refused as overloaded by the
// service behind the limit. Requests the limiter itself refused are
// not samples.
//
// The limiters in this package (NewAIMD, NewVegas, NewGradient2,
// NewEnvoyGradient, NewLatencyTarget, and NewWindowed around any of
// them) are safe for concurrent use: a mutex guards their state, so many
// goroutines may call OnSample and Limit at once. They start no
// goroutines, never sleep and need no Close.
type Limiter interface {
	Limit() int
	OnSample(rtt time.Duration, inflight int, dropped bool)
}

// ErrInvalidLimitOption is returned, wrapped with the detail, by the
// limiters' constructors (NewAIMD, NewVegas, NewGradient2,
// NewEnvoyGradient, NewLatencyTarget, NewWindowed) and by
// LatencyTarget.SetTarget, for an unusable option value or an option
// that does not apply to that limiter.
var ErrInvalidLimitOption = errors.New("feedback: invalid limiter option")

// limitKind names a limiter, so options can say which ones they apply to.
type limitKind uint8

const (
	kindAIMD limitKind = 1 << iota
	kindVegas
	kindGradient2
	kindEnvoy  // Envoy-style gradient on windowed p90: limit_envoy.go
	kindTarget // latency target by admission control: limit_target.go
	// kindWindowed is NewWindowed, which wraps a limiter rather than being
	// one: the options of all limiters (bounds, initial limit) do not
	// apply to it.
	kindWindowed
	kindAll = kindAIMD | kindVegas | kindGradient2 | kindEnvoy | kindTarget
)

func (k limitKind) String() string {
	switch k {
	case kindAIMD:
		return "AIMD"
	case kindVegas:
		return "Vegas"
	case kindGradient2:
		return "Gradient2"
	case kindEnvoy:
		return "gradient (Envoy)"
	case kindTarget:
		return "latency target"
	case kindWindowed:
		return "Windowed"
	}
	return "limiter"
}

// limitConfig holds every limiter's settings; each constructor reads
// the fields that concern it.
type limitConfig struct {
	minLimit, maxLimit, initial int
	backoff                     float64       // AIMD, Vegas on drop
	timeout                     time.Duration // AIMD
	alpha, beta                 float64       // Vegas
	probeEvery                  int           // Vegas
	tolerance, smoothing        float64       // Gradient2
	queueSize                   float64       // Gradient2
	longWindow                  int           // Gradient2
	// clock reads the time for the limiters that work in windows of time
	// (kindEnvoy, kindTarget); nil means the real monotonic clock.
	clock    func() time.Duration
	envoy    envoyConfig    // limit_envoy.go
	target   targetConfig   // limit_target.go
	windowed windowedConfig // limit_windowed.go
}

func defaultLimitConfig() limitConfig {
	return limitConfig{
		minLimit: 1, maxLimit: 1000, initial: 20,
		backoff: 0.9, timeout: 5 * time.Second,
		alpha: 3, beta: 6, probeEvery: 100,
		tolerance: 1.5, smoothing: 0.2, queueSize: 4, longWindow: 600,
		envoy: defaultEnvoyConfig(), target: defaultTargetConfig(), windowed: defaultWindowedConfig(),
	}
}

// WithClock sets the clock of a limiter that measures in windows of
// time: now returns the time elapsed since any fixed origin, and must
// never go backwards. A simulation passes its Sim's Now so the limiter
// runs on virtual time. Default: the real monotonic clock.
// NewEnvoyGradient, NewLatencyTarget and NewWindowed only.
func WithClock(now func() time.Duration) LimitOption {
	return limitOpt("WithClock", kindEnvoy|kindTarget|kindWindowed, func(c *limitConfig) error {
		if now == nil {
			return limitErr("nil clock")
		}
		c.clock = now
		return nil
	})
}

// monotonicClock returns c.clock, or the real monotonic clock measured
// from the moment it is called.
func (c *limitConfig) monotonicClock() func() time.Duration {
	if c.clock != nil {
		return c.clock
	}
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// LimitOption configures a limiter built by NewAIMD, NewVegas,
// NewGradient2, NewEnvoyGradient, NewLatencyTarget or NewWindowed. Each
// option validates its arguments and says which
// limiters it applies to; a constructor given an unusable value, or an
// option meant for another limiter, fails with ErrInvalidLimitOption.
type LimitOption struct {
	name  string
	kinds limitKind
	apply func(*limitConfig) error
}

func limitOpt(name string, kinds limitKind, apply func(*limitConfig) error) LimitOption {
	return LimitOption{name: name, kinds: kinds, apply: apply}
}

func limitErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidLimitOption}, args...)...)
}

// WithLimitBounds sets the least and the greatest limit the limiter
// will return; 1 ≤ min ≤ max. Default: 1 and 1000. All limiters.
func WithLimitBounds(min, max int) LimitOption {
	return limitOpt("WithLimitBounds", kindAll, func(c *limitConfig) error {
		if min < 1 || max < min {
			return limitErr("limit bounds [%d, %d]: want 1 ≤ min ≤ max", min, max)
		}
		c.minLimit, c.maxLimit = min, max
		return nil
	})
}

// WithInitialLimit sets the limit before any sample; ≥ 1, and it must
// lie within the bounds. Default: 20. All limiters.
func WithInitialLimit(n int) LimitOption {
	return limitOpt("WithInitialLimit", kindAll, func(c *limitConfig) error {
		if n < 1 {
			return limitErr("initial limit %d: want ≥ 1", n)
		}
		c.initial = n
		return nil
	})
}

// WithBackoff sets the factor, in (0, 1), the limit is multiplied by on
// a drop (and, for AIMD, on a round trip above the timeout). Default:
// 0.9. AIMD and Vegas.
func WithBackoff(ratio float64) LimitOption {
	return limitOpt("WithBackoff", kindAIMD|kindVegas, func(c *limitConfig) error {
		if !(ratio > 0 && ratio < 1) {
			return limitErr("backoff %v: want 0 < ratio < 1", ratio)
		}
		c.backoff = ratio
		return nil
	})
}

// WithTimeout sets the round-trip time above which AIMD treats a
// sample as a drop; > 0. Default: 5 s. AIMD only.
func WithTimeout(d time.Duration) LimitOption {
	return limitOpt("WithTimeout", kindAIMD, func(c *limitConfig) error {
		if d <= 0 {
			return limitErr("timeout %v: want > 0", d)
		}
		c.timeout = d
		return nil
	})
}

// WithVegasThresholds sets Vegas' alpha and beta, in requests: below
// alpha estimated queued requests the limit grows by one, above beta
// it shrinks by one; 0 < alpha < beta. Default: 3 and 6. Vegas only.
func WithVegasThresholds(alpha, beta float64) LimitOption {
	return limitOpt("WithVegasThresholds", kindVegas, func(c *limitConfig) error {
		if !(alpha > 0 && beta > alpha) || math.IsInf(beta, 0) {
			return limitErr("Vegas thresholds %v, %v: want 0 < alpha < beta, finite", alpha, beta)
		}
		c.alpha, c.beta = alpha, beta
		return nil
	})
}

// WithProbeEvery sets the length, in samples, of one epoch of Vegas'
// no-load round-trip estimate: the estimate is the least round trip
// seen over the current and the previous epoch, so a low value is
// forgotten after two epochs and none is ever learnt by shedding
// traffic; ≥ 1. Default: 100. Vegas only.
func WithProbeEvery(samples int) LimitOption {
	return limitOpt("WithProbeEvery", kindVegas, func(c *limitConfig) error {
		if samples < 1 {
			return limitErr("probe epoch %d samples: want ≥ 1", samples)
		}
		c.probeEvery = samples
		return nil
	})
}

// WithGradientTolerance sets how far above the long-term round trip
// the short-term one may rise before Gradient2 lowers the limit, as a
// ratio ≥ 1. Default: 1.5. Gradient2 only.
func WithGradientTolerance(ratio float64) LimitOption {
	return limitOpt("WithGradientTolerance", kindGradient2, func(c *limitConfig) error {
		if !(ratio >= 1) || math.IsInf(ratio, 0) {
			return limitErr("tolerance %v: want finite ≥ 1", ratio)
		}
		c.tolerance = ratio
		return nil
	})
}

// WithSmoothing sets the weight, in (0, 1], Gradient2 gives a newly
// computed limit against the previous one. Default: 0.2. Gradient2 only.
func WithSmoothing(w float64) LimitOption {
	return limitOpt("WithSmoothing", kindGradient2, func(c *limitConfig) error {
		if !(w > 0 && w <= 1) {
			return limitErr("smoothing %v: want 0 < w ≤ 1", w)
		}
		c.smoothing = w
		return nil
	})
}

// WithQueueSize sets the headroom, in requests, Gradient2 adds to the
// limit while latency is within tolerance; ≥ 0. Default: 4.
// Gradient2 only.
func WithQueueSize(n float64) LimitOption {
	return limitOpt("WithQueueSize", kindGradient2, func(c *limitConfig) error {
		if !(n >= 0) || math.IsInf(n, 0) {
			return limitErr("queue size %v: want finite ≥ 0", n)
		}
		c.queueSize = n
		return nil
	})
}

// WithLongWindow sets the number of samples Gradient2's long-term
// round-trip average spans; ≥ 2. Default: 600. Gradient2 only.
func WithLongWindow(samples int) LimitOption {
	return limitOpt("WithLongWindow", kindGradient2, func(c *limitConfig) error {
		if samples < 2 {
			return limitErr("long window %d samples: want ≥ 2", samples)
		}
		c.longWindow = samples
		return nil
	})
}

// buildLimitConfig applies opts for the limiter kind and checks the
// result as a whole.
func buildLimitConfig(kind limitKind, opts []LimitOption) (limitConfig, error) {
	c := defaultLimitConfig()
	for _, o := range opts {
		if o.apply == nil {
			return c, limitErr("zero LimitOption")
		}
		if o.kinds&kind == 0 {
			return c, limitErr("%s does not apply to %s", o.name, kind)
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	if c.initial < c.minLimit || c.initial > c.maxLimit {
		return c, limitErr("initial limit %d outside bounds [%d, %d]", c.initial, c.minLimit, c.maxLimit)
	}
	return c, nil
}

// clampLimit keeps x within [lo, hi].
func clampLimit(x, lo, hi float64) float64 {
	return math.Min(math.Max(x, lo), hi)
}
