package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// errCrash is what a fake child fails with; errStartRefused what its
// start fails with.
var (
	errCrash        = errors.New("fake crash")
	errStartRefused = errors.New("fake start refused")
)

// fakeChild is a Child driven by the test: it starts and stops at once
// and exits when the test says so.
type fakeChild struct {
	name string

	mu         sync.Mutex
	st         core.Status
	cur        *fakeInc
	failStarts int // the next failStarts starts fail
	starts     int
	stops      int
}

type fakeInc struct {
	done chan struct{}
	err  error
}

func newFake(name string) *fakeChild {
	return &fakeChild{name: name, st: core.Status{Name: name, State: core.StateNew}}
}

func (f *fakeChild) Start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil && !closed(f.cur.done) {
		return fmt.Errorf("fake %s started twice", f.name)
	}
	f.starts++
	if f.failStarts > 0 {
		f.failStarts--
		f.st = core.Status{Name: f.name, State: core.StateFailed, Err: errStartRefused, ExitCode: 1}
		return errStartRefused
	}
	f.cur = &fakeInc{done: make(chan struct{})}
	f.st = core.Status{Name: f.name, State: core.StateRunning, PID: 4242}
	return nil
}

func (f *fakeChild) Stop(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || closed(f.cur.done) {
		return nil
	}
	f.stops++
	f.endLocked(nil, 0)
	return nil
}

func (f *fakeChild) endLocked(err error, code int) {
	f.cur.err = err
	f.st.State, f.st.Err, f.st.ExitCode = core.StateStopped, err, code
	if err != nil {
		f.st.State = core.StateFailed
	}
	close(f.cur.done)
}

func (f *fakeChild) Wait(ctx context.Context) error {
	f.mu.Lock()
	inc := f.cur
	f.mu.Unlock()
	if inc == nil {
		return nil
	}
	select {
	case <-inc.done:
		return inc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *fakeChild) Status() core.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

// running reports whether an incarnation runs.
func (f *fakeChild) running() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur != nil && !closed(f.cur.done)
}

// exit ends the running incarnation by itself: normally, or with
// errCrash. It reports false when none runs.
func (f *fakeChild) exit(normal bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur == nil || closed(f.cur.done) {
		return false
	}
	if normal {
		f.endLocked(nil, 0)
	} else {
		f.endLocked(errCrash, 1)
	}
	return true
}

func (f *fakeChild) setFailStarts(n int) {
	f.mu.Lock()
	f.failStarts = n
	f.mu.Unlock()
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.done {
			return false
		}
		t.done = true
		return true
	}
}

// set moves the clock to at (never back) and fires the timers due, in
// time order, each in its own goroutine as time.AfterFunc does.
func (c *fakeClock) set(at time.Time) {
	c.mu.Lock()
	if at.After(c.now) {
		c.now = at
	}
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.done && !t.at.After(c.now) {
			t.done = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		go t.f()
	}
}

func (c *fakeClock) advance(d time.Duration) { c.set(c.Now().Add(d)) }

// pending returns the due times of the timers not fired or stopped.
func (c *fakeClock) pending() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for _, t := range c.timers {
		if !t.done {
			out = append(out, t.at)
		}
	}
	return out
}

// quietLogger discards the supervisor's log.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	pause := 20 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 2*time.Millisecond)
	}
}

// testCtx is a context for one test, ended at its cleanup.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// action is one event kind and child, the unit the model predicts.
type action struct {
	kind  EventKind
	child string
}

func (a action) String() string { return a.kind.String() + " " + a.child }

// actions turns recorded events into actions.
func actions(evs []Event) []action {
	out := make([]action, len(evs))
	for i, ev := range evs {
		out[i] = action{ev.Kind, ev.Child}
	}
	return out
}

// slowStopper is a fake child whose Stop takes delay, or until its
// context ends (sawDeadline is then set).
type slowStopper struct {
	*fakeChild
	delay       time.Duration
	sawDeadline atomic.Bool
}

func (s *slowStopper) Stop(ctx context.Context) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		s.sawDeadline.Store(true)
	}
	return s.fakeChild.Stop(ctx)
}
