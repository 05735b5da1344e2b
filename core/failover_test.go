package core

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Failover between providers, and the lifecycle contracts callers rely
// on while providers come and go: round robin that survives registry
// re-reads, a hung provider that costs its callers at most a few calls,
// Shutdown(ctx) that honours its context, options refused where they do
// not apply.

// TestFailoverRoundRobinAcrossViewRefresh: calls spaced wider than the
// discovery interval still alternate between the providers. The round
// robin position must outlive the registry reading it was taken from
// (a position kept in the reading restarts at the alphabetically first
// provider every time the registry is read again).
func TestFailoverRoundRobinAcrossViewRefresh(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		// tenv's discovery interval is 25 ms: every call below finds the
		// registry reading older than that, as with 300 ms between calls
		// and the default 200 ms.
		const calls, spacing, minShare = 24, 60 * time.Millisecond, 30 // share in %
		a, b := e.peer("rr-a"), e.peer("rr-b")
		provideEcho(t, a, "echo")
		provideEcho(t, b, "echo")
		cli := e.peer("rr-caller")
		ctx := e.ctx(30 * time.Second)
		if _, err := Discover(ctx, e.reg, "echo", 2); err != nil {
			t.Fatal(err)
		}
		for i := range calls {
			if i > 0 {
				time.Sleep(spacing) // pacing: the spacing is what the test is about
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := cli.Call(cctx, "echo", []byte("x"))
			cancel()
			if err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		na, nb := serviceCalls(a, "echo"), serviceCalls(b, "echo")
		t.Logf("%d calls %v apart (discovery interval 25 ms): rr-a served %d, rr-b served %d", calls, spacing, na, nb)
		for name, n := range map[string]uint64{"rr-a": na, "rr-b": nb} {
			if n*100 < calls*minShare {
				t.Errorf("%s served %d of %d calls, want at least %d %%", name, n, calls, minShare)
			}
		}
	})
}

// Budget of TestFailoverHungProvider.
const (
	// hungSettle is how long the provider has been hung when the calls
	// start: long enough for heartbeats (every 500 ms by default) to
	// show it silent, shorter than the 2 s heartbeat timeout after which
	// this code drops the connection.
	hungSettle     = 1500 * time.Millisecond
	hungCalls      = 3000
	hungCallers    = 64 // calls stuck on a hung provider grow with the callers
	hungDeadline   = 5 * time.Second
	hungSlow       = time.Second // a successful call slower than this counts as bad
	hungMaxBad     = 10          // calls that may fail or be slow in all
	hungNewPeers   = 2
	hungFirstCalls = 5
	// hungFirstCall bounds each of the first calls of a peer made
	// after the provider hung: it must not wait for a handshake the hung
	// provider will never complete (5 s by default).
	hungFirstCall = 1500 * time.Millisecond
)

// TestFailoverHungProvider: one of two providers hangs (SIGSTOP: its
// sockets stay open, nothing answers). Once the hang has lasted
// hungSettle, a caller that was connected to it loses at most a few
// calls however many goroutines call (on this code every calling
// goroutine gets stuck on it once, until the heartbeat timeout), and a
// caller that starts afterwards does not wait on it: the healthy
// provider serves.
func TestFailoverHungProvider(t *testing.T) {
	e := newNodeEnv(t)
	// hang-a is alphabetically first: this code's round robin starts
	// there after every registry reading. A minute's lease keeps the
	// hung provider listed (it renews no more) for the whole test.
	hung := e.started(modeChild, "failover-echo", "hang-a", WithLeaseTTL(time.Minute))
	e.started(modeChild, "failover-echo", "hang-b", WithLeaseTTL(time.Minute))
	cli := e.client()
	for _, name := range []string{"hang-a", "hang-b"} { // connect to both
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		_, err := cli.Call(ctx, "echo", []byte("warm"), OnNode(name))
		cancel()
		if err != nil {
			t.Fatalf("warm-up call to %s: %v", name, err)
		}
	}
	pid := hung.Status().PID
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) // before the node's Close
	time.Sleep(hungSettle)                                   // pacing: how long the hang has lasted

	var next, failed, slow, slowest atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range hungCallers {
		wg.Go(func() {
			for next.Add(1) <= hungCalls {
				ctx, cancel := context.WithTimeout(context.Background(), hungDeadline)
				t0 := time.Now()
				_, err := cli.Call(ctx, "echo", []byte("x"))
				took := time.Since(t0)
				cancel()
				for old := slowest.Load(); int64(took) > old && !slowest.CompareAndSwap(old, int64(took)); old = slowest.Load() {
				}
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				case took > hungSlow:
					slow.Add(1)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("hang-a stopped %v before; %d calls by %d callers in %v: %d failed, %d slower than %v, slowest %v; first error: %v",
		hungSettle, hungCalls, hungCallers, time.Since(start).Round(time.Millisecond), failed.Load(), slow.Load(), hungSlow,
		time.Duration(slowest.Load()).Round(time.Millisecond), firstErr.Load())
	if bad := failed.Load() + slow.Load(); bad > hungMaxBad {
		t.Errorf("%d calls failed or took over %v while hang-b was healthy, want at most %d", bad, hungSlow, hungMaxBad)
	}

	for i := range hungNewPeers {
		p, err := NewPeer(e.ctx, "", WithRegistry(e.reg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		for j := range hungFirstCalls {
			ctx, cancel := context.WithTimeout(context.Background(), hungDeadline)
			t0 := time.Now()
			_, err := p.Call(ctx, "echo", []byte("first"))
			took := time.Since(t0)
			cancel()
			t.Logf("new peer %d, call %d: %v, %v", i, j, took.Round(time.Millisecond), err)
			if err != nil || took > hungFirstCall {
				t.Errorf("new peer %d, call %d with hang-a stopped: %v after %v, want success within %v",
					i, j, err, took.Round(time.Millisecond), hungFirstCall)
			}
		}
	}
}

// TestShutdownReturnsContextError: Shutdown returns when its context
// ends, with an error matching the context's, even while a handler
// that ignores its own context keeps running (net/http's contract).
func TestShutdownReturnsContextError(t *testing.T) {
	const handlerRuns, shutdownCtx, bound = 2 * time.Second, 200 * time.Millisecond, 500 * time.Millisecond
	reg := NewMemRegistry()
	srv := echoPeer(t, reg, "deaf")
	started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	err := srv.HandleFunc("deaf", func(context.Context, *Request) ([]byte, error) {
		defer close(finished)
		close(started)
		select { // ignores its context on purpose
		case <-release:
		case <-time.After(handlerRuns):
		}
		return []byte("late"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cli := echoPeer(t, reg, "caller")
	callDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := cli.Call(ctx, "deaf", nil)
		callDone <- err
	}()
	t.Cleanup(func() { // runs before the peers' Close
		close(release)
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
		}
		select {
		case <-callDone:
		case <-time.After(10 * time.Second):
			t.Error("the call never returned")
		}
	})
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never started")
	}

	ctx, cancel := context.WithTimeout(context.Background(), shutdownCtx)
	defer cancel()
	t0 := time.Now()
	err = srv.Shutdown(ctx)
	took := time.Since(t0)
	t.Logf("Shutdown with a %v context, handler ignoring its context for %v: returned %v after %v",
		shutdownCtx, handlerRuns, err, took.Round(time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown returned %v, want an error matching context.DeadlineExceeded", err)
	}
	if took > bound {
		t.Errorf("Shutdown took %v with a %v context, want at most %v", took.Round(time.Millisecond), shutdownCtx, bound)
	}
}

// TestNewPeerRejectsNodeOptions: options that only nodes use are an
// error given to NewPeer, not a silent no-op; nodes still take them.
func TestNewPeerRejectsNodeOptions(t *testing.T) {
	nodeOnly := map[string]Option{
		"WithStopTimeout":    WithStopTimeout(time.Second),
		"WithUpdateInterval": WithUpdateInterval(time.Second),
		"WithOutput":         WithOutput(io.Discard),
		"WithInProcess":      WithInProcess(true),
	}
	for name, opt := range nodeOnly {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := NewPeer(ctx, "", WithRegistry(NewMemRegistry()), opt)
			if err == nil {
				p.Close()
				t.Errorf("NewPeer accepted %s, an option of nodes only", name)
				return
			}
			t.Logf("NewPeer with %s: %v", name, err)
		})
	}
	all := []Option{WithStopTimeout(time.Second), WithUpdateInterval(time.Second), WithOutput(io.Discard)}
	if _, err := testLauncher.NewNode("failover-echo", "", all...); err != nil {
		t.Errorf("Launcher.NewNode refused node options: %v", err)
	}
	if _, err := testLauncher.NewNode("failover-echo", "", append(all, WithInProcess(true))...); err != nil {
		t.Errorf("Launcher.NewNode refused node options with WithInProcess: %v", err)
	}
	if _, err := NewNode("", Behavior{}, WithStopTimeout(time.Second), WithUpdateInterval(time.Second)); err != nil {
		t.Errorf("NewNode refused node options: %v", err)
	}
}
