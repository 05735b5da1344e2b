package sock

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("condition not met within %v", timeout)
	}
}

// poll reports whether cond held within timeout.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// testContext returns a context that ends with the test or after d.
func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type transport struct {
	name string
	// endpoint returns a fresh endpoint to listen on.
	endpoint func(t testing.TB) string
}

var transports = []transport{
	{"tcp", func(testing.TB) string { return "tcp://127.0.0.1:0" }},
	{"ipc", ipcEndpoint},
}

// ipcEndpoint returns ipc:// with a short socket path (sun_path is
// limited to 108 bytes, t.TempDir can be longer).
func ipcEndpoint(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "s")
	if len(p) >= 100 {
		t.Fatalf("ipc path %q too long", p)
	}
	return "ipc://" + p
}

// forEachTransport runs f as a subtest over tcp and ipc.
func forEachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

// echo is a Router OnMessage that sends every request back.
func echo(peer *Link, frames [][]byte) {
	peer.Send(context.Background(), frames)
}

func startRouter(t testing.TB, endpoint string, cfg RouterConfig) *Router {
	t.Helper()
	if cfg.OnMessage == nil {
		cfg.OnMessage = echo
	}
	r, err := ListenRouter(endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func startPub(t testing.TB, endpoint string, cfg PubConfig) *Pub {
	t.Helper()
	p, err := ListenPub(endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func startSession(t testing.TB, cfg SessionConfig) *Session {
	t.Helper()
	if cfg.ZMTP.Type == "" {
		cfg.ZMTP.Type = zmtp.Dealer
	}
	s := StartSession(cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// sessionLink waits for the session's link.
func sessionLink(t testing.TB, s *Session) *Link {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := s.Link(ctx)
	if err != nil {
		t.Fatalf("Session.Link: %v (last error %v)", err, s.LastError())
	}
	return l
}

// routerLinks returns the router's current peer links.
func routerLinks(r *Router) []*Link {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ls []*Link
	for l := range r.links {
		ls = append(ls, l)
	}
	return ls
}

// rawDial opens a plain network connection to endpoint.
func rawDial(t testing.TB, endpoint string) net.Conn {
	t.Helper()
	e, err := ParseEndpoint(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.DialTimeout(e.Network, e.Address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// rawHandshake plays the peer side of the handshake by hand on nc, so
// that the test can then write arbitrary bytes.
func rawHandshake(t testing.TB, nc net.Conn, typ zmtp.SocketType) *bufio.Reader {
	t.Helper()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(append(zmtptest.NullGreeting(), zmtptest.ReadyType(string(typ))...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	var g [zmtp.GreetingSize]byte
	if _, err := io.ReadFull(r, g[:]); err != nil {
		t.Fatalf("reading greeting: %v", err)
	}
	if _, err := zmtp.ParseGreeting(g[:]); err != nil {
		t.Fatal(err)
	}
	body, err := readRawFrame(r)
	if err != nil {
		t.Fatalf("reading READY: %v", err)
	}
	cmd, err := zmtp.ParseCommand(body)
	if err != nil || cmd.Name != zmtp.CmdReady {
		t.Fatalf("expected READY, got %q, %v", cmd.Name, err)
	}
	return r
}

func readRawFrame(r *bufio.Reader) ([]byte, error) {
	flags, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	var n uint64
	if flags&0x02 != 0 {
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	} else {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		n = uint64(c)
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// expectClosed checks that the server closes nc within timeout.
func expectClosed(t testing.TB, nc net.Conn, timeout time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, nc)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %v", timeout)
	}
}
