package core

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Lifecycle regressions: a panicking behaviour, Start right after Wait.

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
