package core

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Lifecycle regressions: a panicking behaviour, Start right after Wait,
// and Close after a Start that gave up.

// wantPanicErr checks that err carries the panic value and the stack of
// the goroutine that panicked, down to the test file at.
func wantPanicErr(t *testing.T, what string, err error, at string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: nil error, want the panic", what)
	}
	msg := err.Error()
	for _, want := range []string{panicValue, "goroutine ", at} {
		if !strings.Contains(msg, want) {
			t.Fatalf("%s: %q lacks %q", what, msg, want)
		}
	}
}

// wantPanicked checks that n fails with the panic (TestNodeStartAfterWait
// checks that the status is final as soon as Wait returns).
func wantPanicked(t *testing.T, n *Node, at string) Status {
	t.Helper()
	st := waitState(t, n, StateFailed)
	wantPanicErr(t, "Status().Err", st.Err, at)
	return st
}

func TestNodePanicInProcess(t *testing.T) {
	const at = "node_lifecycle_test.go"
	boom := func() error { panic(panicValue) }
	tests := []struct {
		phase string
		b     Behavior
	}{
		{"setup", Behavior{Setup: func(context.Context, *Peer) error { return boom() }}},
		{"update", Behavior{Update: func(context.Context, *Peer, time.Duration) error { return boom() }}},
		{"teardown", Behavior{Teardown: func(context.Context, *Peer) error { return boom() }}},
	}
	for _, tt := range tests {
		t.Run(tt.phase, func(t *testing.T) {
			e := newNodeEnv(t)
			n := e.inproc("panicky", tt.b)
			err := n.Start(e.ctx)
			switch tt.phase {
			case "setup":
				wantPanicErr(t, "Start", err, at)
			case "update":
				if err != nil {
					t.Fatalf("Start = %v", err)
				}
				wantPanicErr(t, "Wait", n.Wait(e.ctx), at)
			case "teardown":
				if err != nil {
					t.Fatalf("Start = %v", err)
				}
				n.Stop(e.ctx)
			}
			wantPanicked(t, n, at)
			e.wantGone("panicky") // the peer was closed
		})
	}
}

func TestNodePanicChild(t *testing.T) {
	e := newNodeEnv(t)
	n := e.started(modeChild, "panicker", "panicky")
	wantPanicErr(t, "Wait", n.Wait(e.ctx), "testkinds_lifecycle_test.go")
	if st := wantPanicked(t, n, "testkinds_lifecycle_test.go"); st.ExitCode != 1 {
		t.Fatalf("exit code %d, want 1 (an exit error, not a crash)", st.ExitCode)
	}
	e.wantGone("panicky")
}

// TestNodeStartAfterWait restarts a node that ends by itself as soon
// as Wait returns: Wait must leave a final status behind.
func TestNodeStartAfterWait(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		rounds := 300
		n := e.inproc("quitter", Behavior{Update: func(context.Context, *Peer, time.Duration) error { return ErrStop }})
		if mode == modeChild {
			rounds = 20
			n = e.node(modeChild, "stopper", "quitter")
		}
		var refused, notFinal int
		for range rounds {
			err := n.Start(e.ctx)
			if errors.Is(err, ErrAlreadyStarted) {
				refused++
				waitNode(t, 10*time.Second, "a final status", func() bool { return !n.Status().Alive() })
				err = n.Start(e.ctx)
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if err := n.Wait(e.ctx); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			if st := n.Status(); st.State != StateStopped {
				notFinal++
			}
		}
		if refused+notFinal > 0 {
			t.Fatalf("%d/%d Start-after-Wait returned ErrAlreadyStarted; %d/%d Status not stopped after Wait",
				refused, rounds, notFinal, rounds)
		}
	})
}

// slowStart is a behaviour whose Setup outlives its Start's deadline.
type slowStart struct {
	active    atomic.Int32 // incarnations between Setup's start and their end
	overlaps  atomic.Int32 // Setups that began while another incarnation was active
	setups    atomic.Int32 // Setups finished
	teardowns atomic.Int32 // Teardowns finished
}

// behavior returns the behaviour; the first Setup runs first(ctx) and
// later ones return at once.
func (s *slowStart) behavior(first func(ctx context.Context) error) Behavior {
	return Behavior{
		Setup: func(ctx context.Context, _ *Peer) error {
			if s.active.Add(1) > 1 {
				s.overlaps.Add(1)
			}
			var err error
			if s.setups.Load() == 0 {
				err = first(ctx)
			}
			s.setups.Add(1)
			if err != nil {
				s.active.Add(-1)
			}
			return err
		},
		Teardown: func(context.Context, *Peer) error {
			s.teardowns.Add(1)
			s.active.Add(-1)
			return nil
		},
	}
}

// startTooSlow starts n with a 50 ms deadline and wants it to fail.
func startTooSlow(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Start(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start with a 50 ms deadline = %v, want DeadlineExceeded", err)
	}
}

// wantGoroutines checks, right away, that no more goroutines run than
// base (with a little room for ones that are returning).
func wantGoroutines(t *testing.T, base int) {
	t.Helper()
	if got := runtime.NumGoroutine(); got > base+2 {
		t.Fatalf("%d goroutines run, %d before the node", got, base)
	}
}

func TestNodeCloseAfterStartTimeout(t *testing.T) {
	tests := []struct {
		name          string
		first         func(ctx context.Context) error
		wantTeardowns int32
	}{
		{"setup-ends-with-ctx", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, 0},
		{"setup-ignores-ctx", func(context.Context) error { time.Sleep(300 * time.Millisecond); return nil }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newNodeEnv(t)
			var s slowStart
			base := runtime.NumGoroutine()
			n := e.inproc("slow", s.behavior(tt.first), WithStopTimeout(5*time.Second))
			startTooSlow(t, n)
			if err := n.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			if s.setups.Load() != 1 || s.teardowns.Load() != tt.wantTeardowns {
				t.Fatalf("after Close: %d setups, %d teardowns finished; want 1, %d",
					s.setups.Load(), s.teardowns.Load(), tt.wantTeardowns)
			}
			wantGoroutines(t, base)
			if st := n.Status(); st.State != StateFailed || !errors.Is(st.Err, context.DeadlineExceeded) {
				t.Fatalf("status after Close: %+v", st)
			}
		})
	}
}

func TestNodeStartWaitsForAbandonedStart(t *testing.T) {
	e := newNodeEnv(t)
	var s slowStart
	n := e.inproc("slow", s.behavior(func(context.Context) error { time.Sleep(300 * time.Millisecond); return nil }))
	startTooSlow(t, n)
	e.start(n)
	if s.overlaps.Load() != 0 || s.teardowns.Load() != 1 {
		t.Fatalf("second Setup began with %d incarnations overlapping, %d teardowns done; want 0, 1",
			s.overlaps.Load(), s.teardowns.Load())
	}
	if st := n.Status(); st.State != StateRunning {
		t.Fatalf("status after the second Start: %+v", st)
	}
}

func TestNodeCloseAbandonsStuckStart(t *testing.T) {
	e := newNodeEnv(t)
	release := make(chan struct{})
	var s slowStart
	n := e.inproc("stuck", s.behavior(func(context.Context) error { <-release; return nil }),
		WithStopTimeout(200*time.Millisecond))
	startTooSlow(t, n)
	begin := time.Now()
	err := n.Close()
	took := time.Since(begin)
	close(release) // the stuck Setup ends: nothing leaks
	if !errors.Is(err, ErrStopTimeout) || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("Close = %v, want ErrStopTimeout saying abandoned", err)
	}
	if took > 5*time.Second {
		t.Fatalf("Close took %v with a 200 ms stop timeout", took)
	}
	waitNode(t, 10*time.Second, "the stuck incarnation's end", func() bool { return s.teardowns.Load() == 1 })
}
