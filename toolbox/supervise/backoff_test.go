package supervise

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestBackoffDelayBounds: the first restart of a streak is immediate;
// later ones grow by Multiplier from Initial, stay within
// [base·(1-Jitter), base·(1+Jitter)] and never exceed Max.
func TestBackoffDelayBounds(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.25, ResetAfter: time.Minute}
	for _, u := range []float64{0, 0.25, 0.5, 0.75, math.Nextafter(1, 0)} {
		if d := b.delay(1, u); d != 0 {
			t.Errorf("delay(1, %v) = %v, want 0", u, d)
		}
	}
	for n := 2; n <= 12; n++ {
		base := math.Min(float64(b.Initial)*math.Pow(2, float64(n-2)), float64(b.Max))
		lo, hi := time.Duration(base*0.75), time.Duration(math.Min(base*1.25, float64(b.Max)))
		for _, u := range []float64{0, 0.1, 0.5, 0.9, math.Nextafter(1, 0)} {
			d := b.delay(n, u)
			if d < lo || d > hi || d > b.Max {
				t.Errorf("delay(%d, %v) = %v, want within [%v, %v]", n, u, d, lo, hi)
			}
		}
		if d := b.delay(n, 0); d != lo {
			t.Errorf("delay(%d, 0) = %v, want the lower bound %v", n, d, lo)
		}
		if d := b.delay(n, 0.5); d != time.Duration(base) {
			t.Errorf("delay(%d, 0.5) = %v, want the base %v", n, d, time.Duration(base))
		}
	}
	if d := NoBackoff().delay(9, 0.9); d != 0 {
		t.Errorf("NoBackoff delay = %v", d)
	}
	// The real jitter source spreads over the whole range.
	src := newJitterSource()
	var min, max time.Duration = time.Hour, 0
	for range 2000 {
		d := b.delay(3, src())
		min, max = time.Duration(math.Min(float64(min), float64(d))), time.Duration(math.Max(float64(max), float64(d)))
	}
	if min > 160*time.Millisecond || max < 240*time.Millisecond || min < 150*time.Millisecond || max > 250*time.Millisecond {
		t.Errorf("2000 jittered delays of base 200ms span [%v, %v], want about [150ms, 250ms]", min, max)
	}
}

// TestBackoffValidation: bad backoffs are rejected.
func TestBackoffValidation(t *testing.T) {
	good := DefaultBackoff()
	for _, b := range []Backoff{
		{Initial: -1},
		func() Backoff { b := good; b.Max = b.Initial / 2; return b }(),
		func() Backoff { b := good; b.Multiplier = 0.5; return b }(),
		func() Backoff { b := good; b.Multiplier = math.NaN(); return b }(),
		func() Backoff { b := good; b.Jitter = 1; return b }(),
		func() Backoff { b := good; b.Jitter = -0.1; return b }(),
		func() Backoff { b := good; b.ResetAfter = 0; return b }(),
		{Max: time.Second},
	} {
		if _, err := New("x", OneForOne, nil, WithBackoff(b)); !errors.Is(err, ErrBadOption) {
			t.Errorf("WithBackoff(%+v) = %v, want ErrBadOption", b, err)
		}
	}
	for _, b := range []Backoff{good, NoBackoff()} {
		if _, err := New("x", OneForOne, nil, WithBackoff(b)); err != nil {
			t.Errorf("WithBackoff(%+v) = %v", b, err)
		}
	}
}

// TestBackoffRestarts: with a fake clock, a failing child's restarts
// wait 0, Initial, 2·Initial … Max, and after it stayed up ResetAfter
// the next restart is immediate again.
func TestBackoffRestarts(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2, Jitter: 0.2, ResetAfter: 10 * time.Second}
	h := newHarness(t, OneForOne, []kidSpec{{name: "a"}}, WithBackoff(b), WithIntensity(100, time.Minute),
		withRand(func() float64 { return 0.5 })).start()
	for i, want := range []time.Duration{0, 100, 200, 400, 400} {
		want *= time.Millisecond
		h.crash("a", false)
		if want == 0 {
			h.expect("exited a; restarting a; started a")
			continue
		}
		h.expect("exited a; restarting a")
		if got := h.states(); got != "a:restarting" {
			t.Fatalf("crash %d: %s, want restarting", i, got)
		}
		if evs := h.s.Stats().Recent; evs[len(evs)-1].Delay != want {
			t.Fatalf("crash %d: delay %v, want %v", i, evs[len(evs)-1].Delay, want)
		}
		h.clk.advance(want - time.Nanosecond)
		h.settle()
		if got := h.states(); got != "a:restarting" {
			t.Fatalf("crash %d: started before its delay", i)
		}
		h.clk.advance(time.Nanosecond)
		waitFor(t, 10*time.Second, "the delayed restart", func() bool { return h.states() == "a:running" })
		h.settle()
		h.expect("started a")
	}
	h.clk.advance(b.ResetAfter)
	h.crash("a", false)
	h.expect("exited a; restarting a; started a")
}

// TestBackoffOneForAll: under one_for_all the siblings stop at once and
// start together once the delay of the child that failed is over; a
// Stop during the delay cancels the restart.
func TestBackoffOneForAll(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, ResetAfter: time.Hour}
	h := newHarness(t, OneForAll, []kidSpec{{name: "a"}, {name: "b"}}, WithBackoff(b), WithIntensity(10, time.Minute)).start()
	h.crash("b", false)
	h.expect("exited b; restarting b; stopped a; started a; started b")
	h.crash("b", false)
	h.expect("exited b; restarting b; stopped a")
	if got := h.states(); got != "a:restarting b:restarting" {
		t.Fatalf("children %s", got)
	}
	if n := h.s.Count(); n.Active != 0 {
		t.Errorf("active %d during the delay", n.Active)
	}
	h.clk.advance(time.Second)
	waitFor(t, 10*time.Second, "the group restart", func() bool { return h.states() == "a:running b:running" })
	h.settle()
	h.expect("started a; started b")
	h.crash("b", false)
	h.expect("exited b; restarting b; stopped a")
	if len(h.clk.pending()) != 1 {
		t.Fatalf("pending timers %v", h.clk.pending())
	}
	if err := h.s.Stop(testCtx(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(h.clk.pending()) != 0 {
		t.Errorf("Stop left the restart timer: %v", h.clk.pending())
	}
	h.clk.advance(time.Minute)
	if h.fakes["a"].running() || h.fakes["b"].running() {
		t.Error("a cancelled restart ran")
	}
}

// TestBackoffRestForOneMerges: under rest_for_one, an earlier child's
// restart takes over the waiting restart of a later one.
func TestBackoffRestForOneMerges(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 10 * time.Second, Multiplier: 2, ResetAfter: time.Hour}
	h := newHarness(t, RestForOne, []kidSpec{{name: "a"}, {name: "b"}, {name: "c"}}, WithBackoff(b), WithIntensity(10, time.Minute)).start()
	h.crash("b", false) // first of b's streak: immediate
	h.crash("a", false) // first of a's streak: immediate
	h.expect("exited b; restarting b; stopped c; started b; started c; exited a; restarting a; stopped c; stopped b; started a; started b; started c")
	h.crash("c", false) // c: first, immediate
	h.crash("b", false) // b: second, 1 s
	h.expect("exited c; restarting c; started c; exited b; restarting b; stopped c")
	h.crash("a", false) // a: second, 1 s; takes over b's restart
	h.expect("exited a; restarting a")
	if p := h.clk.pending(); len(p) != 1 {
		t.Fatalf("pending timers %v, want a's alone", p)
	}
	h.clk.advance(time.Second)
	waitFor(t, 10*time.Second, "the merged restart", func() bool { return h.states() == "a:running b:running c:running" })
	h.settle()
	h.expect("started a; started b; started c")
}
