package feedback

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSimPIDAntiWindup(t *testing.T) {
	rep, err := SimulatePID(PIDSim{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := func(name string) float64 { return slMetric(t, rep, name) }
	for _, x := range rep.Metrics {
		t.Logf("%s: %.3g %s", x.Name, x.Value, x.Unit)
	}
	if on, off := m("overshoot with anti-windup"), m("overshoot without anti-windup"); on > 0.5 || off < 5 {
		t.Errorf("overshoot %.2f %% with anti-windup (want ≤ 0.5), %.2f %% without (want ≥ 5)", on, off)
	}
	for _, name := range []string{"settling to 10 with anti-windup", "recovery from the disturbance with anti-windup"} {
		if v := m(name); v < 0 || v > 8 {
			t.Errorf("%s: %.2f s, want settled within 8 s", name, v)
		}
	}
	if on, off := m("settling to 10 with anti-windup"), m("settling to 10 without anti-windup"); off >= 0 && off <= on {
		t.Errorf("without anti-windup settled in %.2f s, not later than with it (%.2f s)", off, on)
	}
	ys, _ := rep.Trace.Series(SeriesMeasurement)
	if last := ys[len(ys)-1]; last < 5.9 || last > 6.1 {
		t.Errorf("final output %.3f, want the last set point 6 ± 0.1", last)
	}
}

func TestSimPIDDeterministicAndValidated(t *testing.T) {
	draw := func(seed uint64) []byte {
		rep, err := SimulatePID(PIDSim{Seed: seed, Noise: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := rep.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(draw(3), draw(3)) {
		t.Fatal("same seed, different SVG")
	}
	if bytes.Equal(draw(3), draw(4)) {
		t.Fatal("the noise does not depend on the seed")
	}
	for _, cfg := range []PIDSim{{Noise: -1}, {Duration: time.Second}} {
		if _, err := SimulatePID(cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("%+v: %v, want ErrSimConfig", cfg, err)
		}
	}
}
