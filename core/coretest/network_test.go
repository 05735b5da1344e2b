package coretest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func echo(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil }

// setup returns a provider and a caller that dials through net.
func setup(t *testing.T, net *Network) (srv, cli *core.Peer, addr string) {
	t.Helper()
	return setupHeartbeat(t, net, 300*time.Millisecond)
}

// setupHeartbeat is setup with the caller's heartbeat timeout (the
// interval is 50 ms); it also bounds the caller's handshakes, to half.
func setupHeartbeat(t *testing.T, net *Network, timeout time.Duration) (srv, cli *core.Peer, addr string) {
	t.Helper()
	reg := NewRegistry(t)
	srv = NewPeer(t, "srv", core.WithRegistry(reg))
	if err := srv.HandleFunc("echo", echo); err != nil {
		t.Fatal(err)
	}
	cli = NewPeer(t, "cli", core.WithRegistry(reg), net.Option(), core.WithHeartbeat(50*time.Millisecond, timeout))
	addr = strings.TrimPrefix(srv.Info().RPC, "tcp://")
	return srv, cli, addr
}

func call(cli *core.Peer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := cli.Call(ctx, "echo", []byte("x"))
	return err
}

func TestCutFailsCallInFlightAndRecovers(t *testing.T) {
	net := NewNetwork()
	srv, cli, addr := setup(t, net)
	started := make(chan struct{})
	srv.HandleFunc("slow", func(ctx context.Context, r *core.Request) ([]byte, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cli.Call(ctx, "slow", nil)
		errc <- err
	}()
	<-started
	if n := net.Cut(addr); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	if err := <-errc; !errors.Is(err, core.ErrConnectionLost) {
		t.Fatalf("in-flight call after cut: %v, want ErrConnectionLost", err)
	}
	if err := call(cli, 5*time.Second); err != nil {
		t.Fatalf("call after reconnect: %v", err)
	}
}

func TestStallIsDetectedByHeartbeats(t *testing.T) {
	net := NewNetwork()
	_, cli, addr := setup(t, net)
	if err := call(cli, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	net.Stall(addr)
	// The stall is detected (heartbeats: 50 ms interval, 300 ms timeout,
	// or the write deadline): the call ends as "provider unreachable" —
	// ErrConnectionLost if the request was on the wire, ErrNoProvider if
	// it never left — never as a plain timeout of a silent wait.
	err := call(cli, 2*time.Second)
	if !errors.Is(err, core.ErrConnectionLost) && !errors.Is(err, core.ErrNoProvider) {
		t.Fatalf("call through a stalled link: %v, want ErrConnectionLost or ErrNoProvider", err)
	}
	if errors.Is(err, core.ErrTimeout) {
		t.Fatalf("stall not detected: %v", err)
	}
	net.Heal(addr)
	if err := call(cli, 5*time.Second); err != nil {
		t.Fatalf("call after heal: %v", err)
	}
}

func TestDelaySlowsButDelivers(t *testing.T) {
	net := NewNetwork()
	// A handshake takes two delayed writes: give it time (a timeout of
	// 1 s lets it take 500 ms).
	_, cli, addr := setupHeartbeat(t, net, time.Second)
	net.Delay(addr, 100*time.Millisecond)
	start := time.Now()
	if err := call(cli, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("delayed call took %v", d)
	}
}

func TestWriteDeadlineHonouredWhileStalled(t *testing.T) {
	net := NewNetwork()
	_, _, addr := setup(t, net)
	c, err := net.Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	net.Stall(addr)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a stalled address: %v", err)
	}
}
