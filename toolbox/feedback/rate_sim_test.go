package feedback

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

// phaseMeans returns, for each capacity phase of a publish-rate run,
// the mean of the named series over the second half of the phase.
func phaseMeans(t *testing.T, rep *SimReport, series string, phases int) []float64 {
	t.Helper()
	vs, ok := rep.Trace.Series(series)
	if !ok {
		t.Fatalf("no series %q", series)
	}
	n := len(vs)
	out := make([]float64, phases)
	for p := range phases {
		lo, hi := p*n/phases, (p+1)*n/phases
		sum, cnt := 0.0, 0
		for _, v := range vs[(lo+hi)/2 : hi] {
			if !math.IsNaN(v) {
				sum += v
				cnt++
			}
		}
		out[p] = sum / float64(cnt)
	}
	return out
}

func TestRatePublishSimHoldsDropShare(t *testing.T) {
	cfg := PublishRateSim{Seed: 1}
	rep, err := SimulatePublishRate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Metrics {
		t.Logf("%s = %.4f %s", m.Name, m.Value, m.Unit)
	}
	settled, _ := rep.Metric("drop_share_settled")
	unpaced, _ := rep.Metric("drop_share_unpaced")
	delivered, _ := rep.Metric("delivered_of_capacity_settled")
	if unpaced < 0.5 {
		t.Errorf("unpaced drop share %.3f: the scenario does not overload the subscriber", unpaced)
	}
	// The capacity varies ±10 % from window to window, which a 50-message
	// queue cannot absorb: allow a few times the 1 % set point.
	if settled > 0.05 {
		t.Errorf("settled drop share %.4f, want near the set point %.2f", settled, DefaultLossSetpoint)
	}
	if delivered < 0.9 {
		t.Errorf("delivered %.3f of the capacity once settled, want ≥ 0.9", delivered)
	}
	// The rate follows the subscriber's capacity, down and up again.
	caps := []float64{500, 200, 1000}
	rates := phaseMeans(t, rep, SeriesActuation, len(caps))
	for i, c := range caps {
		t.Logf("phase %d: capacity %v, mean rate %.1f", i, c, rates[i])
		if r := rates[i] / c; r < 0.85 || r > 1.25 {
			t.Errorf("phase %d: mean rate %.1f for a capacity of %v", i, rates[i], c)
		}
	}
}

func TestRatePublishSimDeterministic(t *testing.T) {
	write := func(seed uint64) (string, string) {
		rep, err := SimulatePublishRate(PublishRateSim{Seed: seed, Duration: 6 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var svg, csv bytes.Buffer
		if err := rep.WriteSVG(&svg); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteCSV(&csv); err != nil {
			t.Fatal(err)
		}
		return svg.String(), csv.String()
	}
	svg1, csv1 := write(7)
	svg2, csv2 := write(7)
	if svg1 != svg2 || csv1 != csv2 {
		t.Error("the same seed gave different output")
	}
	if _, csv3 := write(8); csv3 == csv1 {
		t.Error("another seed gave the same trace")
	}
}

func TestRatePublishSimConfig(t *testing.T) {
	for _, cfg := range []PublishRateSim{
		{Window: -time.Second},
		{Duration: time.Second, Window: 2 * time.Second},
		{Demand: -1},
		{Capacities: []float64{100, 0}},
		{Setpoint: 1.5},
		{Queue: -1},
	} {
		if _, err := SimulatePublishRate(cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("%+v: got %v, want ErrSimConfig", cfg, err)
		}
	}
}
