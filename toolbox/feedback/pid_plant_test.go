package feedback

import (
	"math"
	"time"
)

// pjPlant is a first-order process, τ·ẏ = K·u − y, integrated by Euler
// steps: the smallest plant a PID is tuned against.
type pjPlant struct {
	gain float64       // static gain K
	tau  time.Duration // time constant τ
	y    float64       // output, the measurement
}

// step advances the plant by dt with input u and returns its output.
func (pl *pjPlant) step(u float64, dt time.Duration) float64 {
	pl.y += (pl.gain*u - pl.y) * dt.Seconds() / pl.tau.Seconds()
	return pl.y
}

// pjResponse is what a closed-loop run measured.
type pjResponse struct {
	final     float64 // measurement at the end
	peak      float64 // highest measurement
	overshoot float64 // (peak − set point) / |set point − start|, ≥ 0
	settled   time.Duration
	actuation []float64 // every output, in order
}

// pjClosedLoop runs p against pl for the given duration with step dt,
// measuring with noise(i) added (nil for none), and reports the
// response to p's set point. settled is the first time after which the
// measurement stays within tol (relative) of the set point.
func pjClosedLoop(p *PID, pl *pjPlant, dur, dt time.Duration, tol float64, noise func(i int) float64) pjResponse {
	start, sp := pl.y, p.Setpoint()
	r := pjResponse{peak: math.Inf(-1), settled: -1}
	y := pl.y
	n := int(dur / dt)
	for i := 0; i < n; i++ {
		m := y
		if noise != nil {
			m += noise(i)
		}
		u := p.Update(m, dt)
		r.actuation = append(r.actuation, u)
		y = pl.step(u, dt)
		r.peak = math.Max(r.peak, y)
		if math.Abs(y-sp) > tol*math.Abs(sp) {
			r.settled = -1
		} else if r.settled < 0 {
			r.settled = time.Duration(i+1) * dt
		}
	}
	r.final = y
	r.overshoot = math.Max(0, (r.peak-sp)/math.Abs(sp-start))
	return r
}
