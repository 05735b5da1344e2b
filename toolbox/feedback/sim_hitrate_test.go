package feedback

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

// hrHitPhases splits the default scenario's windows at its working-set
// changes: [0, 60), [60, 120), [120, 180).
func hrHitPhases(t *testing.T, r *SimReport) (hit, size, base []float64, phases [][2]int) {
	t.Helper()
	hit, _ = r.Trace.Series(SeriesMeasurement)
	size, _ = r.Trace.Series(SeriesActuation)
	base, _ = r.Trace.Series(SeriesBaselineHitRate)
	keys, _ := r.Trace.Series(SeriesWorkingSet)
	lo := 0
	for i := 1; i <= len(keys); i++ {
		if i == len(keys) || keys[i] != keys[i-1] {
			phases = append(phases, [2]int{lo, i})
			lo = i
		}
	}
	if len(phases) != 3 {
		t.Fatalf("%d phases in the trace, want 3", len(phases))
	}
	return hit, size, base, phases
}

// hrReversals counts changes of direction of size over (lo, hi),
// given the direction of the last change before lo; it returns the
// count and the direction of the last change.
func hrReversals(size []float64, lo, hi, dir int) (int, int) {
	n := 0
	for i := max(lo, 1); i < hi; i++ {
		d := 0
		if size[i] > size[i-1] {
			d = 1
		} else if size[i] < size[i-1] {
			d = -1
		}
		if d == 0 {
			continue
		}
		if dir != 0 && d != dir {
			n++
		}
		dir = d
	}
	return n, dir
}

func hrMean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// The goal: the hit rate held at 80 % ± 2 points when the
// working set doubles (and when it halves back), settling within 30
// windows without oscillation. Settled means every window from the 31st
// after the change to the next change is within ±2 points; without
// oscillation means the size changes direction at most once per change
// of the working set. The fixed-size cache tuned for the first working
// set must fall outside the band when it doubles, and the loop must
// give the memory back when it halves.
func TestSimHitRateHoldsTargetThroughWorkingSetSteps(t *testing.T) {
	for _, seed := range []uint64{1, 2} {
		r, err := SimulateHitRate(HitRateSim{Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		hit, size, base, phases := hrHitPhases(t, r)
		const target, tol, settle = 80.0, 2.0, 30
		dir := 0
		for p, ph := range phases {
			lo, hi := ph[0], ph[1]
			worst := 0.0
			for i := lo + settle; i < hi; i++ {
				worst = max(worst, math.Abs(hit[i]-target))
			}
			if worst > tol {
				t.Errorf("seed %d phase %d: a window %.2f points off target after %d windows", seed, p, worst, settle)
			}
			var rev int
			rev, dir = hrReversals(size, lo, hi, dir)
			if p > 0 && rev > 1 {
				t.Errorf("seed %d phase %d: size reversed %d times: %v", seed, p, rev, size[lo:hi])
			}
			loop, fixed := hrMean(hit[lo+settle:hi]), hrMean(base[lo+settle:hi])
			t.Logf("seed %d phase %d: loop %.2f %% at size %.0f (worst %.2f points, %d reversals), fixed size %.2f %%",
				seed, p, loop, size[hi-1], worst, rev, fixed)
			if math.Abs(loop-target) > 1 {
				t.Errorf("seed %d phase %d: loop's mean hit rate %.2f %%, want within a point of %v", seed, p, loop, target)
			}
		}
		grown, shrunk := size[phases[1][1]-1], size[phases[2][1]-1]
		if fixed := hrMean(base[phases[1][0]+settle : phases[1][1]]); fixed > target-tol {
			t.Errorf("seed %d: fixed size held %.2f %% when the working set doubled: the scenario does not need a loop", seed, fixed)
		}
		if shrunk > 0.75*grown {
			t.Errorf("seed %d: size %v after the working set halved, %v before: want at least a quarter back", seed, shrunk, grown)
		}
		// The report's metrics say the same as the trace.
		for p := range phases {
			m := func(name string) float64 {
				v, ok := r.Metric(name)
				if !ok {
					t.Fatalf("metric %s missing", name)
				}
				return v
			}
			pre := "phase" + string(rune('0'+p)) + "_"
			if s := m(pre + "settle_windows"); s < 0 || s > settle {
				t.Errorf("seed %d: %ssettle_windows %v", seed, pre, s)
			}
			if d := m(pre + "max_dev_after_settle"); d < 0 || d > tol {
				t.Errorf("seed %d: %smax_dev_after_settle %v", seed, pre, d)
			}
			if got := m(pre + "size"); got != size[phases[p][1]-1] {
				t.Errorf("seed %d: %ssize %v, trace %v", seed, pre, got, size[phases[p][1]-1])
			}
		}
		if v, _ := r.Metric("phase2_reversals"); v != 1 {
			t.Errorf("seed %d: phase2_reversals %v: the shrink after growing is one reversal", seed, v)
		}
	}
}

func TestSimHitRateDeterministic(t *testing.T) {
	cfg := HitRateSim{Seed: 7, Rate: 3000, Duration: 45 * time.Second}
	render := func(c HitRateSim) (csv, svg []byte) {
		r, err := SimulateHitRate(c)
		if err != nil {
			t.Fatal(err)
		}
		var a, b bytes.Buffer
		if err := r.WriteCSV(&a); err != nil {
			t.Fatal(err)
		}
		if err := r.WriteSVG(&b); err != nil {
			t.Fatal(err)
		}
		if r.Name != "hitrate" || r.Seed != c.Seed || r.Trace.Len() != 45 {
			t.Fatalf("report %q seed %d with %d windows", r.Name, r.Seed, r.Trace.Len())
		}
		return a.Bytes(), b.Bytes()
	}
	csv1, svg1 := render(cfg)
	csv2, svg2 := render(cfg)
	if !bytes.Equal(csv1, csv2) || !bytes.Equal(svg1, svg2) {
		t.Fatal("the same config gave different bytes")
	}
	cfg.Seed = 8
	csv3, _ := render(cfg)
	if bytes.Equal(csv1, csv3) {
		t.Fatal("another seed gave the same trace")
	}
}

func TestSimHitRateConfigErrors(t *testing.T) {
	bad := []HitRateSim{
		{Target: 1},
		{Target: -0.5},
		{Tolerance: 2},
		{Window: -time.Second},
		{Window: time.Second, Duration: time.Millisecond},
		{InitialSize: -1},
		{BaselineSize: -3},
		{Schedule: []WorkingSetStep{{At: time.Second, Keys: 10}}},
		{Schedule: []WorkingSetStep{{At: 0, Keys: 10}, {At: 0, Keys: 20}}},
		{Schedule: []WorkingSetStep{{At: 0, Keys: 0}}},
		{Skew: 0.5},
		{Rate: -1},
	}
	for i, c := range bad {
		if _, err := SimulateHitRate(c); !errors.Is(err, ErrSimConfig) {
			t.Errorf("case %d %+v: err %v, want ErrSimConfig", i, c, err)
		}
	}
	if _, err := SimulateHitRate(HitRateSim{Duration: 3 * time.Second, Options: []HitRateOption{WithHitRateGain(-1)}}); !errors.Is(err, ErrHitRateConfig) {
		t.Errorf("bad loop option: err %v, want ErrHitRateConfig", err)
	}
}

// Why the built-in law works on log(size): on the scenario's cache,
// the hit rate gained per entry near the target halves when the working
// set doubles, so a controller linear in size tuned for one working set
// is half as fast, or twice too aggressive, on the other; the hit rate
// gained per doubling of the size stays about the same.
func TestSimHitRateSlopeIsFlatInLogSize(t *testing.T) {
	hitAt := func(keys uint64, size int) float64 {
		sim := NewSim(5)
		c, err := NewCachePlant(sim, CacheConfig{Capacity: size, Keys: keys, Skew: 1.1, Rate: 20_000})
		if err != nil {
			t.Fatal(err)
		}
		c.Step(2 * time.Second)
		return c.Step(5 * time.Second).HitRate
	}
	// Sizes bracketing 80 % on each working set (about 1,150 and 2,000).
	type slope struct{ perEntry, perDoubling float64 }
	measure := func(keys uint64, lo int) slope {
		a, b := hitAt(keys, lo), hitAt(keys, 2*lo)
		if a > 0.8 || b < 0.8 {
			t.Fatalf("%d keys: hit rate %.3f at %d and %.3f at %d do not bracket 80 %%", keys, a, lo, b, 2*lo)
		}
		return slope{(b - a) / float64(lo), b - a}
	}
	small, large := measure(10_000, 800), measure(20_000, 1400)
	t.Logf("10,000 keys: %.2e per entry, %.3f per doubling; 20,000 keys: %.2e per entry, %.3f per doubling",
		small.perEntry, small.perDoubling, large.perEntry, large.perDoubling)
	if r := large.perEntry / small.perEntry; r > 0.7 {
		t.Errorf("per-entry slope ratio %.2f: want the linear gain to fall with the working set", r)
	}
	if r := large.perDoubling / small.perDoubling; r < 0.8 || r > 1.25 {
		t.Errorf("per-doubling slope ratio %.2f: want it about flat", r)
	}
}
