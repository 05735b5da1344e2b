package feedback

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeWaits is a WaitSource whose windows a test sets.
type fakeWaits struct {
	w   WaitWindow
	err error
}

func (f *fakeWaits) MeasureWait(dt, _ time.Duration) (WaitWindow, error) {
	w := f.w
	w.Window = dt
	return w, f.err
}

// fakeScaler is a Scaler recording what it was asked.
type fakeScaler struct {
	n     int
	asked []int
	err   error
}

func (f *fakeScaler) Workers() int { return f.n }

func (f *fakeScaler) SetWorkers(_ context.Context, n int) error {
	f.asked = append(f.asked, n)
	if f.err != nil {
		return f.err
	}
	f.n = n
	return nil
}

// steady is a window of Poisson-free, exact load: rate per second over
// dt with the given mean service time and a wait well within target.
func steady(rate float64, dt, svc time.Duration) WaitWindow {
	n := int(rate * dt.Seconds())
	return WaitWindow{Arrivals: n, Dispatched: n, WaitP99: time.Millisecond, MeanService: svc}
}

func TestWorkersLoopOptions(t *testing.T) {
	src, sc := &fakeWaits{}, &fakeScaler{}
	bad := []struct {
		target time.Duration
		src    WaitSource
		sc     Scaler
		opts   []WorkerLoopOption
	}{
		{0, src, sc, nil},
		{time.Second, nil, sc, nil},
		{time.Second, src, nil, nil},
		{time.Second, src, sc, []WorkerLoopOption{nil}},
		{time.Second, src, sc, []WorkerLoopOption{WithWorkerBounds(3, 2)}},
		{time.Second, src, sc, []WorkerLoopOption{WithWorkerBounds(-1, 2)}},
		{time.Second, src, sc, []WorkerLoopOption{WithWorkerBounds(0, 0)}},
		{time.Second, src, sc, []WorkerLoopOption{WithScaleDownDelay(-time.Second)}},
		{time.Second, src, sc, []WorkerLoopOption{WithDrainTime(0)}},
		{time.Second, src, sc, []WorkerLoopOption{WithScaleTimeout(0)}},
	}
	for i, b := range bad {
		if _, err := NewWorkerLoop(b.target, b.src, b.sc, b.opts...); !errors.Is(err, ErrInvalidWorkerLoop) {
			t.Errorf("case %d: error %v, want ErrInvalidWorkerLoop", i, err)
		}
	}
	if _, err := NewWorkerSet("tcp://127.0.0.1:1", nil); !errors.Is(err, ErrInvalidWorkerLoop) {
		t.Errorf("nil handler: %v", err)
	}
	if _, err := NewQueueWaitSource(nil); !errors.Is(err, ErrInvalidWorkerLoop) {
		t.Errorf("nil queue: %v", err)
	}
}

func TestWorkersMMC(t *testing.T) {
	// 5 Erlangs, target 2 mean service times: 6 servers leave more than
	// 1 % of jobs waiting longer, 7 do not (P = C(c,a)·e^-(c-a)t).
	if got := mmcWorkers(5, 2, 0.01, 64); got != 7 {
		t.Fatalf("mmcWorkers(5, 2, 0.01) = %d, want 7", got)
	}
	prev := 0
	for a := 0.5; a < 40; a += 0.5 {
		n := mmcWorkers(a, 2, 0.01, 64)
		if n < prev || float64(n) <= a {
			t.Fatalf("a %v: %d workers after %d", a, n, prev)
		}
		prev = n
	}
	if got := mmcWorkers(0, 2, 0.01, 64); got != 0 {
		t.Fatalf("no load: %d", got)
	}
	if got := mmcWorkers(100, 2, 0.01, 64); got != 64 {
		t.Fatalf("beyond the limit: %d", got)
	}
}

// TestWorkersLoopStepsUpAtOnceDownAfterDelay drives the loop with
// exact windows: a load step up gets its workers in one window, a step
// down only after the scale-down delay, in one move.
func TestWorkersLoopStepsUpAtOnceDownAfterDelay(t *testing.T) {
	const dt, svc = 500 * time.Millisecond, 10 * time.Millisecond
	src, sc := &fakeWaits{w: steady(500, dt, svc)}, &fakeScaler{n: 1}
	loop, err := NewWorkerLoop(20*time.Millisecond, src, sc, WithWorkerBounds(1, 40), WithScaleDownDelay(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	loop.Step(dt)
	low := mmcWorkers(500*svc.Seconds(), 2, 0.01, 40)
	if sc.n != low || loop.Stats().Needed != low || loop.Stats().ScaleUps != 1 {
		t.Fatalf("after one window at 500/s: %d workers, stats %+v; want %d", sc.n, loop.Stats(), low)
	}
	for range 5 {
		loop.Step(dt)
	}
	src.w = steady(1500, dt, svc)
	loop.Step(dt)
	high := mmcWorkers(1500*svc.Seconds(), 2, 0.01, 40)
	if sc.n != high {
		t.Fatalf("one window after the step up: %d workers, want %d", sc.n, high)
	}
	src.w = steady(500, dt, svc)
	for i := range 3 { // 1.5 s < the delay
		loop.Step(dt)
		if sc.n != high {
			t.Fatalf("%d windows after the step down: %d workers, want %d until the delay", i+1, sc.n, high)
		}
	}
	loop.Step(dt)
	if sc.n != low || loop.Stats().ScaleDowns != 1 {
		t.Fatalf("after the delay: %d workers (%d scale-downs), want %d in one move", sc.n, loop.Stats().ScaleDowns, low)
	}
	if got, want := sc.asked, []int{low, high, low}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("asked %v, want %v", got, want)
	}
}

// TestWorkersLoopBacklogAndFeedback: a backlog adds workers beyond the
// model; 5 % of requests waiting past the target with the model's
// workers running make the feedback term add one, and a load step
// resets it.
func TestWorkersLoopBacklogAndFeedback(t *testing.T) {
	const dt, svc = 500 * time.Millisecond, 10 * time.Millisecond
	w := steady(500, dt, svc)
	src, sc := &fakeWaits{w: w}, &fakeScaler{n: 1}
	loop, err := NewWorkerLoop(20*time.Millisecond, src, sc, WithScaleDownDelay(time.Second), WithDrainTime(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	loop.Step(dt)
	base := sc.n
	src.w.Queued, src.w.OldestWait = 1000, time.Second // 10 worker-seconds queued
	loop.Step(dt)
	if st := loop.Stats(); st.Backlog != 10 || sc.n != base+10 {
		t.Fatalf("backlog: %+v, %d workers; want 10 more than %d", st, sc.n, base)
	}
	src.w = w
	src.w.WaitP99 = 40 * time.Millisecond     // the model fits badly:
	src.w.Late = 0.05 * float64(w.Dispatched) // 5 % wait past the target
	var corr int
	for range 20 {
		loop.Step(dt)
		corr = max(corr, loop.Stats().Correction)
	}
	if corr == 0 {
		t.Fatalf("5 %% late for 10 s: no correction (%+v)", loop.Stats())
	}
	src.w = steady(1500, dt, svc)
	loop.Step(dt)
	if st := loop.Stats(); st.Correction != 0 {
		t.Fatalf("after a load step: correction %d", st.Correction)
	}
}

func TestWorkersLoopErrors(t *testing.T) {
	boom := errors.New("boom")
	src, sc := &fakeWaits{w: steady(500, time.Second, 10*time.Millisecond), err: boom}, &fakeScaler{n: 2}
	loop, err := NewWorkerLoop(20*time.Millisecond, src, sc)
	if err != nil {
		t.Fatal(err)
	}
	loop.Step(time.Second)
	if st := loop.Stats(); !errors.Is(st.Err, boom) || len(sc.asked) != 0 || st.Steps != 1 {
		t.Fatalf("source error: stats %+v, asked %v", st, sc.asked)
	}
	src.err, sc.err = nil, boom
	loop.Step(time.Second)
	if st := loop.Stats(); !errors.Is(st.Err, boom) || len(sc.asked) != 1 || sc.n != 2 {
		t.Fatalf("scaler error: stats %+v, asked %v", st, sc.asked)
	}
	sc.err = nil
	loop.Step(time.Second)
	if st := loop.Stats(); st.Err != nil || sc.n != st.Workers || st.Workers == 2 {
		t.Fatalf("after the errors: stats %+v, %d workers", st, sc.n)
	}
}
