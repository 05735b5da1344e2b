package feedback

import (
	"errors"
	"math"
	"math/rand"
	"testing"
	"time"
)

const pjDT = 10 * time.Millisecond

// pjNewPID builds a PID or fails the test.
func pjNewPID(t *testing.T, opts ...PIDOption) *PID {
	t.Helper()
	p, err := NewPID(opts...)
	if err != nil {
		t.Fatalf("NewPID: %v", err)
	}
	return p
}

// pjSteady runs p against pl for dur and returns the last output and
// measurement.
func pjSteady(p *PID, pl *pjPlant, dur time.Duration) (u, y float64) {
	y = pl.y
	for i := 0; i < int(dur/pjDT); i++ {
		u = p.Update(y, pjDT)
		y = pl.step(u, pjDT)
	}
	return u, y
}

func TestPIDStepResponse(t *testing.T) {
	// Plant: gain 2, time constant 1 s, from rest to a set point of 10.
	cases := []struct {
		name          string
		kp, ki, kd    float64
		maxOvershoot  float64
		maxSettleTime time.Duration
	}{
		{"PI well damped", 1, 1, 0, 0.01, 3 * time.Second},
		{"PI fast", 2, 2, 0, 0.01, 2 * time.Second},
		{"PI underdamped", 0.5, 1, 0, 0.10, 6 * time.Second},
		{"PID", 1, 2, 0.1, 0.15, 5 * time.Second},
		{"PID stiff", 4, 8, 0.2, 0.12, 3 * time.Second},
		{"PI slow integral", 3, 1, 0, 0.01, 8 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := pjNewPID(t, WithGains(c.kp, c.ki, c.kd), WithSetpoint(10),
				WithDerivativeFilter(20*time.Millisecond))
			pl := &pjPlant{gain: 2, tau: time.Second}
			r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.02, nil)
			if math.Abs(r.final-10) > 0.02*10 {
				t.Errorf("final measurement %.4f, want 10 ± 2%%", r.final)
			}
			if r.overshoot > c.maxOvershoot {
				t.Errorf("overshoot %.3f, want ≤ %.3f", r.overshoot, c.maxOvershoot)
			}
			if r.settled < 0 || r.settled > c.maxSettleTime {
				t.Errorf("settled within 2%% at %v, want by %v", r.settled, c.maxSettleTime)
			}
		})
	}
}

func TestPIDProportionalOnlyLeavesOffset(t *testing.T) {
	// A P controller on a plant of gain K settles at K·Kp/(1+K·Kp) of the
	// set point: the offset that integral action exists to remove.
	p := pjNewPID(t, WithGains(4, 0, 0), WithSetpoint(10))
	pl := &pjPlant{gain: 2, tau: time.Second}
	r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.02, nil)
	if want := 10 * 8.0 / 9.0; math.Abs(r.final-want) > 1e-3 {
		t.Fatalf("final %.4f, want %.4f", r.final, want)
	}
}

func TestPIDAntiWindup(t *testing.T) {
	// Gains that do not overshoot when the output is free; with the
	// output limited to 5.5 (5 holds the set point) it saturates for
	// seconds while rising, and only the integral wound up meanwhile
	// can carry the measurement past the set point.
	run := func(t *testing.T, limit float64, opt PIDOption) pjResponse {
		p := pjNewPID(t, WithGains(1.5, 1, 0), WithSetpoint(10), WithOutputLimits(0, limit), opt)
		pl := &pjPlant{gain: 2, tau: time.Second}
		r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.02, nil)
		if math.Abs(r.final-10) > 0.02*10 {
			t.Errorf("final %.4f, want 10 ± 2%%", r.final)
		}
		for i, u := range r.actuation {
			if u < 0 || u > limit {
				t.Fatalf("output %d = %v outside [0, %v]", i, u, limit)
			}
		}
		return r
	}
	if r := run(t, 100, WithAntiWindup(AntiWindupOff, 0)); r.overshoot > 0.005 {
		t.Fatalf("unsaturated overshoot %.4f: the gains overshoot by themselves", r.overshoot)
	}
	off := run(t, 5.5, WithAntiWindup(AntiWindupOff, 0))
	if off.overshoot < 0.05 {
		t.Errorf("without anti-windup overshoot %.4f, want ≥ 0.05 (the wound-up integral)", off.overshoot)
	}
	for _, c := range []struct {
		name string
		opt  PIDOption
	}{
		{"conditional", WithAntiWindup(AntiWindupConditional, 0)},
		{"back-calculation", WithAntiWindup(AntiWindupBackCalculation, 0.67)},
		{"back-calculation fast", WithAntiWindup(AntiWindupBackCalculation, 4)},
	} {
		t.Run(c.name, func(t *testing.T) {
			on := run(t, 5.5, c.opt)
			if on.overshoot > 0.005 {
				t.Errorf("overshoot %.4f with anti-windup, want ≤ 0.005 (%.4f without)", on.overshoot, off.overshoot)
			}
		})
	}
}

func TestPIDDerivativeFilterReducesNoiseActuation(t *testing.T) {
	totalVariation := func(u []float64) float64 {
		tv := 0.0
		for i := 1; i < len(u); i++ {
			tv += math.Abs(u[i] - u[i-1])
		}
		return tv
	}
	run := func(filter time.Duration) (tv, final float64) {
		opts := []PIDOption{WithGains(1, 2, 0.2), WithSetpoint(10)}
		if filter > 0 {
			opts = append(opts, WithDerivativeFilter(filter))
		}
		p := pjNewPID(t, opts...)
		rng := rand.New(rand.NewSource(13))
		pl := &pjPlant{gain: 2, tau: time.Second}
		r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.05,
			func(int) float64 { return 0.1 * rng.NormFloat64() })
		return totalVariation(r.actuation), r.final
	}
	raw, rawFinal := run(0)
	filtered, filteredFinal := run(50 * time.Millisecond)
	t.Logf("total variation of the output: unfiltered %.0f, filtered %.0f", raw, filtered)
	if filtered > 0.2*raw {
		t.Errorf("filtered total variation %.0f, want ≤ 20%% of unfiltered %.0f", filtered, raw)
	}
	for _, f := range []float64{rawFinal, filteredFinal} {
		if math.Abs(f-10) > 0.05*10 {
			t.Errorf("final %.3f, want 10 ± 5%%", f)
		}
	}
}

func TestPIDBumplessSetpoint(t *testing.T) {
	// With derivative action: taken on the error, a set-point step
	// would kick the output by Kd·Δr/dt = 80.
	p := pjNewPID(t, WithGains(1.5, 1, 0.2), WithSetpoint(10), WithDerivativeFilter(20*time.Millisecond))
	pl := &pjPlant{gain: 2, tau: time.Second}
	u0, y := pjSteady(p, pl, 10*time.Second)
	if err := p.SetSetpoint(14); err != nil {
		t.Fatal(err)
	}
	u1 := p.Update(y, pjDT)
	// The proportional term would jump by Kp·Δr = 6; only one step of
	// integral action, Ki·Δr·dt = 0.04, may show.
	if d := math.Abs(u1 - u0); d > 0.05 {
		t.Fatalf("output jumped by %.4f at the set-point change (%.4f → %.4f)", d, u0, u1)
	}
	r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.02, nil)
	if math.Abs(r.final-14) > 0.02*14 {
		t.Fatalf("final %.4f after the change, want 14 ± 2%%", r.final)
	}
}

func TestPIDSetpointWithoutIntegralSteps(t *testing.T) {
	// With Ki = 0 nothing could carry a hidden offset away, so the
	// output steps by Kp·b·Δr, as documented.
	p := pjNewPID(t, WithGains(2, 0, 0), WithSetpoint(10), WithSetpointWeight(0.5))
	u0 := p.Update(4, pjDT)
	if err := p.SetSetpoint(12); err != nil {
		t.Fatal(err)
	}
	if u1 := p.Update(4, pjDT); math.Abs(u1-u0-2*0.5*2) > 1e-9 {
		t.Fatalf("output %v → %v, want a step of 2", u0, u1)
	}
}

func TestPIDBumplessGains(t *testing.T) {
	p := pjNewPID(t, WithGains(1, 1, 0.1), WithSetpoint(10), WithDerivativeFilter(20*time.Millisecond))
	pl := &pjPlant{gain: 2, tau: time.Second}
	u0, y := pjSteady(p, pl, 500*time.Millisecond) // mid-rise: large error
	if err := p.SetGains(3, 2, 0.3); err != nil {
		t.Fatal(err)
	}
	naive := (3 - 1) * (10 - y) // the proportional term's change alone
	u1 := p.Update(y, pjDT)
	if d := math.Abs(u1 - u0); d > 0.25 || naive < 10*0.25 {
		t.Fatalf("output jumped by %.4f at the gain change (naive jump %.2f)", d, naive)
	}
	if kp, ki, kd := p.Gains(); kp != 3 || ki != 2 || kd != 0.3 {
		t.Fatalf("Gains() = %v %v %v", kp, ki, kd)
	}
	r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.02, nil)
	if math.Abs(r.final-10) > 0.02*10 {
		t.Fatalf("final %.4f after the change, want 10 ± 2%%", r.final)
	}
}

func TestPIDManualToAuto(t *testing.T) {
	p := pjNewPID(t, WithGains(1.5, 1, 0.1), WithSetpoint(10), WithDerivativeFilter(20*time.Millisecond))
	if err := p.SetManual(3); err != nil {
		t.Fatal(err)
	}
	pl := &pjPlant{gain: 2, tau: time.Second}
	y := pl.y
	for i := 0; i < int(5*time.Second/pjDT); i++ {
		if u := p.Update(y, pjDT); u != 3 {
			t.Fatalf("manual output %v, want 3", u)
		}
		y = pl.step(3, pjDT)
	}
	if !p.Manual() {
		t.Fatal("Manual() = false in manual mode")
	}
	p.SetAuto()
	// Without tracking, the first automatic output would be
	// Kp·(10 − y) ≈ 6; bumpless, it moves from 3 by one step.
	u := p.Update(y, pjDT)
	if math.Abs(u-3) > 0.1 {
		t.Fatalf("first automatic output %.4f, want 3 ± 0.1 (y = %.3f)", u, y)
	}
	r := pjClosedLoop(p, pl, 20*time.Second, pjDT, 0.02, nil)
	if math.Abs(r.final-10) > 0.02*10 {
		t.Fatalf("final %.4f in automatic mode, want 10 ± 2%%", r.final)
	}
}

func TestPIDManualOutputLimited(t *testing.T) {
	p := pjNewPID(t, WithOutputLimits(-1, 1))
	if err := p.SetManual(5); err != nil {
		t.Fatal(err)
	}
	if u := p.Update(0, pjDT); u != 1 {
		t.Fatalf("manual output %v, want the limit 1", u)
	}
}

func TestPIDSampleTime(t *testing.T) {
	// Pure integral action on a constant error of 1: the output is the
	// elapsed time of the computations, in seconds.
	p := pjNewPID(t, WithGains(0, 1, 0), WithSetpoint(1), WithSampleTime(100*time.Millisecond))
	step := 30 * time.Millisecond
	want := []float64{0, 0, 0, 0.12, 0.12, 0.12, 0.12, 0.24}
	for i, w := range want {
		if u := p.Update(0, step); math.Abs(u-w) > 1e-12 {
			t.Fatalf("call %d: output %v, want %v", i, u, w)
		}
	}
}

func TestPIDIgnoresBadInput(t *testing.T) {
	p := pjNewPID(t, WithGains(1, 1, 0), WithSetpoint(1))
	u := p.Update(0, pjDT)
	for _, c := range []struct {
		y  float64
		dt time.Duration
	}{{math.NaN(), pjDT}, {math.Inf(1), pjDT}, {0, 0}, {0, -pjDT}} {
		if got := p.Update(c.y, c.dt); got != u {
			t.Fatalf("Update(%v, %v) = %v, want the held %v", c.y, c.dt, got, u)
		}
	}
}

func TestPIDReset(t *testing.T) {
	p := pjNewPID(t, WithGains(1, 1, 1), WithSetpoint(10), WithOutputLimits(-5, 5))
	pl := &pjPlant{gain: 2, tau: time.Second}
	pjSteady(p, pl, time.Second)
	p.Reset()
	if p.Output() != 0 {
		t.Fatalf("output %v after Reset, want 0", p.Output())
	}
	fresh := pjNewPID(t, WithGains(1, 1, 1), WithSetpoint(10), WithOutputLimits(-5, 5))
	for _, y := range []float64{3, 3.5, 4} {
		if a, b := p.Update(y, pjDT), fresh.Update(y, pjDT); a != b {
			t.Fatalf("after Reset %v, fresh %v", a, b)
		}
	}
}

func TestPIDOptionValidation(t *testing.T) {
	bad := map[string]PIDOption{
		"negative kp":          WithGains(-1, 0, 0),
		"NaN ki":               WithGains(1, math.NaN(), 0),
		"infinite kd":          WithGains(1, 0, math.Inf(1)),
		"NaN set point":        WithSetpoint(math.NaN()),
		"zero sample time":     WithSampleTime(0),
		"inverted limits":      WithOutputLimits(1, -1),
		"equal limits":         WithOutputLimits(1, 1),
		"NaN limit":            WithOutputLimits(math.NaN(), 1),
		"tracking without bc":  WithAntiWindup(AntiWindupConditional, 1),
		"bc without tracking":  WithAntiWindup(AntiWindupBackCalculation, 0),
		"unknown mode":         WithAntiWindup(AntiWindup(7), 0),
		"zero filter":          WithDerivativeFilter(0),
		"weight above 1":       WithSetpointWeight(1.5),
		"negative weight":      WithSetpointWeight(-0.1),
		"NaN weight":           WithSetpointWeight(math.NaN()),
		"negative sample time": WithSampleTime(-time.Second),
	}
	for name, opt := range bad {
		if _, err := NewPID(opt); !errors.Is(err, ErrInvalidPIDOption) {
			t.Errorf("%s: err = %v, want ErrInvalidPIDOption", name, err)
		}
	}
	p := pjNewPID(t, WithGains(2, 1, 0.5), WithSetpoint(3), WithSampleTime(time.Second),
		WithOutputLimits(math.Inf(-1), 10), WithAntiWindup(AntiWindupBackCalculation, 2),
		WithDerivativeFilter(time.Second), WithSetpointWeight(0))
	if err := p.SetGains(1, -1, 0); !errors.Is(err, ErrInvalidPIDOption) {
		t.Errorf("SetGains negative: %v", err)
	}
	if err := p.SetSetpoint(math.Inf(1)); !errors.Is(err, ErrInvalidPIDOption) {
		t.Errorf("SetSetpoint Inf: %v", err)
	}
	for _, out := range []float64{math.NaN(), math.Inf(1)} {
		if err := p.SetManual(out); !errors.Is(err, ErrInvalidPIDOption) {
			t.Errorf("SetManual(%v): %v", out, err)
		}
	}
	if kp, ki, kd := p.Gains(); kp != 2 || ki != 1 || kd != 0.5 || p.Setpoint() != 3 || p.Manual() {
		t.Errorf("a refused call changed the PID: %v %v %v %v %v", kp, ki, kd, p.Setpoint(), p.Manual())
	}
}

func TestControllerFunc(t *testing.T) {
	var c Controller = ControllerFunc(func(y float64, dt time.Duration) float64 { return y * dt.Seconds() })
	if got := c.Update(3, 2*time.Second); got != 6 {
		t.Fatalf("Update = %v, want 6", got)
	}
}

func TestPIDResetInManualKeepsOutput(t *testing.T) {
	p := pjNewPID(t, WithGains(1, 1, 0), WithSetpoint(10))
	p.Update(2, pjDT)
	if err := p.SetManual(4); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if u := p.Update(3, pjDT); u != 4 || !p.Manual() {
		t.Fatalf("after Reset in manual mode: output %v, manual %v; want 4, true", u, p.Manual())
	}
	// The first measurement after Reset was tracked, so the transfer is
	// bumpless still: only one step of integral action shows.
	p.SetAuto()
	if u := p.Update(3, pjDT); math.Abs(u-4) > 1*7*pjDT.Seconds()+1e-9 {
		t.Fatalf("first automatic output %v, want 4 ± 0.07", u)
	}
}
