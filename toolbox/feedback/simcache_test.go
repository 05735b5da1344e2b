package feedback

import (
	"testing"
	"time"
)

func skCacheHitRate(t *testing.T, capacity int) float64 {
	t.Helper()
	sim := NewSim(21)
	c, err := NewCachePlant(sim, CacheConfig{Capacity: capacity, Keys: 10000, Skew: 1.1, Rate: 20000})
	if err != nil {
		t.Fatal(err)
	}
	c.Step(time.Second) // fill
	s := c.Step(5 * time.Second)
	if s.Requests != 100000 || s.Entries > capacity {
		t.Fatalf("capacity %d: %+v", capacity, s)
	}
	return s.HitRate
}

func TestSimCacheHitRateRisesWithSize(t *testing.T) {
	sizes := []int{0, 10, 100, 1000, 5000}
	var prev float64 = -1
	for _, size := range sizes {
		hr := skCacheHitRate(t, size)
		t.Logf("capacity %5d: hit rate %.3f", size, hr)
		if size == 0 && hr != 0 {
			t.Fatalf("capacity 0 hit rate %.3f, want 0", hr)
		}
		if size > 0 && hr < prev+0.05 {
			t.Fatalf("capacity %d hit rate %.3f not above the smaller cache's %.3f by 5 points", size, hr, prev)
		}
		prev = hr
	}
}

func TestSimCacheWorkingSetShiftAndShrink(t *testing.T) {
	sim := NewSim(4)
	c, err := NewCachePlant(sim, CacheConfig{Capacity: 500, Keys: 5000, Rate: 10000})
	if err != nil {
		t.Fatal(err)
	}
	c.Step(time.Second)
	warm := c.Step(time.Second)
	c.SetWorkingSet(5000, 1_000_000) // all-new keys
	cold := c.Step(10 * time.Millisecond)
	t.Logf("hit rate warm %.3f, first 100 reads after the shift %.3f", warm.HitRate, cold.HitRate)
	if cold.HitRate > warm.HitRate-0.2 {
		t.Fatalf("hit rate after moving the working set %.3f, warm %.3f: want a sharp drop", cold.HitRate, warm.HitRate)
	}
	c.Step(time.Second)
	rewarm := c.Step(time.Second)
	if rewarm.HitRate < warm.HitRate-0.05 {
		t.Fatalf("hit rate did not recover after the shift: %.3f, warm %.3f", rewarm.HitRate, warm.HitRate)
	}
	c.SetCapacity(50)
	s := c.Step(time.Second)
	if s.Entries != 50 || s.HitRate >= rewarm.HitRate {
		t.Fatalf("after shrinking to 50: %+v (hit rate at 500: %.3f)", s, rewarm.HitRate)
	}
	if sim.Now() != 5010*time.Millisecond {
		t.Fatalf("virtual time %v, want 5.01s", sim.Now())
	}
}
