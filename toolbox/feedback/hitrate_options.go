package feedback

import (
	"fmt"
	"math"
)

// HitRateOption configures a HitRateLoop built by NewHitRateLoop. Each
// option validates its arguments; giving one twice replaces the earlier
// value. The built-in law's options (WithHitRateGain,
// WithHitRateMaxStep, WithHitRateDeadband) do not apply with
// WithHitRateController, and giving both is an error.
type HitRateOption func(*hitRateConfig) error

type hitRateConfig struct {
	minSize, maxSize int
	minLookups       uint64
	smoothing        float64
	gain             float64
	maxStep          float64
	deadband         float64
	controller       Controller
	lawOptions       []string // built-in law options given, for the conflict check
}

// Defaults of a HitRateLoop.
const (
	DefaultHitRateMinSize    = 16
	DefaultHitRateMaxSize    = 1_000_000
	DefaultHitRateMinLookups = 100
	DefaultHitRateGain       = 5
	DefaultHitRateMaxStep    = 2
	DefaultHitRateDeadband   = 0.005
)

func defaultHitRateConfig() hitRateConfig {
	return hitRateConfig{
		minSize: DefaultHitRateMinSize, maxSize: DefaultHitRateMaxSize,
		minLookups: DefaultHitRateMinLookups, smoothing: 1,
		gain: DefaultHitRateGain, maxStep: DefaultHitRateMaxStep,
		deadband: DefaultHitRateDeadband,
	}
}

func (c *hitRateConfig) check() error {
	if c.controller != nil && len(c.lawOptions) > 0 {
		return fmt.Errorf("%w: %v apply to the built-in law, not with WithHitRateController", ErrHitRateConfig, c.lawOptions)
	}
	return nil
}

func finitePositive(v float64) bool { return v > 0 && !math.IsInf(v, 0) }

// WithSizeBounds bounds the size, in entries, the loop gives the cache
// to [min, max]: max caps the memory the loop may spend, min keeps a
// cache useful when its hit rate is above target anyway. 1 ≤ min ≤ max.
// Default: DefaultHitRateMinSize (16) and DefaultHitRateMaxSize
// (1,000,000); a cache whose size lies outside is resized into them by
// NewHitRateLoop.
func WithSizeBounds(min, max int) HitRateOption {
	return func(c *hitRateConfig) error {
		if min < 1 || max < min {
			return fmt.Errorf("%w: size bounds [%d, %d]: want 1 ≤ min ≤ max", ErrHitRateConfig, min, max)
		}
		c.minSize, c.maxSize = min, max
		return nil
	}
}

// WithMinLookups sets the fewest lookups a window needs for the loop to
// act on it; a window with fewer (or none) does not act, and its
// lookups count towards the next window. ≥ 1. Default:
// DefaultHitRateMinLookups (100).
func WithMinLookups(n uint64) HitRateOption {
	return func(c *hitRateConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: min lookups 0: want ≥ 1", ErrHitRateConfig)
		}
		c.minLookups = n
		return nil
	}
}

// WithHitRateSmoothing makes the loop act on an exponentially weighted
// average of the windows' hit rates, m ← m + alpha·(h − m), instead of
// the last window's alone; alpha in (0, 1]. Smoothing quiets a noisy
// measurement (few lookups per window) at the price of lag, which slows
// the response to a changed working set. Default: 1, no smoothing.
func WithHitRateSmoothing(alpha float64) HitRateOption {
	return func(c *hitRateConfig) error {
		if !(alpha > 0 && alpha <= 1) {
			return fmt.Errorf("%w: smoothing %v: want (0, 1]", ErrHitRateConfig, alpha)
		}
		c.smoothing = alpha
		return nil
	}
}

// WithHitRateGain sets the built-in law's gain g, in nepers of size per
// unit of hit-rate error: an error of one point (0.01) moves the size
// by a factor e^(0.01·g). The error then shrinks by 1 − g·k per window,
// k being the slope of the hit rate against ln(size) (about 0.1 for
// Zipf keys with skew 1.1, at most the hit rate itself for any concave
// curve); keep g·k below 1 to avoid overshoot. > 0 and finite. Default:
// DefaultHitRateGain (5).
func WithHitRateGain(g float64) HitRateOption {
	return func(c *hitRateConfig) error {
		if !finitePositive(g) {
			return fmt.Errorf("%w: gain %v: want > 0 and finite", ErrHitRateConfig, g)
		}
		c.gain = g
		c.lawOptions = append(c.lawOptions, "WithHitRateGain")
		return nil
	}
}

// WithHitRateMaxStep limits the built-in law's change of size in one
// window to a factor: at most ×f up and ÷f down. > 1 and finite.
// Default: DefaultHitRateMaxStep (2), doubling or halving at most.
func WithHitRateMaxStep(f float64) HitRateOption {
	return func(c *hitRateConfig) error {
		if !(f > 1) || math.IsInf(f, 0) {
			return fmt.Errorf("%w: max step %v: want > 1 and finite", ErrHitRateConfig, f)
		}
		c.maxStep = f
		c.lawOptions = append(c.lawOptions, "WithHitRateMaxStep")
		return nil
	}
}

// WithHitRateDeadband sets the smallest error, as a hit-rate fraction
// (0.005 is half a point), the built-in law corrects, however sure the
// pooled windows are of it; errors the windows' noise can explain are
// left alone too (see HitRateLoop). In [0, 0.5). Default:
// DefaultHitRateDeadband (0.005).
func WithHitRateDeadband(d float64) HitRateOption {
	return func(c *hitRateConfig) error {
		if !(d >= 0 && d < 0.5) {
			return fmt.Errorf("%w: deadband %v: want [0, 0.5)", ErrHitRateConfig, d)
		}
		c.deadband = d
		c.lawOptions = append(c.lawOptions, "WithHitRateDeadband")
		return nil
	}
}

// WithHitRateController replaces the built-in law with ctl: on each
// window with enough lookups it is given the measured hit rate and the
// time since it was last given one, and returns the size in entries,
// which the loop rounds and bounds (NaN keeps the size). A PID from
// NewPID with WithSetpoint(target) and output limits is one choice;
// the loop's target is then only reported, the controller's set point
// rules. The deadband and the not-full rule are the law's and do not
// apply. Default: the built-in law.
func WithHitRateController(ctl Controller) HitRateOption {
	return func(c *hitRateConfig) error {
		if ctl == nil {
			return fmt.Errorf("%w: nil controller", ErrHitRateConfig)
		}
		c.controller = ctl
		return nil
	}
}
