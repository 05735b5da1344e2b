package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Shared helpers of rpc_test.go, topic_test.go, reliability_test.go and
// fuzz_test.go.

// testTransports are the transports every networked test runs over.
var testTransports = []Transport{TCP, IPC}

// tenv is one test's environment: a transport, a private registry and,
// for IPC, a short private runtime directory for the socket files.
type tenv struct {
	t   *testing.T
	tr  Transport
	reg Registry
	dir string // IPC runtime directory; "" for TCP
}

// eachTransport runs f as one subtest per transport, each with its own
// directory registry.
func eachTransport(t *testing.T, f func(t *testing.T, e *tenv)) {
	t.Helper()
	for _, tr := range testTransports {
		t.Run(string(tr), func(t *testing.T) { f(t, newTenv(t, tr)) })
	}
}

// newTenv returns an environment with a fresh directory registry.
func newTenv(t *testing.T, tr Transport) *tenv {
	t.Helper()
	reg, err := NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &tenv{t: t, tr: tr, reg: reg}
	if tr == IPC {
		e.dir = shortTempDir(t)
	}
	return e
}

// shortTempDir returns a new directory with a short path (Unix socket
// paths must stay under 108 bytes; t.TempDir can be longer), removed
// when the test ends.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if len(dir) > 60 {
		t.Fatalf("temp dir %q too long for socket paths", dir)
	}
	return dir
}

// opts returns the options that put a peer in this environment, then extra.
func (e *tenv) opts(extra ...Option) []Option {
	o := []Option{WithRegistry(e.reg), WithTransport(e.tr), WithDiscoveryInterval(25 * time.Millisecond)}
	if e.dir != "" {
		o = append(o, WithRuntimeDir(e.dir))
	}
	return append(o, extra...)
}

// peer starts a peer in the environment, closed when the test ends.
func (e *tenv) peer(name string, extra ...Option) *Peer {
	e.t.Helper()
	p, err := NewPeer(e.ctx(10*time.Second), name, e.opts(extra...)...)
	if err != nil {
		e.t.Fatalf("NewPeer(%q): %v", name, err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

// ctx returns a context that ends after d or when the test ends.
func (e *tenv) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}

// endpoint returns a listen address of the environment's transport.
func (e *tenv) endpoint(name string) string {
	if e.tr == IPC {
		return "ipc://" + e.dir + "/" + name
	}
	return "tcp://127.0.0.1:0"
}

// waitCond polls cond until it holds, failing the test after timeout.
func waitCond(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollFor(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// pollFor polls cond every 2 ms and reports whether it held within timeout.
func pollFor(timeout time.Duration, cond func() bool) bool {
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

// addArgs is the request of the typed "add" service.
type addArgs struct{ A, B int }

// provideAdd provides the typed service "add" on p.
func provideAdd(t *testing.T, p *Peer) {
	t.Helper()
	err := Provide(p, "add", func(_ context.Context, r addArgs) (int, error) { return r.A + r.B, nil })
	if err != nil {
		t.Fatal(err)
	}
}

// provideEcho provides service on p, replying with the request body.
func provideEcho(t *testing.T, p *Peer, service string) {
	t.Helper()
	err := p.HandleFunc(service, func(_ context.Context, r *Request) ([]byte, error) { return r.Body, nil })
	if err != nil {
		t.Fatal(err)
	}
}

// callAdd calls add(a, b) and checks the sum.
func callAdd(t testing.TB, ctx context.Context, p *Peer, a, b int, opts ...CallOption) {
	t.Helper()
	got, err := Call[int](ctx, p, "add", addArgs{a, b}, opts...)
	if err != nil {
		t.Fatalf("add(%d, %d): %v", a, b, err)
	}
	if got != a+b {
		t.Fatalf("add(%d, %d) = %d", a, b, got)
	}
}

// remoteErr asserts that err is a *RemoteError of code and returns it.
func remoteErr(t testing.TB, err error, code Code) *RemoteError {
	t.Helper()
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *RemoteError", err, err)
	}
	if re.Code != code {
		t.Fatalf("code %v, want %v (error %v)", re.Code, code, err)
	}
	return re
}

// serviceCalls returns how many calls p's service has served.
func serviceCalls(p *Peer, service string) uint64 { return p.Stats().Services[service].Calls }

// topicCounters returns p's counters of topic.
func topicCounters(p *Peer, topic string) TopicStats { return p.Stats().Topics[topic] }

// subscribe subscribes p to topic, closed when the test ends.
func (e *tenv) subscribe(p *Peer, topic string, opts ...SubscribeOption) *Subscription {
	e.t.Helper()
	s, err := p.Subscribe(topic, opts...)
	if err != nil {
		e.t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// mustAdvertise advertises topic on p.
func mustAdvertise(t testing.TB, p *Peer, topic string) {
	t.Helper()
	if err := p.Advertise(topic); err != nil {
		t.Fatalf("Advertise(%q): %v", topic, err)
	}
}

// mustPublish publishes data on topic.
func mustPublish(t testing.TB, p *Peer, topic string, data []byte) {
	t.Helper()
	if err := p.Publish(topic, data); err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
}

// waitConnected waits until n publishers confirmed s.
func waitConnected(t testing.TB, ctx context.Context, s *Subscription, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.WaitConnected(ctx, n); err != nil {
		t.Fatalf("WaitConnected(%d): %v", n, err)
	}
}

// nextMsg returns the next message of s, failing after 10 s.
func nextMsg(t testing.TB, s *Subscription) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next on %q: %v", s.Topic(), err)
	}
	return m
}

// --- Raw ZMTP, for tests that play a misbehaving or foreign peer ---

// netAddr splits a tcp:// or ipc:// endpoint for net.Dial.
func netAddr(t testing.TB, endpoint string) (network, addr string) {
	t.Helper()
	ep, err := sock.ParseEndpoint(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return ep.Network, ep.Address
}

// dialPlain opens a plain connection to endpoint, closed when the test ends.
func dialPlain(t testing.TB, endpoint string) net.Conn {
	t.Helper()
	network, addr := netAddr(t, endpoint)
	nc, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// dialZMTP connects to endpoint as a ZMTP socket of type typ.
func dialZMTP(t testing.TB, endpoint string, typ zmtp.SocketType) *zmtp.Conn {
	t.Helper()
	c, err := sock.Dial(context.Background(), endpoint, zmtp.Config{Type: typ}, 5*time.Second)
	if err != nil {
		t.Fatalf("dialling %s as %s: %v", endpoint, typ, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectHangup reads from nc until the other side closes it, failing
// if that takes longer than timeout.
func expectHangup(t testing.TB, nc net.Conn, timeout time.Duration) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", timeout)
	}
}

// silentServer accepts ZMTP connections as socketType, completes the
// handshake and then never reads or writes again: a node whose process
// hangs without closing its sockets.
type silentServer struct {
	ln       net.Listener
	endpoint string
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []*zmtp.Conn
}

func startSilentServer(t *testing.T, e *tenv) *silentServer {
	t.Helper()
	network, addr := "tcp", "127.0.0.1:0"
	if e.tr == IPC {
		network, addr = "unix", e.dir+"/silent"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{ln: ln, endpoint: "tcp://" + ln.Addr().String()}
	if network == "unix" {
		s.endpoint = "ipc://" + addr
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *silentServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c, err := zmtp.Handshake(nc, zmtp.Config{Type: zmtp.Router}, time.Now().Add(5*time.Second))
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

func (s *silentServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *silentServer) close() {
	s.ln.Close()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// --- Frame lists as fuzz input ---

// joinFrames encodes frames as a fuzz input: each frame is a uvarint
// length followed by its bytes.
func joinFrames(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// splitFrames decodes joinFrames' format; a length running past the
// end takes what is left, so every input decodes.
func splitFrames(b []byte) [][]byte {
	var frames [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return append(frames, b)
		}
		b = b[k:]
		n = min(n, uint64(len(b)))
		frames = append(frames, b[:n])
		b = b[n:]
	}
	return frames
}

// sameFrames reports whether two frame lists are equal.
func sameFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// describeFrames formats frames for failure messages.
func describeFrames(frames [][]byte) string {
	parts := make([]string, len(frames))
	for i, f := range frames {
		parts[i] = fmt.Sprintf("%q", f)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
