package feedback

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// recordingLimiter records the samples it is given.
type recordingLimiter struct {
	mu      sync.Mutex
	samples []struct {
		rtt      time.Duration
		inflight int
		dropped  bool
	}
}

func (r *recordingLimiter) Limit() int { return 7 }
func (r *recordingLimiter) OnSample(rtt time.Duration, inflight int, dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, struct {
		rtt      time.Duration
		inflight int
		dropped  bool
	}{rtt, inflight, dropped})
}

func TestWindowedAggregates(t *testing.T) {
	var now time.Duration
	rec := &recordingLimiter{}
	w, err := NewWindowed(rec, WithClock(func() time.Duration { return now }), WithSampleWindow(100*time.Millisecond, time.Second, 3))
	if err != nil {
		t.Fatal(err)
	}
	if w.Limit() != 7 {
		t.Fatalf("Limit %d, want the wrapped limiter's 7", w.Limit())
	}
	// Four samples over 120 ms: the window closes on the fourth (≥ 100 ms
	// and ≥ 3 samples) with their mean, the largest in flight, a drop.
	for i, rtt := range []time.Duration{10, 20, 30, 60} {
		now = time.Duration(i) * 40 * time.Millisecond
		w.OnSample(rtt*time.Millisecond, 5+i%2*10, i == 1)
	}
	if len(rec.samples) != 1 {
		t.Fatalf("%d aggregated samples, want 1", len(rec.samples))
	}
	if s := rec.samples[0]; s.rtt != 30*time.Millisecond || s.inflight != 15 || !s.dropped {
		t.Fatalf("aggregate %+v, want mean 30ms, in flight 15, dropped", s)
	}
	// Too few samples: the window stays open until its maximum length.
	now += 10 * time.Millisecond
	w.OnSample(8*time.Millisecond, 1, false)
	now += 500 * time.Millisecond
	w.OnSample(12*time.Millisecond, 2, false)
	if len(rec.samples) != 1 {
		t.Fatalf("window of 2 samples closed before its maximum length")
	}
	now += 600 * time.Millisecond
	w.OnSample(10*time.Millisecond, 3, false)
	if len(rec.samples) != 2 || rec.samples[1].rtt != 10*time.Millisecond || rec.samples[1].dropped {
		t.Fatalf("after the maximum length: %+v, want a second sample of mean 10ms, not dropped", rec.samples)
	}
}

func TestWindowedOptions(t *testing.T) {
	v, _ := NewVegas()
	for _, tc := range []struct {
		name string
		err  func() error
	}{
		{"nil limiter", func() error { _, err := NewWindowed(nil); return err }},
		{"bounds do not apply", func() error { _, err := NewWindowed(v, WithLimitBounds(1, 10)); return err }},
		{"initial limit does not apply", func() error { _, err := NewWindowed(v, WithInitialLimit(5)); return err }},
		{"max below min", func() error { _, err := NewWindowed(v, WithSampleWindow(time.Second, time.Millisecond, 1)); return err }},
		{"no samples", func() error { _, err := NewWindowed(v, WithSampleWindow(time.Millisecond, time.Second, 0)); return err }},
		{"nil clock", func() error { _, err := NewWindowed(v, WithClock(nil)); return err }},
		{"Vegas refuses the window option", func() error { _, err := NewVegas(WithSampleWindow(time.Millisecond, time.Second, 1)); return err }},
	} {
		if err := tc.err(); !errors.Is(err, ErrInvalidLimitOption) {
			t.Errorf("%s: %v, want ErrInvalidLimitOption", tc.name, err)
		}
	}
}

// TestWindowedLimitersReachCapacity checks, on the step scenario with
// one sample per request, that Vegas and Gradient2 fed windowed
// samples keep the backend busy while overloaded (goodput ≥ 95 % of
// capacity) with p99 under the target, where the same limiters fed
// every request's time alone starve it.
func TestWindowedLimitersReachCapacity(t *testing.T) {
	ls, err := LatencyLimiters(0, "Vegas", "Gradient2", "Vegas-raw", "Gradient2-raw")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := SimulateLatency(LatencySim{Seed: 1, Limiters: ls, NoUnlimited: true})
	if err != nil {
		t.Fatal(err)
	}
	metric := func(name string) float64 { return slMetric(t, rep, name) }
	for _, name := range []string{"Vegas", "Gradient2"} {
		share, p99 := metric(name+" overload goodput share"), metric(name+" phase 2 p99")
		raw := metric(name + "-raw overload goodput share")
		t.Logf("%s windowed: goodput %.1f %%, phase-2 p99 %.1f ms; one sample per request: goodput %.1f %%", name, share, p99, raw)
		if share < 95 || p99 > 100 {
			t.Errorf("%s windowed: goodput %.1f %% (want ≥ 95), p99 %.1f ms (want ≤ 100)", name, share, p99)
		}
		if raw >= share {
			t.Errorf("%s: per-request samples gave goodput %.1f %%, not below windowed %.1f %%", name, raw, share)
		}
	}
}
