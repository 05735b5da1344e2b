package feedback

import (
	"errors"
	"math"
	"testing"
	"time"
)

// hrFakeCache is a Resizable whose counters the test sets: each window
// it is given lookups at a hit rate, and it records every Resize.
type hrFakeCache struct {
	hits, misses uint64
	entries, cap int
	resizes      []int
	err          error
}

func (f *hrFakeCache) HitStats() HitCounts {
	return HitCounts{Hits: f.hits, Misses: f.misses, Entries: f.entries, Capacity: f.cap}
}

func (f *hrFakeCache) Resize(n int) error {
	if f.err != nil {
		return f.err
	}
	f.resizes = append(f.resizes, n)
	f.cap = n
	f.entries = min(f.entries, n)
	return nil
}

// window adds n lookups at hit rate h, with the cache full.
func (f *hrFakeCache) window(n int, h float64) {
	hits := uint64(math.Round(float64(n) * h))
	f.hits += hits
	f.misses += uint64(n) - hits
	f.entries = f.cap
}

func hrHitLoop(t *testing.T, f *hrFakeCache, opts ...HitRateOption) *HitRateLoop {
	t.Helper()
	l, err := NewHitRateLoop(0.8, f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestHitRateOptionValidation(t *testing.T) {
	f := &hrFakeCache{cap: 100}
	bad := []struct {
		target float64
		c      Resizable
		opts   []HitRateOption
	}{
		{0, f, nil},
		{1, f, nil},
		{math.NaN(), f, nil},
		{0.8, nil, nil},
		{0.8, f, []HitRateOption{nil}},
		{0.8, f, []HitRateOption{WithSizeBounds(0, 10)}},
		{0.8, f, []HitRateOption{WithSizeBounds(10, 9)}},
		{0.8, f, []HitRateOption{WithMinLookups(0)}},
		{0.8, f, []HitRateOption{WithHitRateSmoothing(0)}},
		{0.8, f, []HitRateOption{WithHitRateSmoothing(1.5)}},
		{0.8, f, []HitRateOption{WithHitRateGain(0)}},
		{0.8, f, []HitRateOption{WithHitRateGain(math.Inf(1))}},
		{0.8, f, []HitRateOption{WithHitRateMaxStep(1)}},
		{0.8, f, []HitRateOption{WithHitRateMaxStep(math.NaN())}},
		{0.8, f, []HitRateOption{WithHitRateDeadband(-0.1)}},
		{0.8, f, []HitRateOption{WithHitRateDeadband(0.5)}},
		{0.8, f, []HitRateOption{WithHitRateController(nil)}},
		// the built-in law's options do not apply with a controller
		{0.8, f, []HitRateOption{WithHitRateController(ControllerFunc(func(float64, time.Duration) float64 { return 1 })), WithHitRateGain(2)}},
		{0.8, f, []HitRateOption{WithHitRateDeadband(0.01), WithHitRateController(ControllerFunc(func(float64, time.Duration) float64 { return 1 }))}},
	}
	for i, c := range bad {
		if _, err := NewHitRateLoop(c.target, c.c, c.opts...); !errors.Is(err, ErrHitRateConfig) {
			t.Errorf("case %d: err %v, want ErrHitRateConfig", i, err)
		}
	}
	l := hrHitLoop(t, f)
	if err := l.SetTarget(1.2); !errors.Is(err, ErrHitRateConfig) {
		t.Errorf("SetTarget(1.2): err %v", err)
	}
	if err := l.SetTarget(0.9); err != nil || l.Target() != 0.9 || l.Stats().Target != 0.9 {
		t.Errorf("SetTarget(0.9): err %v, target %v", err, l.Target())
	}
}

func TestHitRateInitialResizeIntoBounds(t *testing.T) {
	f := &hrFakeCache{cap: 5}
	l := hrHitLoop(t, f, WithSizeBounds(50, 500))
	if f.cap != 50 || l.Stats().Size != 50 {
		t.Fatalf("cache at %d, loop says %d: want it brought up to the lower bound 50", f.cap, l.Stats().Size)
	}
	f = &hrFakeCache{cap: 5, err: errors.New("no")}
	if _, err := NewHitRateLoop(0.8, f, WithSizeBounds(50, 500)); !errors.Is(err, ErrHitRateConfig) {
		t.Fatalf("failed initial resize: err %v", err)
	}
}

func TestHitRateGrowsAndShrinksTowardsTarget(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	l := hrHitLoop(t, f)
	f.window(10_000, 0.70)
	l.Step(time.Second)
	w := l.Last()
	// 10 points short: ln(size) grows by 5 × 0.1 = 0.5.
	if w.Action != HitRateResized || f.cap != int(math.Round(1000*math.Exp(0.5))) {
		t.Fatalf("after a window at 70 %%: %+v, cache at %d", w, f.cap)
	}
	if w.Lookups != 10_000 || w.Hits != 7000 || w.HitRate != 0.7 || w.Measured != 0.7 || w.Size != f.cap || w.Window != time.Second {
		t.Fatalf("window %+v", w)
	}
	// Far above: halved at most (max step 2), even though the law asks more.
	f.window(10_000, 0.99)
	l.Step(time.Second) // a reversal: held for confirmation
	if got := l.Last().Action; got != HitRateConfirming {
		t.Fatalf("first window asking to reverse: %v, want confirming", got)
	}
	before := f.cap
	f.window(10_000, 0.99)
	l.Step(time.Second)
	if l.Last().Action != HitRateResized || f.cap != int(math.Round(float64(before)/2)) {
		t.Fatalf("after two windows at 99 %%: %+v, cache %d (was %d)", l.Last(), f.cap, before)
	}
	s := l.Stats()
	if s.Windows != 3 || s.Grown != 1 || s.Shrunk != 1 || s.Reversals != 1 || s.Confirming != 1 || s.Size != f.cap {
		t.Fatalf("stats %+v", s)
	}
}

func TestHitRateIgnoresNoiseAndCorrectsSteadyOffset(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	l := hrHitLoop(t, f)
	// 1,000 lookups a window: a standard error of 1.3 points, so one
	// window 1.2 points short is noise.
	for range 3 {
		f.window(1000, 0.788)
		l.Step(time.Second)
		if len(f.resizes) != 0 {
			t.Fatalf("resized on a window 1.2 points short of 1,000 lookups: %+v", l.Last())
		}
	}
	// Kept up, the pooled windows show the offset, and the loop grows.
	for i := 0; i < 40 && len(f.resizes) == 0; i++ {
		f.window(1000, 0.788)
		l.Step(time.Second)
	}
	if len(f.resizes) != 1 || f.resizes[0] <= 1000 {
		t.Fatalf("resizes %v after a steady 1.2-point shortfall", f.resizes)
	}
	// An offset within the deadband is never corrected.
	f2 := &hrFakeCache{cap: 1000}
	l2 := hrHitLoop(t, f2, WithHitRateDeadband(0.02))
	for range 50 {
		f2.window(100_000, 0.785)
		l2.Step(time.Second)
	}
	if len(f2.resizes) != 0 || l2.Stats().InBand != 50 {
		t.Fatalf("resized %v within a 2-point deadband; stats %+v", f2.resizes, l2.Stats())
	}
}

func TestHitRateIdleWindowsCarryOver(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	l := hrHitLoop(t, f, WithMinLookups(500))
	f.window(300, 0.5)
	l.Step(time.Second)
	if w := l.Last(); w.Action != HitRateIdle || w.Lookups != 300 || len(f.resizes) != 0 {
		t.Fatalf("window of 300 lookups: %+v", w)
	}
	l.Step(time.Second) // no lookups at all
	if w := l.Last(); w.Action != HitRateIdle || w.Window != 2*time.Second {
		t.Fatalf("empty window: %+v", w)
	}
	f.window(300, 0.5)
	l.Step(time.Second)
	w := l.Last()
	if w.Action != HitRateResized || w.Lookups != 600 || w.Window != 3*time.Second {
		t.Fatalf("window completing 600 lookups over 3 s: %+v", w)
	}
	if s := l.Stats(); s.Idle != 2 || s.Windows != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHitRateDoesNotGrowCacheThatIsNotFull(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	l := hrHitLoop(t, f)
	for range 5 {
		f.window(10_000, 0.5)
		f.entries = 600 // expiry keeps it at 60 %
		l.Step(time.Second)
		if w := l.Last(); w.Action != HitRateHeldNotFull {
			t.Fatalf("cache 60 %% full at 50 %% hit rate: %+v", w)
		}
	}
	if len(f.resizes) != 0 || l.Stats().HeldNotFull != 5 {
		t.Fatalf("resizes %v, stats %+v", f.resizes, l.Stats())
	}
	// It may still shrink a cache that is not full.
	f.window(10_000, 0.99)
	f.entries = 600
	l.Step(time.Second)
	if len(f.resizes) != 1 || f.cap >= 1000 {
		t.Fatalf("resizes %v at 99 %%", f.resizes)
	}
	// A cache that does not know its entries (-1) is taken as full.
	g := &hrFakeCache{cap: 1000}
	lg := hrHitLoop(t, g)
	g.window(10_000, 0.5)
	g.entries = -1
	lg.Step(time.Second)
	if len(g.resizes) != 1 {
		t.Fatalf("unknown entries: %+v", lg.Last())
	}
}

func TestHitRateBoundsAndSmallCaches(t *testing.T) {
	f := &hrFakeCache{cap: 500}
	l := hrHitLoop(t, f, WithSizeBounds(100, 600))
	f.window(10_000, 0.5)
	l.Step(time.Second)
	if f.cap != 600 {
		t.Fatalf("cache %d, want the upper bound 600", f.cap)
	}
	f.window(10_000, 0.5)
	l.Step(time.Second)
	if w := l.Last(); w.Action != HitRateAtBound || len(f.resizes) != 1 {
		t.Fatalf("at the upper bound: %+v, resizes %v", w, f.resizes)
	}
	if l.Stats().AtBound != 1 {
		t.Fatalf("stats %+v", l.Stats())
	}
	// A tiny cache still moves: by at least one entry.
	s := &hrFakeCache{cap: 2}
	ls := hrHitLoop(t, s, WithSizeBounds(1, 100))
	s.window(10_000, 0.78)
	ls.Step(time.Second)
	if s.cap != 3 {
		t.Fatalf("cache of 2 two points short: now %d, want 3", s.cap)
	}
}

func TestHitRateResizeErrorAndCounterReset(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	l := hrHitLoop(t, f)
	f.err = errors.New("refused")
	f.window(10_000, 0.5)
	l.Step(time.Second)
	w := l.Last()
	if w.Action != HitRateResizeFailed || w.Err == nil || w.Size != 1000 || l.Stats().ResizeErrors != 1 {
		t.Fatalf("failed resize: %+v, stats %+v", w, l.Stats())
	}
	// The cache's counters start again (it was replaced): the loop
	// counts from zero rather than taking a negative window.
	f.err = nil
	f.hits, f.misses = 0, 0
	f.window(4000, 0.5)
	l.Step(time.Second)
	if w := l.Last(); w.Lookups != 4000 || w.Action != HitRateResized {
		t.Fatalf("after the counters were reset: %+v", w)
	}
}

func TestHitRateSmoothing(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	l := hrHitLoop(t, f, WithHitRateSmoothing(0.25))
	f.window(10_000, 0.8)
	l.Step(time.Second)
	f.window(10_000, 0.6)
	l.Step(time.Second)
	if w := l.Last(); math.Abs(w.Measured-0.75) > 1e-9 || w.HitRate != 0.6 {
		t.Fatalf("smoothed %v (raw %v), want 0.75", w.Measured, w.HitRate)
	}
}

func TestHitRateController(t *testing.T) {
	f := &hrFakeCache{cap: 1000}
	var got []float64
	var dts []time.Duration
	ctl := ControllerFunc(func(m float64, dt time.Duration) float64 {
		got = append(got, m)
		dts = append(dts, dt)
		return 1234.4
	})
	l := hrHitLoop(t, f, WithHitRateController(ctl), WithSizeBounds(10, 1200), WithMinLookups(100))
	f.window(50, 0.9)
	l.Step(time.Second) // idle: the controller is not asked
	f.window(1000, 0.9)
	l.Step(time.Second)
	if len(got) != 1 || math.Abs(got[0]-0.9) > 1e-9 || dts[0] != 2*time.Second {
		t.Fatalf("controller given %v over %v", got, dts)
	}
	if f.cap != 1200 {
		t.Fatalf("cache %d: want the controller's 1234 bounded to 1200", f.cap)
	}
	// A controller saying NaN keeps the size.
	nan := &hrFakeCache{cap: 300}
	ln := hrHitLoop(t, nan, WithHitRateController(ControllerFunc(func(float64, time.Duration) float64 { return math.NaN() })))
	nan.window(1000, 0.1)
	ln.Step(time.Second)
	if len(nan.resizes) != 0 {
		t.Fatalf("NaN from the controller resized to %v", nan.resizes)
	}
}

func TestHitRateActionString(t *testing.T) {
	for a, want := range map[HitRateAction]string{
		HitRateIdle: "idle", HitRateInBand: "in-band", HitRateConfirming: "confirming",
		HitRateHeldNotFull: "held-not-full", HitRateAtBound: "at-bound",
		HitRateResized: "resized", HitRateResizeFailed: "resize-failed", HitRateAction(42): "HitRateAction(42)",
	} {
		if a.String() != want {
			t.Errorf("%d: %q, want %q", int(a), a.String(), want)
		}
	}
}
