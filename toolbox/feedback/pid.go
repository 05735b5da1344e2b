package feedback

import (
	"fmt"
	"math"
	"time"
)

// PID is a proportional-integral-derivative controller in the
// Controller shape: Update takes the measurement and the time since the
// last call and returns the new output,
//
//	u = Kp·(b·r − y) + I − Kd·ẏf,   I = ∫ Ki·(r − y) dt
//
// limited to the output limits, where r is the set point, y the
// measurement, b the set-point weight and ẏf the derivative of the
// measurement after the optional first-order filter.
//
// The derivative acts on the measurement, not on the error, so a step
// of the set point does not kick the output. The integral is kept in
// output units, so changing Ki does not move the output, and
// SetSetpoint and SetGains adjust it so that the output is continuous
// across the change (see each). Anti-windup is chosen with
// WithAntiWindup. In manual mode (SetManual) the output is the caller's
// and the PID only tracks the measurement, so that SetAuto resumes
// from the manual output without a bump.
//
// A NaN or infinite measurement, or a dt that is not positive, leaves
// the state alone and returns the previous output.
//
// A PID is not safe for concurrent use: one loop owns it.
type PID struct {
	// Configuration.
	kp, ki, kd     float64
	setpoint       float64
	weight         float64
	sample         time.Duration
	outMin, outMax float64
	windup         AntiWindup
	tracking       float64
	filter         time.Duration

	// State.
	integral float64       // the integral term, in output units
	deriv    float64       // filtered derivative of the measurement, per second
	last     float64       // the last measurement used
	haveLast bool          // whether last and deriv are valid
	pending  time.Duration // time summed since the last computation
	out      float64       // the current output, within the limits
	manual   bool
}

// Compile-time check that *PID is a Controller.
var _ Controller = (*PID)(nil)

// NewPID returns a PID configured by opts, in automatic mode with an
// output of 0 (or the nearest limit). It fails with ErrInvalidPIDOption
// when an option is unusable.
func NewPID(opts ...PIDOption) (*PID, error) {
	p := &PID{
		kp:     1,
		weight: 1,
		outMin: math.Inf(-1),
		outMax: math.Inf(1),
		windup: AntiWindupConditional,
	}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, err
		}
	}
	p.out = p.clamp(0)
	return p, nil
}

// Update takes a new measurement, dt after the previous call, and
// returns the output to apply. With a sample time, calls until the
// sample time has elapsed return the previous output (see
// WithSampleTime).
func (p *PID) Update(measurement float64, dt time.Duration) float64 {
	if dt <= 0 || !finite(measurement) {
		return p.out
	}
	p.pending += dt
	if p.pending < p.sample {
		return p.out
	}
	step := p.pending.Seconds()
	p.pending = 0
	p.track(measurement, step)
	if !p.manual {
		p.out = p.compute(measurement, step)
	}
	return p.out
}

// track advances the filtered derivative and the last measurement.
func (p *PID) track(y, h float64) {
	if !p.haveLast {
		p.last, p.deriv, p.haveLast = y, 0, true
		return
	}
	raw := (y - p.last) / h
	if p.filter > 0 {
		p.deriv += h / (p.filter.Seconds() + h) * (raw - p.deriv)
	} else {
		p.deriv = raw
	}
	p.last = y
}

// compute advances the integral by a step of h seconds and returns the
// limited output.
func (p *PID) compute(y, h float64) float64 {
	pd := p.propDeriv(p.kp, p.kd, y)
	inc := p.ki * (p.setpoint - y) * h
	switch p.windup {
	case AntiWindupOff:
		p.integral += inc
	case AntiWindupConditional:
		u := pd + p.integral + inc
		if !(u > p.outMax && inc > 0) && !(u < p.outMin && inc < 0) {
			p.integral += inc
		}
	case AntiWindupBackCalculation:
		u := pd + p.integral
		p.integral += inc + p.tracking*(p.clamp(u)-u)*h
		return p.clamp(u)
	}
	return p.clamp(pd + p.integral)
}

// propDeriv is the proportional plus derivative term for measurement y
// and the given gains.
func (p *PID) propDeriv(kp, kd, y float64) float64 {
	return kp*(p.weight*p.setpoint-y) - kd*p.deriv
}

func (p *PID) clamp(u float64) float64 {
	return math.Min(p.outMax, math.Max(p.outMin, u))
}

// SetSetpoint changes the set point. When integral action is on
// (Ki > 0) and the PID has computed an output, the change of the
// proportional term, Kp·b·Δr, is moved into the integral, so the
// output does not jump and then goes to the new set point at the pace
// of the integral action. With Ki = 0 nothing would bring it there, so
// the output steps by Kp·b·Δr (use WithSetpointWeight to soften it).
// The set point must be finite.
func (p *PID) SetSetpoint(setpoint float64) error {
	if !finite(setpoint) {
		return fmt.Errorf("%w: set point %v is not finite", ErrInvalidPIDOption, setpoint)
	}
	if p.ki > 0 && p.haveLast && !p.manual {
		p.integral -= p.kp * p.weight * (setpoint - p.setpoint)
	}
	p.setpoint = setpoint
	return nil
}

// SetGains changes the gains, which must be finite and not negative.
// When the new Ki is positive and the PID has computed an output, the
// change of the proportional and derivative terms at the last
// measurement is moved into the integral, so the output does not jump.
// With Ki = 0 the output steps by that change.
func (p *PID) SetGains(kp, ki, kd float64) error {
	if err := checkGains(kp, ki, kd); err != nil {
		return err
	}
	if ki > 0 && p.haveLast && !p.manual {
		p.integral += p.propDeriv(p.kp, p.kd, p.last) - p.propDeriv(kp, kd, p.last)
	}
	p.kp, p.ki, p.kd = kp, ki, kd
	return nil
}

// SetManual puts the PID in manual mode with the given output (limited
// to the output limits), or changes the manual output when already
// manual. Update then returns that output while it keeps tracking the
// measurement. output must be finite.
func (p *PID) SetManual(output float64) error {
	if !finite(output) {
		return fmt.Errorf("%w: manual output %v is not finite", ErrInvalidPIDOption, output)
	}
	p.manual = true
	p.out = p.clamp(output)
	return nil
}

// SetAuto returns to automatic mode, if manual, without a bump: the
// integral is set so that the next output, at the last measurement,
// equals the manual output. With Ki = 0 that integral stays as a fixed
// bias. Calling SetAuto in automatic mode does nothing.
func (p *PID) SetAuto() {
	if !p.manual {
		return
	}
	p.manual = false
	if p.haveLast {
		p.integral = p.out - p.propDeriv(p.kp, p.kd, p.last)
	}
}

// Reset clears the dynamic state: the integral, the derivative filter,
// the last measurement and the time towards the next sample. The
// configuration, set point and mode are kept; in automatic mode the
// output returns to 0 (or the nearest limit), in manual mode it stays
// the manual output.
func (p *PID) Reset() {
	p.integral, p.deriv, p.last, p.haveLast, p.pending = 0, 0, 0, false, 0
	if !p.manual {
		p.out = p.clamp(0)
	}
}

// Output returns the current output, the value the last Update
// returned (or the manual output).
func (p *PID) Output() float64 { return p.out }

// Setpoint returns the set point.
func (p *PID) Setpoint() float64 { return p.setpoint }

// Gains returns Kp, Ki and Kd.
func (p *PID) Gains() (kp, ki, kd float64) { return p.kp, p.ki, p.kd }

// Manual reports whether the PID is in manual mode.
func (p *PID) Manual() bool { return p.manual }
