package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// poll reports whether cond held within timeout.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// waitFor fails the test unless cond holds within timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("%s: not within %v", what, timeout)
	}
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type transport struct {
	name     string
	endpoint func(t testing.TB) string
}

var transports = []transport{
	{"tcp", func(testing.TB) string { return "tcp://127.0.0.1:0" }},
	{"ipc", ipcEndpoint},
}

// ipcEndpoint returns a fresh ipc:// endpoint with a short path.
func ipcEndpoint(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return "ipc://" + filepath.Join(dir, "s")
}

func forEachTransport(t *testing.T, f func(t *testing.T, tr transport)) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { f(t, tr) })
	}
}

// peer is a hand-driven ZeroMQ peer: one dialled link whose messages
// arrive on a channel.
type peer struct {
	link *sock.Link
	in   chan [][]byte
}

// dialPeer connects to endpoint as a socket of type typ.
func dialPeer(t testing.TB, endpoint string, typ zmtp.SocketType) *peer {
	t.Helper()
	c, err := sock.Dial(context.Background(), endpoint, zmtp.Config{Type: typ}, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", endpoint, typ, err)
	}
	p := &peer{in: make(chan [][]byte, 10000)}
	p.link = sock.StartLink(c, sock.LinkConfig{OnMessage: func(_ *sock.Link, f [][]byte) {
		select {
		case p.in <- f:
		default:
		}
	}})
	t.Cleanup(func() { p.link.Close() })
	return p
}

func (p *peer) send(t testing.TB, frames ...[]byte) {
	t.Helper()
	if err := p.link.Send(testContext(t, 5*time.Second), frames); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// recv returns the next message within timeout.
func (p *peer) recv(t testing.TB, timeout time.Duration) [][]byte {
	t.Helper()
	select {
	case m := <-p.in:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %v", timeout)
		return nil
	}
}

// quiet fails the test if a message arrives within d.
func (p *peer) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case m := <-p.in:
		t.Fatalf("unexpected message %q", m)
	case <-time.After(d):
	}
}

func frames(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = []byte(x)
	}
	return out
}

func strs(f [][]byte) []string {
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = string(x)
	}
	return out
}

func eq(f [][]byte, s ...string) bool { return fmt.Sprintf("%q", strs(f)) == fmt.Sprintf("%q", s) }

// fastHeartbeat shortens the heartbeats of proxies and workers in
// tests; both sides must use the same values.
var fastHeartbeat = WithHeartbeat(100*time.Millisecond, 5)

func newForwarder(t testing.TB, tr transport, opts ...Option) *Forwarder {
	t.Helper()
	f, err := NewForwarder(tr.endpoint(t), tr.endpoint(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func newQueue(t testing.TB, tr transport, opts ...Option) *Queue {
	t.Helper()
	q, err := NewQueue(tr.endpoint(t), tr.endpoint(t), append([]Option{fastHeartbeat}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func newBroker(t testing.TB, tr transport, opts ...Option) *Broker {
	t.Helper()
	b, err := NewBroker(tr.endpoint(t), tr.endpoint(t), append([]Option{fastHeartbeat}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newWorker(t testing.TB, endpoint string, h Handler, opts ...Option) *Worker {
	t.Helper()
	w, err := NewWorker(endpoint, h, append([]Option{fastHeartbeat}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func newServiceWorker(t testing.TB, endpoint, service string, h Handler, opts ...Option) *Worker {
	t.Helper()
	w, err := NewServiceWorker(endpoint, service, h, append([]Option{fastHeartbeat}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func newQueueClient(t testing.TB, endpoint string) *QueueClient {
	t.Helper()
	c, err := NewQueueClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newBrokerClient(t testing.TB, endpoint string) *BrokerClient {
	t.Helper()
	c, err := NewBrokerClient(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo answers "name:" + the first body frame.
func echo(name string) HandlerFunc {
	return func(_ context.Context, body [][]byte) ([][]byte, error) {
		return [][]byte{[]byte(name + ":" + string(body[0]))}, nil
	}
}

// recorder is a handler that records which worker served what.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) handler(name string) HandlerFunc {
	return func(ctx context.Context, body [][]byte) ([][]byte, error) {
		r.mu.Lock()
		r.log = append(r.log, name)
		r.mu.Unlock()
		return echo(name)(ctx, body)
	}
}

func (r *recorder) served() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// readLines sends each line of r to lines, then closes it.
func readLines(r io.Reader, lines chan<- string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines <- sc.Text()
	}
	close(lines)
}
