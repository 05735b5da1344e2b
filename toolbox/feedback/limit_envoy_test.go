package feedback

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEnvoyOptionsValidated(t *testing.T) {
	mk := func(opts ...LimitOption) func() error {
		return func() error { _, err := NewEnvoyGradient(opts...); return err }
	}
	cases := []struct {
		name string
		mk   func() error
		ok   bool
	}{
		{"defaults", mk(), true},
		{"all set", mk(WithWindow(time.Second), WithPercentile(0.5), WithBuffer(0), WithMinSamples(1),
			WithMinRTTSamples(10), WithMinRTTInterval(time.Second), WithLimitBounds(2, 50), WithInitialLimit(5),
			WithClock(func() time.Duration { return 0 })), true},
		{"window zero", mk(WithWindow(0)), false},
		{"percentile zero", mk(WithPercentile(0)), false},
		{"percentile one", mk(WithPercentile(1)), false},
		{"buffer negative", mk(WithBuffer(-0.1)), false},
		{"min samples zero", mk(WithMinSamples(0)), false},
		{"min RTT samples too few", mk(WithMinRTTSamples(9)), false},
		{"min RTT samples too many", mk(WithMinRTTSamples(envoyMaxRTTSamples + 1)), false},
		{"min RTT interval zero", mk(WithMinRTTInterval(0)), false},
		{"nil clock", mk(WithClock(nil)), false},
		{"initial outside bounds", mk(WithLimitBounds(1, 10)), false},
		{"Vegas option", mk(WithVegasThresholds(2, 4)), false},
		{"AIMD option", mk(WithTimeout(time.Second)), false},
		{"Gradient2 option", mk(WithSmoothing(0.5)), false},
		{"window on AIMD", func() error { _, err := NewAIMD(WithWindow(time.Second)); return err }, false},
		{"percentile on Vegas", func() error { _, err := NewVegas(WithPercentile(0.5)); return err }, false},
		{"buffer on Gradient2", func() error { _, err := NewGradient2(WithBuffer(0.5)); return err }, false},
		{"min samples on AIMD", func() error { _, err := NewAIMD(WithMinSamples(5)); return err }, false},
		{"min RTT samples on Vegas", func() error { _, err := NewVegas(WithMinRTTSamples(50)); return err }, false},
		{"min RTT interval on Gradient2", func() error { _, err := NewGradient2(WithMinRTTInterval(time.Second)); return err }, false},
		{"clock on AIMD", func() error { _, err := NewAIMD(WithClock(func() time.Duration { return 0 })); return err }, false},
	}
	for _, c := range cases {
		err := c.mk()
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrInvalidLimitOption) {
			t.Errorf("%s: error %v, want ErrInvalidLimitOption", c.name, err)
		}
	}
}

// evClock is a hand-moved clock.
type evClock struct{ now atomic.Int64 }

func (c *evClock) read() time.Duration    { return time.Duration(c.now.Load()) }
func (c *evClock) add(d time.Duration)    { c.now.Add(int64(d)) }
func (c *evClock) opt() LimitOption       { return WithClock(c.read) }
func (c *evClock) window(d time.Duration) { c.add(d) }

// evFeed sends n samples of rtt sent with inflight in flight, then moves
// the clock past the window's end and reads the limit, which closes it.
func evFeed(e *EnvoyGradient, c *evClock, n int, rtt time.Duration, inflight int) int {
	for range n {
		e.OnSample(rtt, inflight, false)
	}
	c.window(100 * time.Millisecond)
	return e.Limit()
}

func TestEnvoyGradientMovesTheLimit(t *testing.T) {
	c := &evClock{}
	e, err := NewEnvoyGradient(c.opt(), WithInitialLimit(20), WithMinRTTSamples(10), WithMinSamples(10))
	if err != nil {
		t.Fatal(err)
	}
	// Too few samples: the window leaves the limit and learns nothing.
	if got := evFeed(e, c, 9, 10*time.Millisecond, 2); got != 20 || e.Stats().MinRTT != 0 {
		t.Fatalf("after a window of 9 samples: limit %d, min RTT %v; want 20 and none", got, e.Stats().MinRTT)
	}
	// Light load at 10 ms: the min RTT is measured, but the limit is not
	// in use (2 of 20 in flight), so it does not grow.
	if got := evFeed(e, c, 20, 10*time.Millisecond, 2); got != 20 {
		t.Fatalf("after an unused window: limit %d, want 20", got)
	}
	if m := e.Stats().MinRTT; m != 10*time.Millisecond {
		t.Fatalf("min RTT %v, want 10ms", m)
	}
	// The limit in use at the no-load latency: gradient 1.25, so the
	// limit becomes 25 + √25 = 30.
	if got := evFeed(e, c, 20, 10*time.Millisecond, 20); got != 30 {
		t.Fatalf("after a used window at the min RTT: limit %d, want 30", got)
	}
	// Running at the limit with latency at 25 ms: gradient 0.5, so the
	// limit becomes 15 + √15 = 18.9.
	if got := evFeed(e, c, 20, 25*time.Millisecond, 30); got != 18 {
		t.Fatalf("after a busy slow window: limit %d, want 18", got)
	}
	st := e.Stats()
	if st.Gradient != 0.5 || !st.Busy || st.SampleRTT != 25*time.Millisecond {
		t.Fatalf("stats %+v, want gradient 0.5, busy, sample 25ms", st)
	}
	// The min RTT was not raised by samples sent at the limit.
	if st.MinRTT != 10*time.Millisecond {
		t.Fatalf("min RTT %v after busy windows, want still 10ms", st.MinRTT)
	}
}

func TestEnvoyNotBusyWindowDoesNotCutBelowItsPeak(t *testing.T) {
	c := &evClock{}
	e, err := NewEnvoyGradient(c.opt(), WithInitialLimit(60), WithMinRTTSamples(10))
	if err != nil {
		t.Fatal(err)
	}
	evFeed(e, c, 40, 10*time.Millisecond, 5) // min RTT 10 ms
	// Up to 36 in flight, never near the limit of 60; the requests sent
	// with the fewest in flight are fast, the others queued (40 ms).
	// The gradient says 0.5 (60 → 30 + √30), but the limit stops at
	// 36 + √36 = 42.
	for i := range 40 {
		n, rtt := 20+i%17, 40*time.Millisecond
		if n <= 24 {
			rtt = 10 * time.Millisecond
		}
		e.OnSample(rtt, n, false)
	}
	c.window(100 * time.Millisecond)
	if got := e.Limit(); got != 42 {
		t.Fatalf("limit %d after a slow window that peaked at 36 in flight, want 42", got)
	}
	if st := e.Stats(); st.Busy || st.Gradient != 0.5 {
		t.Fatalf("stats %+v, want not busy and gradient 0.5", st)
	}
}

func TestEnvoySlowerServiceIsNotCutBeforeMinRTTFollows(t *testing.T) {
	c := &evClock{}
	e, err := NewEnvoyGradient(c.opt(), WithInitialLimit(60), WithMinRTTSamples(100))
	if err != nil {
		t.Fatal(err)
	}
	evFeed(e, c, 200, 10*time.Millisecond, 5) // min RTT 10 ms
	// The service now takes 40 ms whatever the load: the requests sent
	// with the fewest in flight are as slow as the rest. The min RTT has
	// too few fresh samples of it yet, but the window's own no-load
	// samples stand in for it: the limit must not fall.
	for i := range 40 {
		e.OnSample(40*time.Millisecond, 20+i%17, false)
	}
	c.window(100 * time.Millisecond)
	if got, m := e.Limit(), e.Stats().MinRTT; got < 60 || m != 10*time.Millisecond {
		t.Fatalf("limit %d, min RTT %v after a window where the service slowed, want ≥ 60 and the min RTT still 10ms", got, m)
	}
}

func TestEnvoyMinRTTExpiresAfterInterval(t *testing.T) {
	c := &evClock{}
	e, err := NewEnvoyGradient(c.opt(), WithMinRTTSamples(20), WithMinRTTInterval(time.Second), WithInitialLimit(40))
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		evFeed(e, c, 20, 10*time.Millisecond, 2)
	}
	if m := e.Stats().MinRTT; m != 10*time.Millisecond {
		t.Fatalf("min RTT %v, want 10ms", m)
	}
	// The service becomes slower: light samples at 30 ms. Within one
	// interval the 10 ms samples no longer count.
	var at time.Duration
	for i := range 12 {
		evFeed(e, c, 20, 30*time.Millisecond, 2)
		if at == 0 && e.Stats().MinRTT == 30*time.Millisecond {
			at = time.Duration(i+1) * 100 * time.Millisecond
		}
	}
	if at == 0 || at > time.Second+100*time.Millisecond {
		t.Fatalf("min RTT reached 30ms after %v, want within the 1s interval", at)
	}
	// A long overload: no light samples. The min RTT is kept, not lost.
	for range 30 {
		evFeed(e, c, 20, 90*time.Millisecond, e.Limit())
	}
	if m := e.Stats().MinRTT; m != 30*time.Millisecond {
		t.Fatalf("min RTT %v after 3 s of overload, want 30ms kept", m)
	}
}

func TestEnvoySafeForConcurrentUse(t *testing.T) {
	c := &evClock{}
	e, err := NewEnvoyGradient(c.opt())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				e.OnSample(time.Duration(5+i%20)*time.Millisecond, e.Limit(), i%97 == w)
				if i%50 == 0 {
					c.add(10 * time.Millisecond)
				}
				_ = e.Stats()
			}
		}()
	}
	wg.Wait()
	if l := e.Limit(); l < 1 || l > 1000 {
		t.Errorf("limit %d outside the default bounds", l)
	}
	if e.Stats().Windows == 0 {
		t.Error("no window closed")
	}
}

func TestEnvoyNthDurationMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 1; n < 300; n += 7 {
		ds := make([]time.Duration, n)
		for i := range ds {
			ds[i] = time.Duration(r.IntN(50)) // many ties
		}
		sorted := slices.Clone(ds)
		slices.Sort(sorted)
		for _, k := range []int{0, n / 4, n / 2, n * 9 / 10, n - 1} {
			if got := nthDuration(slices.Clone(ds), k); got != sorted[k] {
				t.Fatalf("n %d k %d: got %v, want %v", n, k, got, sorted[k])
			}
		}
	}
}
