package feedback

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

func TestSimEventOrder(t *testing.T) {
	sim := NewSim(1)
	var got []int
	sim.At(2*time.Second, func() { got = append(got, 3) })
	sim.At(time.Second, func() { got = append(got, 1) })
	sim.At(time.Second, func() {
		got = append(got, 2)
		sim.After(0, func() { got = append(got, 21) })            // same instant, scheduled later: runs after
		sim.After(5*time.Second, func() { got = append(got, 9) }) // beyond the horizon
	})
	sim.RunUntil(3 * time.Second)
	want := []int{1, 2, 21, 3}
	if len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran %v, want %v", got, want)
		}
	}
	if sim.Now() != 3*time.Second || sim.Pending() != 1 {
		t.Fatalf("now %v pending %d, want 3s and 1", sim.Now(), sim.Pending())
	}
	sim.RunUntil(time.Second) // the past: no-op
	if sim.Now() != 3*time.Second {
		t.Fatalf("RunUntil into the past moved the clock to %v", sim.Now())
	}
}

func TestSimLognormalMean(t *testing.T) {
	sim := NewSim(8)
	d := Lognormal(10*time.Millisecond, 0.8)
	var sum float64
	const n = 200000
	for range n {
		sum += float64(d(sim.Rand()))
	}
	mean := time.Duration(sum / n)
	if mean < 9700*time.Microsecond || mean > 10300*time.Microsecond {
		t.Fatalf("lognormal mean %v, want 10ms ± 3%%", mean)
	}
}

// skRender draws the fixed-limit load-step scenario with seed.
func skRender(t *testing.T, seed uint64) (csv, svg []byte) {
	t.Helper()
	rep, err := SimulateFixedLimit(FixedLimitSim{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	var c, s bytes.Buffer
	if err := rep.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(&s); err != nil {
		t.Fatal(err)
	}
	return c.Bytes(), s.Bytes()
}

func TestSimDeterministic(t *testing.T) {
	csv1, svg1 := skRender(t, 1)
	csv2, svg2 := skRender(t, 1)
	if !bytes.Equal(csv1, csv2) {
		t.Fatal("same seed gave different CSV")
	}
	if !bytes.Equal(svg1, svg2) {
		t.Fatal("same seed gave different SVG")
	}
	csv3, svg3 := skRender(t, 2)
	if bytes.Equal(csv1, csv3) || bytes.Equal(svg1, svg3) {
		t.Fatal("different seeds gave the same trace: the seed is not used")
	}
}

func TestSimLoadStepScenario(t *testing.T) {
	rep, err := SimulateFixedLimit(FixedLimitSim{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Trace
	p99, _ := tr.Series(SeriesMeasurement)
	base, _ := tr.Series("p99 without limit (ms)")
	good, _ := tr.Series("goodput (req/s)")
	var worst, sumGood float64
	for i := 55; i < 100; i++ { // overload, after the first half second
		worst = max(worst, p99[i])
		sumGood += good[i]
	}
	var peak float64
	for _, v := range base {
		peak = max(peak, v)
	}
	t.Logf("overload with limit 20: worst p99 %.1f ms, goodput %.0f req/s; without limit: p99 %.0f ms at the end of the overload, peak %.0f ms", worst, sumGood/45, base[99], peak)
	if worst > 150 {
		t.Errorf("limited p99 peaked at %.1f ms during overload, want ≤ 150", worst)
	}
	if g := sumGood / 45; g < 950 {
		t.Errorf("limited goodput %.0f req/s during overload, want ≥ 950", g)
	}
	if base[99] < 3000 {
		t.Errorf("unlimited p99 at the end of the overload %.0f ms, want > 3 s", base[99])
	}
}

// skOtherPlants runs the cache and the worker pool through a change of
// working set and of workers and returns every window's stats as text.
func skOtherPlants(t *testing.T, seed uint64) string {
	t.Helper()
	var b bytes.Buffer
	sim := NewSim(seed)
	c, err := NewCachePlant(sim, CacheConfig{Capacity: 200, Keys: 2000, Rate: 5000})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if i == 10 {
			c.SetWorkingSet(4000, 0)
		}
		fmt.Fprintf(&b, "%+v\n", c.Step(100*time.Millisecond))
	}
	sim = NewSim(seed)
	p, err := NewWorkerPool(sim, PoolConfig{Workers: 6, Service: Lognormal(10*time.Millisecond, 0.7), Rate: 800})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if i == 10 {
			p.SetWorkers(12)
		}
		fmt.Fprintf(&b, "%+v\n", p.Step(100*time.Millisecond))
	}
	return b.String()
}

func TestSimDeterministicCacheAndPool(t *testing.T) {
	a, b := skOtherPlants(t, 5), skOtherPlants(t, 5)
	if a != b {
		t.Fatal("same seed gave different cache or pool stats")
	}
	if a == skOtherPlants(t, 6) {
		t.Fatal("different seeds gave the same cache and pool stats")
	}
}
