package feedback

import (
	"math"
	"time"
)

// targetConfig holds the settings of the latency-target limiter.
type targetConfig struct {
	window     time.Duration // control period
	maxSpan    time.Duration // longest look-back of the measurement; 0: 10 × window
	percentile float64       // the quantile held at the target
	minSamples int           // samples the measurement pools; 0: ⌈10/(1−percentile)⌉
	headroom   float64       // limit ≤ headroom × peak in flight when growing
}

func defaultTargetConfig() targetConfig {
	return targetConfig{window: 100 * time.Millisecond, percentile: 0.99, headroom: 2}
}

// span returns the longest look-back of the measurement.
func (c targetConfig) span() time.Duration {
	if c.maxSpan > 0 {
		return c.maxSpan
	}
	return 10 * c.window
}

// pool returns the samples the measurement pools.
func (c targetConfig) pool() int {
	if c.minSamples > 0 {
		return c.minSamples
	}
	return int(math.Ceil(10/(1-c.percentile) - 1e-9))
}

// full returns the samples below which a measurement counts for less:
// with fewer than 1/(1−q) the nearest-rank percentile is the maximum.
func (c targetConfig) full() int {
	return min(c.pool(), int(math.Ceil(1/(1-c.percentile)-1e-9)))
}

// WithTargetWindow sets the latency target's control period, > 0: the
// limit is updated at the first sample after each window, from the
// samples of the newest windows (see WithTargetMinSamples) looking back
// at most span, ≥ window (0 means ten windows). Default: 100 ms and
// 1 s. Latency target only.
func WithTargetWindow(window, span time.Duration) LimitOption {
	return limitOpt("WithTargetWindow", kindTarget, func(c *limitConfig) error {
		if window <= 0 || (span != 0 && span < window) {
			return limitErr("target window %v, span %v: want window > 0 and span 0 or ≥ window", window, span)
		}
		c.target.window, c.target.maxSpan = window, span
		return nil
	})
}

// WithTargetPercentile sets the latency percentile held at the target,
// as a fraction in [0.5, 1): 0.99 holds the p99, 0.9 the p90. It also
// sets the default of WithTargetMinSamples. Default: 0.99. Latency
// target only.
func WithTargetPercentile(q float64) LimitOption {
	return limitOpt("WithTargetPercentile", kindTarget, func(c *limitConfig) error {
		if !(q >= 0.5 && q < 1) {
			return limitErr("percentile %v: want 0.5 ≤ q < 1", q)
		}
		c.target.percentile = q
		return nil
	})
}

// WithTargetMinSamples sets how many samples the measured percentile
// pools: it is taken over the newest windows that together hold at
// least n samples, looking back at most the span WithTargetWindow sets.
// ≥ 1. Default: 10/(1−q) for percentile q, 1,000 for the p99. The
// nearest-rank percentile of n samples is, on average, about the
// q·n/(n+1) quantile: with 100 samples the "p99" is near the p98, which
// for a 10 ms exponential service is 7 ms lower; with 1,000 it is
// within 0.1 points. Latency target only.
func WithTargetMinSamples(n int) LimitOption {
	return limitOpt("WithTargetMinSamples", kindTarget, func(c *limitConfig) error {
		if n < 1 {
			return limitErr("min samples %d: want ≥ 1", n)
		}
		c.target.minSamples = n
		return nil
	})
}

// WithTargetHeadroom sets how far above the demand the latency target
// lets the limit grow: while latency is under the target the limit
// rises to at most ratio × the most requests seen in flight in the
// window (and never falls for that reason), so a quiet period does not
// leave a limit that would admit a burst far beyond what was measured.
// ≥ 1, finite. Default: 2. Latency target only.
func WithTargetHeadroom(ratio float64) LimitOption {
	return limitOpt("WithTargetHeadroom", kindTarget, func(c *limitConfig) error {
		if !(ratio >= 1) || math.IsInf(ratio, 0) {
			return limitErr("headroom %v: want finite ≥ 1", ratio)
		}
		c.target.headroom = ratio
		return nil
	})
}
