package cache

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Shared helpers of the server and client tests.

// senv is one test's network: a transport, a private registry and, for
// IPC, a short runtime directory for the socket files.
type senv struct {
	t   *testing.T
	tr  core.Transport
	reg core.Registry
	dir string
}

// eachTransport runs f as one subtest per transport.
func eachTransport(t *testing.T, f func(t *testing.T, e *senv)) {
	t.Helper()
	for _, tr := range []core.Transport{core.TCP, core.IPC} {
		t.Run(string(tr), func(t *testing.T) { f(t, newSenv(t, tr)) })
	}
}

func newSenv(t *testing.T, tr core.Transport) *senv {
	t.Helper()
	e := &senv{t: t, tr: tr, reg: core.NewMemRegistry()}
	if tr == core.IPC {
		dir, err := os.MkdirTemp("", "zc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		e.dir = dir
	}
	return e
}

// peer starts a peer in the environment, closed when the test ends.
func (e *senv) peer(name string, extra ...core.Option) *core.Peer {
	e.t.Helper()
	opts := []core.Option{core.WithRegistry(e.reg), core.WithTransport(e.tr), core.WithDiscoveryInterval(25 * time.Millisecond)}
	if e.dir != "" {
		opts = append(opts, core.WithRuntimeDir(e.dir))
	}
	p, err := core.NewPeer(testCtx(e.t, 10*time.Second), name, append(opts, extra...)...)
	if err != nil {
		e.t.Fatalf("NewPeer(%q): %v", name, err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

// server starts a cache server named "cache" on a peer of its own.
func (e *senv) server(opts ...ServerOption) (*Server, *core.Peer) {
	e.t.Helper()
	p := e.peer("cache-node")
	s, err := NewServer(p, "cache", opts...)
	if err != nil {
		e.t.Fatalf("NewServer: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s, p
}

// client returns a client of the "cache" server on a new peer.
func (e *senv) client(name string) *Client {
	e.t.Helper()
	c, err := NewClient(e.peer(name), "cache")
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// testCtx returns a context that ends after d or when the test ends.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// updates subscribes p to the server's update topic and waits until
// the server's peer is connected.
func updates(t *testing.T, p *core.Peer, name string) *core.Subscription {
	t.Helper()
	sub, err := p.Subscribe(name+".updates", core.WithQueue(100_000, core.DropNewest))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	if err := sub.WaitConnected(testCtx(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	return sub
}

// nextUpdate returns the next update other than a heartbeat.
func nextUpdate(t *testing.T, sub *core.Subscription) update {
	t.Helper()
	ctx := testCtx(t, 10*time.Second)
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for an update: %v", err)
		}
		u, err := decodeUpdate(m.Data)
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if u.kind != kindHeartbeat {
			return u
		}
	}
}

// download reads the server's whole snapshot.
func download(t *testing.T, p *core.Peer, name string) (snapHeader, map[string]snapRecord) {
	t.Helper()
	rc, err := p.Download(testCtx(t, 20*time.Second), name+".snapshot", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sr, h, err := newSnapReader(rc, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs := map[string]snapRecord{}
	for {
		r, err := sr.next()
		if err == io.EOF {
			return h, recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs[r.key] = r
	}
}
