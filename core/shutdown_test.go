package core

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

func echoPeer(t *testing.T, reg Registry, name string) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewPeer(ctx, name, WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.HandleFunc("echo", func(_ context.Context, r *Request) ([]byte, error) { return r.Body, nil }); err != nil {
		t.Fatal(err)
	}
	return p
}

// Callers hammering a service see no error while one of its two
// providers shuts down gracefully and comes back.
func TestShutdownRestartLosesNoCall(t *testing.T) {
	reg := NewMemRegistry()
	a := echoPeer(t, reg, "echo-a")
	echoPeer(t, reg, "echo-b")
	cli := echoPeer(t, reg, "caller")

	var calls, failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := cli.Call(ctx, "echo", []byte("x"))
				cancel()
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range 3 {
		waitCond(t, 5*time.Second, "calls flowing", func() bool { return calls.Load() > int64(100*(i+1)) })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		a = echoPeer(t, reg, "echo-a")
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d calls failed across graceful restarts; first: %v", n, calls.Load(), firstErr.Load())
	}
}

// A call running when Shutdown starts gets its reply.
func TestShutdownWaitsForRunningHandlers(t *testing.T) {
	reg := NewMemRegistry()
	srv := echoPeer(t, reg, "slow")
	started := make(chan struct{})
	srv.HandleFunc("slow", func(ctx context.Context, r *Request) ([]byte, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return []byte("done"), nil
	})
	cli := echoPeer(t, reg, "caller")
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reply, err := cli.Call(ctx, "slow", nil)
		if err == nil && string(reply) != "done" {
			err = errBadEnvelope
		}
		errc <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("call running during shutdown: %v", err)
	}
}

// A raw client sees GOODBYE, and a request sent after it is refused
// with CodeUnavailable (not run), not dropped.
func TestShutdownSaysGoodbyeThenRefuses(t *testing.T) {
	reg := NewMemRegistry()
	srv := echoPeer(t, reg, "leaving")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sock.Dial(ctx, srv.Info().RPC, zmtp.Config{Type: zmtp.Dealer}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitCond(t, 5*time.Second, "server sees the client", func() bool { return srv.router.Peers() == 1 })
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()

	m := readRPC(t, c)
	if m.typ != typeGoodbye {
		t.Fatalf("first message after Shutdown: type %d, want GOODBYE", m.typ)
	}
	if err := c.WriteMessage(requestFrames(7, 1000, "echo", nil, []byte("late"))); err != nil {
		t.Fatal(err)
	}
	c.Flush()
	m = readRPC(t, c)
	if m.typ != typeError || m.code != CodeUnavailable || m.id != 7 {
		t.Fatalf("late request answered type %d code %v id %d, want ERROR unavailable 7", m.typ, m.code, m.id)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func readRPC(t *testing.T, c *zmtp.Conn) rpcMessage {
	t.Helper()
	frames, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseRPC(frames)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
