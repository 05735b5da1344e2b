package feedback

import (
	"cmp"
	"fmt"
	"math"
	"time"
)

// PIDSim configures SimulatePID. The zero value is the scenario of
// docs/feedback.md: a first-order plant (static gain 2, time constant
// 1 s) whose actuator saturates at 5.5 (5 holds the output at 10),
// controlled every 50 ms by a PI controller (Kp 1.5, Ki 1/s) with and
// without anti-windup. The set point is 10 from the start (the output
// starts at 0), a load disturbance takes 0.5 off the plant's output from
// 12 s, and the set point is moved to 6 at 20 s (a bumpless change: the
// output does not jump, the integral action carries it there).
type PIDSim struct {
	// Seed draws the measurement noise.
	Seed uint64
	// Noise is the standard deviation of the noise added to each
	// measurement; 0 means none, and it must not be negative.
	Noise float64
	// Duration is the virtual time simulated; 0 means 30 s, at least 25 s.
	Duration time.Duration
}

// pidPlant is a first-order process τ·ẏ = K·u − y, integrated in steps,
// with an additive load disturbance on its output.
type pidPlant struct {
	gain, tau, y, load float64
}

func (p *pidPlant) step(u float64, dt time.Duration) float64 {
	for range 10 { // finer than the controller's sample
		p.y += (p.gain*u - p.y) * dt.Seconds() / 10 / p.tau
	}
	return p.y - p.load
}

// SimulatePID runs the PID scenario twice on the same plant and noise,
// with the default anti-windup (conditional integration) and with none,
// and records both: set point, measurement and actuation of the first,
// and the second's measurement and actuation as extra series.
func SimulatePID(cfg PIDSim) (*SimReport, error) {
	switch {
	case cfg.Noise < 0 || math.IsNaN(cfg.Noise) || math.IsInf(cfg.Noise, 0):
		return nil, fmt.Errorf("%w: Noise %v: want finite ≥ 0", ErrSimConfig, cfg.Noise)
	case cfg.Duration != 0 && cfg.Duration < 25*time.Second:
		return nil, fmt.Errorf("%w: Duration %v < 25s", ErrSimConfig, cfg.Duration)
	}
	dur := cmp.Or(cfg.Duration, 30*time.Second)
	const dt = 50 * time.Millisecond
	setpoint := func(t time.Duration) float64 {
		if t < 20*time.Second {
			return 10
		}
		return 6
	}
	type run struct {
		pid   *PID
		plant pidPlant
		y, u  float64
	}
	mk := func(aw AntiWindup) (*run, error) {
		p, err := NewPID(WithGains(1.5, 1, 0), WithSetpoint(10), WithOutputLimits(0, 5.5), WithAntiWindup(aw, 0))
		if err != nil {
			return nil, err
		}
		return &run{pid: p, plant: pidPlant{gain: 2, tau: 1}}, nil
	}
	on, err := mk(AntiWindupConditional)
	if err != nil {
		return nil, err
	}
	off, err := mk(AntiWindupOff)
	if err != nil {
		return nil, err
	}
	tr, err := NewTrace("no anti-windup: output", "no anti-windup: actuation")
	if err != nil {
		return nil, err
	}
	sim := NewSim(cfg.Seed)
	var peakOn, peakOff float64
	for t := time.Duration(0); t < dur; t += dt {
		sp := setpoint(t)
		noise := cfg.Noise * sim.Rand().NormFloat64()
		for _, r := range []*run{on, off} {
			r.plant.load = 0
			if t >= 12*time.Second {
				r.plant.load = 0.5
			}
			if sp != r.pid.Setpoint() {
				if err := r.pid.SetSetpoint(sp); err != nil {
					return nil, err
				}
			}
			r.u = r.pid.Update(r.y+noise, dt)
			r.y = r.plant.step(r.u, dt)
		}
		if t < 12*time.Second {
			peakOn, peakOff = max(peakOn, on.y), max(peakOff, off.y)
		}
		if err := tr.Add(t+dt, sp, on.y, on.u, off.y, off.u); err != nil {
			return nil, err
		}
	}
	rep := &SimReport{Name: "pid", Seed: cfg.Seed, Trace: tr, Plot: PlotOptions{
		Title: "PI control of a first-order plant with a saturating actuator: anti-windup on and off",
		Panels: []Panel{
			{Title: "output (set point 10, then 6 from 20 s; load disturbance from 12 s)", Series: []string{SeriesSetpoint, SeriesMeasurement, "no anti-windup: output"}},
			{Title: "actuation (limited to 0..5.5)", Series: []string{SeriesActuation, "no anti-windup: actuation"}},
		},
	}}
	rep.AddMetric("overshoot with anti-windup", 100*max(peakOn-10, 0)/10, "%")
	rep.AddMetric("overshoot without anti-windup", 100*max(peakOff-10, 0)/10, "%")
	for _, c := range []struct {
		name string
		y    []float64
	}{{"with anti-windup", mustSeries(tr, SeriesMeasurement)}, {"without anti-windup", mustSeries(tr, "no anti-windup: output")}} {
		rep.AddMetric("settling to 10 "+c.name, settleTime(c.y, 10, 0.02, 0, 12*time.Second, dt), "s")
		rep.AddMetric("recovery from the disturbance "+c.name, settleTime(c.y, 10, 0.02, 12*time.Second, 20*time.Second, dt), "s")
	}
	return rep, nil
}

func mustSeries(tr *Trace, name string) []float64 {
	vs, _ := tr.Series(name)
	return vs
}

// settleTime returns the time from `from` after which ys (one value per
// dt, the first at dt) stays within tol of sp until `to`, in seconds;
// -1 if it never does.
func settleTime(ys []float64, sp, tol float64, from, to, dt time.Duration) float64 {
	first, last := int(from/dt), min(int(to/dt), len(ys))
	settled := -1
	for i := last - 1; i >= first; i-- {
		if math.Abs(ys[i]-sp) > tol*math.Abs(sp) {
			break
		}
		settled = i
	}
	if settled < 0 || settled == first && first == last {
		return -1
	}
	return (time.Duration(settled+1)*dt - from).Seconds()
}
