package feedback

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidRateLoopOption is returned, wrapped with the detail, by
// NewPublishPacer and NewCallRate for an unusable or inapplicable
// option.
var ErrInvalidRateLoopOption = errors.New("feedback: invalid rate loop option")

// Defaults of the rate loops (PublishPacer and CallRate).
const (
	// DefaultLossSetpoint is the share of messages dropped, or of calls
	// shed, that a rate loop holds: 1 %.
	DefaultLossSetpoint = 0.01
	// DefaultRateKp and DefaultRateKi are the gains of the default
	// controller, which works on the logarithm of the rate (see
	// WithPacerGains).
	DefaultRateKp = 0.3
	DefaultRateKi = 2.0
	// DefaultRateHeadroom is how far above the rate actually used in a
	// window the loop may still raise the rate (see WithPacerHeadroom).
	DefaultRateHeadroom = 2.0
)

// rateProbe is the largest pressure, in log-rate units, that a window
// below the set point applies: the loop's fastest upward probe. With
// the default Ki it raises the rate by about 65 % a second.
const rateProbe = 0.25

// rateBoostWindows caps the count of calm windows (below the set point)
// whose doubling boosts the upward probe.
const rateBoostWindows = 16

// rateFloorShare is the lowest rate the default controller sets, as a
// share of the rate it started from, when the bucket's own lower bound
// is below it.
const rateFloorShare = 1e-3

// rateLossCap bounds a measured loss share below 1 so that its pressure
// stays finite: a window losing everything cuts the rate as one losing
// 99 % would.
const rateLossCap = 0.99

// rateLoopConfig is what the two rate loops share.
type rateLoopConfig struct {
	setpoint    float64
	setpointSet bool
	level       bool // the signal is a level (lag), not a loss share
	kp, ki      float64
	gainsSet    bool
	ctrl        Controller
	headroom    float64
}

func defaultRateLoopConfig() rateLoopConfig {
	return rateLoopConfig{
		setpoint: DefaultLossSetpoint,
		kp:       DefaultRateKp,
		ki:       DefaultRateKi,
		headroom: DefaultRateHeadroom,
	}
}

func (c *rateLoopConfig) setLossSetpoint(s float64) error {
	if !(s > 0 && s < 1) {
		return fmt.Errorf("%w: loss set point %v: want a share in (0, 1)", ErrInvalidRateLoopOption, s)
	}
	c.setpoint, c.setpointSet = s, true
	return nil
}

func (c *rateLoopConfig) setGains(kp, ki float64) error {
	if !finite(kp) || !finite(ki) || kp < 0 || ki <= 0 {
		return fmt.Errorf("%w: gains (%v, %v): want Kp ≥ 0 and Ki > 0, finite", ErrInvalidRateLoopOption, kp, ki)
	}
	c.kp, c.ki, c.gainsSet = kp, ki, true
	return nil
}

func (c *rateLoopConfig) setController(ctrl Controller) error {
	if ctrl == nil {
		return fmt.Errorf("%w: nil controller", ErrInvalidRateLoopOption)
	}
	c.ctrl = ctrl
	return nil
}

func (c *rateLoopConfig) setHeadroom(f float64) error {
	if !finite(f) || f < 1 {
		return fmt.Errorf("%w: headroom %v: want a finite factor ≥ 1", ErrInvalidRateLoopOption, f)
	}
	c.headroom = f
	return nil
}

// check rejects combinations that do not apply.
func (c *rateLoopConfig) check() error {
	if c.ctrl != nil && c.gainsSet {
		return fmt.Errorf("%w: gains given with a controller of the caller's", ErrInvalidRateLoopOption)
	}
	return nil
}

// rateLoop sets a RateLimiter's rate from a measured signal, one window
// at a time. Its default controller is a PI on the logarithm of the
// rate, fed with the signal's pressure (see pressure), so its gains do
// not depend on the rates involved: a loss share of 10 % with a 1 %
// set point cuts any rate by the same factor. A controller of the
// caller's gets the raw signal and returns the rate instead.
//
// A rateLoop is not safe for concurrent use: its owner serialises
// update.
type rateLoop struct {
	cfg    rateLoopConfig
	bucket *RateLimiter
	pid    *PID // nil with a controller of the caller's
	ref    float64
	calm   int // windows in a row below the set point, up to rateBoostWindows
}

func newRateLoop(bucket *RateLimiter, cfg rateLoopConfig) (*rateLoop, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &rateLoop{cfg: cfg, bucket: bucket, ref: bucket.Rate()}
	if cfg.ctrl != nil {
		return l, nil
	}
	if !(l.ref > 0) || math.IsInf(l.ref, 1) {
		return nil, fmt.Errorf("%w: the bucket's rate %v must be positive and finite", ErrInvalidRateLoopOption, l.ref)
	}
	// At a rate of 0 nothing would be sent to show that the receiver
	// recovered: the default controller stays above a floor.
	floor := math.Max(bucket.min, l.ref*rateFloorShare)
	lo, hi := math.Log(floor/l.ref), math.Log(bucket.max/l.ref)
	if lo >= hi { // a bucket with a single allowed rate: nothing to control
		hi = lo + 1e-9
	}
	pid, err := NewPID(WithGains(cfg.kp, cfg.ki, 0), WithOutputLimits(lo, hi))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRateLoopOption, err)
	}
	l.pid = pid
	return l, nil
}

// pressure maps the measured signal y to the error the PI works on, in
// log-rate units: 0 at the set point s, positive above it. Above the set
// point a loss share y gives ln((1−s)/(1−y)), the factor by which the
// rate must fall for a receiver that takes a fixed rate and loses the
// rest to lose s; a level (a lag) gives ln(y/s). Below the set point it
// continues with the same slope at s, so that windows scattered around
// the set point average out to it, multiplied by a boost that doubles
// with each window in a row spent below the set point, up to a pressure
// of −rateProbe: a receiver that stopped losing is probed upwards
// quickly, one near its capacity gently.
func (l *rateLoop) pressure(y float64) float64 {
	s := l.cfg.setpoint
	if y < s {
		l.calm = min(l.calm+1, rateBoostWindows)
		slope := 1 / (1 - s)
		if l.cfg.level {
			slope = 1 / s
		}
		boost := float64(uint(1) << (l.calm - 1))
		return math.Max(-rateProbe, slope*(math.Max(y, 0)-s)*boost)
	}
	l.calm = 0
	if l.cfg.level {
		return math.Min(math.Log(y/s), -math.Log(1-rateLossCap))
	}
	return math.Log((1 - s) / (1 - math.Min(y, rateLossCap)))
}

// update takes the window's signal y (NaN when nothing was measured) and
// the rate at which tokens were taken in it, and sets the bucket's
// rate. It returns the rate applied. The rate does not rise while the
// tokens used stay below rate/headroom: a sender that does not use its
// rate gives no evidence that the receiver could take more, and a
// rate grown far above the demand would let a burst through unpaced.
func (l *rateLoop) update(y, used float64, dt time.Duration) float64 {
	cur := l.bucket.Rate()
	if math.IsNaN(y) || dt <= 0 {
		return cur
	}
	var want float64
	if l.pid == nil {
		want = l.cfg.ctrl.Update(y, dt)
	} else {
		want = l.ref * math.Exp(l.pid.Update(l.pressure(y), dt))
	}
	if want > cur && used*l.cfg.headroom < cur {
		want = cur
		if l.pid != nil { // hold the integral where the rate is held
			_ = l.pid.SetManual(math.Log(cur / l.ref))
			l.pid.SetAuto()
		}
	}
	return l.bucket.SetRate(want)
}

// lossShare is lost/(lost+kept), or NaN when both are 0.
func lossShare(lost, kept uint64) float64 {
	if lost+kept == 0 {
		return math.NaN()
	}
	return float64(lost) / float64(lost+kept)
}
