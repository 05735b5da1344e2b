package feedback

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestSimCallRate checks that the caller's rate loop keeps the share of
// calls the service sheds low as the service's capacity changes, where
// a caller at full demand has most shed, while the calls answered stay
// near the service's capacity.
func TestSimCallRate(t *testing.T) {
	rep, err := SimulateCallRate(CallRateSim{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := func(name string) float64 { return slMetric(t, rep, name) }
	settled, unpaced, answered := m("shed_share_settled"), m("shed_share_unpaced"), m("answered_of_capacity_settled")
	t.Logf("shed %.3f settled (unpaced %.3f), answered %.3f of capacity", settled, unpaced, answered)
	if settled > 0.05 || unpaced < 0.5 {
		t.Errorf("shed share %.3f settled (want ≤ 0.05), %.3f unpaced (want ≥ 0.5)", settled, unpaced)
	}
	if answered < 0.7 {
		t.Errorf("answered %.3f of capacity, want ≥ 0.7", answered)
	}
}

func TestSimCallRateDeterministicAndValidated(t *testing.T) {
	draw := func(seed uint64) []byte {
		rep, err := SimulateCallRate(CallRateSim{Seed: seed, Duration: 6 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := rep.WriteCSV(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(draw(2), draw(2)) {
		t.Fatal("same seed, different trace")
	}
	if bytes.Equal(draw(2), draw(3)) {
		t.Fatal("the seed is not used")
	}
	for _, cfg := range []CallRateSim{{Duration: time.Millisecond}, {Demand: -1}, {Servers: []int{0}}} {
		if _, err := SimulateCallRate(cfg); !errors.Is(err, ErrSimConfig) {
			t.Errorf("%+v: %v, want ErrSimConfig", cfg, err)
		}
	}
}
