package feedback

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidPIDOption is returned, wrapped with the detail, by NewPID
// and by PID methods given an argument they cannot use: a negative or
// non-finite gain, inverted output limits, a NaN set point.
var ErrInvalidPIDOption = errors.New("feedback: invalid PID option")

// AntiWindup selects how a PID keeps its integral term from growing
// while the output is held at one of its limits.
type AntiWindup int

const (
	// AntiWindupConditional stops integrating while the output is
	// saturated and the error would push it further into saturation
	// (conditional integration, also called clamping). The default.
	AntiWindupConditional AntiWindup = iota
	// AntiWindupBackCalculation always integrates, and in addition
	// feeds the difference between the limited and the unlimited
	// output back into the integral with a tracking gain, so the
	// integral unwinds at a rate the caller chooses.
	AntiWindupBackCalculation
	// AntiWindupOff integrates without regard to the limits. Only
	// useful for comparison: the integral winds up while saturated and
	// the response overshoots when the output comes off the limit.
	AntiWindupOff
)

// String names the mode.
func (a AntiWindup) String() string {
	switch a {
	case AntiWindupConditional:
		return "conditional"
	case AntiWindupBackCalculation:
		return "back-calculation"
	case AntiWindupOff:
		return "off"
	}
	return fmt.Sprintf("AntiWindup(%d)", int(a))
}

// PIDOption configures a PID built by NewPID. Each option validates its
// arguments and makes NewPID fail with ErrInvalidPIDOption when they
// are unusable. Giving an option twice replaces the earlier value.
type PIDOption func(*PID) error

// WithGains sets the proportional, integral and derivative gains. The
// integral gain is per second of error and the derivative gain is in
// seconds: the output is
//
//	Kp·(b·r − y) + Ki·∫(r − y)dt − Kd·dy/dt
//
// for set point r and measurement y. Each gain must be finite and not
// negative. Default: Kp 1, Ki 0, Kd 0 (a proportional controller).
func WithGains(kp, ki, kd float64) PIDOption {
	return func(p *PID) error {
		if err := checkGains(kp, ki, kd); err != nil {
			return err
		}
		p.kp, p.ki, p.kd = kp, ki, kd
		return nil
	}
}

// WithSetpoint sets the initial set point. It must be finite.
// Default: 0.
func WithSetpoint(setpoint float64) PIDOption {
	return func(p *PID) error {
		if !finite(setpoint) {
			return fmt.Errorf("%w: set point %v is not finite", ErrInvalidPIDOption, setpoint)
		}
		p.setpoint = setpoint
		return nil
	}
}

// WithSampleTime makes the PID compute a new output only once at least
// d has elapsed, summed over the dt of the Update calls since the last
// computation; calls in between return the previous output unchanged
// and ignore their measurement. The computation that follows uses the
// whole elapsed time as its step, so the integral stays correct however
// the calls are spaced. d must be positive. Default: 0, every Update
// with a positive dt computes.
func WithSampleTime(d time.Duration) PIDOption {
	return func(p *PID) error {
		if d <= 0 {
			return fmt.Errorf("%w: sample time %v is not positive", ErrInvalidPIDOption, d)
		}
		p.sample = d
		return nil
	}
}

// WithOutputLimits bounds the output to [min, max]; min must be below
// max and neither may be NaN (infinities leave that side open).
// Default: unbounded on both sides.
func WithOutputLimits(min, max float64) PIDOption {
	return func(p *PID) error {
		if math.IsNaN(min) || math.IsNaN(max) || !(min < max) {
			return fmt.Errorf("%w: output limits [%v, %v]", ErrInvalidPIDOption, min, max)
		}
		p.outMin, p.outMax = min, max
		return nil
	}
}

// WithAntiWindup selects the anti-windup mode. tracking is the
// back-calculation gain, per second, by which the excess of the
// unlimited over the limited output is fed back into the integral; it
// must be positive and finite with AntiWindupBackCalculation and zero
// with the other modes. A common choice is Ki/Kp, or
// sqrt(Ki/Kd) with derivative action. Default: AntiWindupConditional.
func WithAntiWindup(mode AntiWindup, tracking float64) PIDOption {
	return func(p *PID) error {
		switch mode {
		case AntiWindupBackCalculation:
			if !finite(tracking) || tracking <= 0 {
				return fmt.Errorf("%w: back-calculation tracking gain %v must be positive", ErrInvalidPIDOption, tracking)
			}
		case AntiWindupConditional, AntiWindupOff:
			if tracking != 0 {
				return fmt.Errorf("%w: tracking gain given with anti-windup %v", ErrInvalidPIDOption, mode)
			}
		default:
			return fmt.Errorf("%w: unknown anti-windup mode %d", ErrInvalidPIDOption, int(mode))
		}
		p.windup, p.tracking = mode, tracking
		return nil
	}
}

// WithDerivativeFilter passes the derivative of the measurement through
// a first-order low-pass filter with time constant tf before the
// derivative gain applies, so measurement noise does not reach the
// output amplified. A common choice is Kd/Kp/10 seconds. tf must be
// positive. Default: no filter.
func WithDerivativeFilter(tf time.Duration) PIDOption {
	return func(p *PID) error {
		if tf <= 0 {
			return fmt.Errorf("%w: derivative filter time constant %v is not positive", ErrInvalidPIDOption, tf)
		}
		p.filter = tf
		return nil
	}
}

// WithSetpointWeight sets the weight b of the set point in the
// proportional term, Kp·(b·r − y), between 0 and 1. Below 1 the
// response to a set-point step is gentler while the response to a
// disturbance is unchanged. Default: 1.
func WithSetpointWeight(b float64) PIDOption {
	return func(p *PID) error {
		if !(b >= 0 && b <= 1) {
			return fmt.Errorf("%w: set-point weight %v is outside [0, 1]", ErrInvalidPIDOption, b)
		}
		p.weight = b
		return nil
	}
}

func checkGains(kp, ki, kd float64) error {
	for _, g := range []float64{kp, ki, kd} {
		if !finite(g) || g < 0 {
			return fmt.Errorf("%w: gains (%v, %v, %v) must be finite and not negative", ErrInvalidPIDOption, kp, ki, kd)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
