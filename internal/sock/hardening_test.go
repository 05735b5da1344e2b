package sock

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// junkConns opens idle connections (that send nothing) and
// half-greeting connections (10 bytes of signature, then nothing).
func junkConns(t *testing.T, endpoint string, idle, half int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range idle {
		cs = append(cs, rawDial(t, endpoint))
	}
	for range half {
		nc := rawDial(t, endpoint)
		if _, err := nc.Write(zmtptest.NullGreeting()[:10]); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, nc)
	}
	return cs
}

// timedDial dials and handshakes a DEALER, returning how long it took.
func timedDial(t *testing.T, endpoint string) (*zmtp.Conn, time.Duration) {
	t.Helper()
	start := time.Now()
	c, err := Dial(testContext(t, 10*time.Second), endpoint, zmtp.Config{Type: zmtp.Dealer}, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Cleanup(func() { c.Close() })
	return c, d
}

func TestListenerSilentPeersDoNotBlockAccept(t *testing.T) {
	// A long handshake timeout: the junk stays pending throughout.
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{Listen: ListenConfig{HandshakeTimeout: time.Minute}})
	junk := junkConns(t, r.Endpoint(), 100, 20)

	c, d := timedDial(t, r.Endpoint())
	if d > time.Second {
		t.Fatalf("handshake behind 120 silent peers took %v", d)
	}
	// And it is served.
	if err := c.WriteMessage([][]byte{[]byte("ping")}); err != nil {
		t.Fatal(err)
	}
	c.Flush()
	m, err := c.ReadMessage()
	if err != nil || string(m[0]) != "ping" {
		t.Fatalf("echo: %q, %v", m, err)
	}
	if st := r.Listener().Stats(); st.HandshakeFailed != 0 || st.Accepted != 1 {
		t.Fatalf("stats %+v while the junk is pending", st)
	}
	// Close aborts the pending handshakes.
	r.Close()
	for _, nc := range junk {
		expectClosed(t, nc, 10*time.Second)
	}
	if st := r.Listener().Stats(); st.HandshakeFailed != 120 {
		t.Fatalf("after Close: stats %+v, want 120 failed handshakes", st)
	}
}

func TestListenerHandshakeTimeout(t *testing.T) {
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{Listen: ListenConfig{HandshakeTimeout: 300 * time.Millisecond}})
	start := time.Now()
	junk := junkConns(t, r.Endpoint(), 100, 20)

	_, d := timedDial(t, r.Endpoint())
	if d > time.Second {
		t.Fatalf("handshake behind 120 silent peers took %v", d)
	}
	for _, nc := range junk {
		expectClosed(t, nc, 10*time.Second)
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Fatalf("idle connections closed only after %v", el)
	}
	waitFor(t, 10*time.Second, func() bool { return r.Listener().Stats().HandshakeFailed == 120 })
	if st := r.Listener().Stats(); st.Accepted != 1 || st.Overflow != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestListenerMaxHandshakes(t *testing.T) {
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{Listen: ListenConfig{HandshakeTimeout: time.Minute, MaxHandshakes: 5}})
	junk := junkConns(t, r.Endpoint(), 8, 0)
	// Three over the limit are closed at once.
	waitFor(t, 10*time.Second, func() bool { return r.Listener().Stats().Overflow == 3 })
	closed := 0
	for _, nc := range junk {
		nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [1]byte
		if _, err := nc.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			closed++
		}
	}
	if closed != 3 {
		t.Fatalf("%d connections closed, want 3", closed)
	}
}

// onlyLink waits for the router's single peer link.
func onlyLink(t *testing.T, r *Router) *Link {
	t.Helper()
	var l *Link
	waitFor(t, 10*time.Second, func() bool {
		ls := routerLinks(r)
		if len(ls) == 1 {
			l = ls[0]
		}
		return l != nil
	})
	return l
}

// linkEnd waits for l to stop and returns why.
func linkEnd(t *testing.T, l *Link) error {
	t.Helper()
	select {
	case <-l.Done():
		return l.Err()
	case <-time.After(10 * time.Second):
		t.Fatal("peer link still running")
		return nil
	}
}

// checkServes runs a request/reply through r with a fresh session.
func checkServes(t *testing.T, r *Router) {
	t.Helper()
	got := make(chan string, 1)
	s := startSession(t, SessionConfig{
		Endpoint: r.Endpoint(),
		Link:     LinkConfig{OnMessage: func(_ *Link, f [][]byte) { got <- string(f[0]) }},
	})
	l := sessionLink(t, s)
	if err := l.Send(testContext(t, 10*time.Second), msg("still alive")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "still alive" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("router no longer serves")
	}
	s.Close()
}

func TestRouterHugeFrameHeader(t *testing.T) {
	var msgs atomic.Int64
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{OnMessage: func(p *Link, f [][]byte) {
		msgs.Add(1)
		echo(p, f)
	}})
	nc := rawDial(t, r.Endpoint())
	rawHandshake(t, nc, zmtp.Dealer)
	l := onlyLink(t, r)
	hdr := zmtptest.FrameHeader(0, 1<<50)
	if _, err := nc.Write(append(hdr, "some bytes"...)); err != nil {
		t.Fatal(err)
	}
	if err := linkEnd(t, l); !errors.Is(err, zmtp.ErrTooLarge) {
		t.Fatalf("link ended with %v, want zmtp.ErrTooLarge", err)
	}
	expectClosed(t, nc, 10*time.Second)
	if msgs.Load() != 0 {
		t.Fatalf("OnMessage ran %d times", msgs.Load())
	}
	waitFor(t, 10*time.Second, func() bool { return r.Peers() == 0 })
	checkServes(t, r)
}

func TestRouterMaxMessageSize(t *testing.T) {
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{Listen: ListenConfig{ZMTP: zmtp.Config{MaxMessageSize: 1000}}})
	c, _ := timedDial(t, r.Endpoint())
	l := onlyLink(t, r)
	if err := c.WriteMessage([][]byte{make([]byte, 2000)}); err != nil {
		t.Fatal(err)
	}
	c.Flush()
	if err := linkEnd(t, l); !errors.Is(err, zmtp.ErrTooLarge) {
		t.Fatalf("link ended with %v, want zmtp.ErrTooLarge", err)
	}
	checkServes(t, r)
}

func TestListenerBadReady(t *testing.T) {
	tests := []struct {
		name  string
		bytes []byte
	}{
		{"truncated property", append(zmtptest.NullGreeting(), zmtptest.Command(zmtp.CmdReady,
			[]byte{11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 60, 'D', 'E', 'A', 'L', 'E', 'R'})...)},
		{"property name past end", append(zmtptest.NullGreeting(), zmtptest.Command(zmtp.CmdReady, []byte{200, 'S'})...)},
		{"incompatible type", append(zmtptest.NullGreeting(), zmtptest.Command(zmtp.CmdReady,
			[]byte{11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 3, 'P', 'U', 'B'})...)},
		{"version 2 greeting", func() []byte { g := zmtptest.NullGreeting(); g[10] = 2; return g }()},
		{"PLAIN mechanism", zmtptest.Greeting("PLAIN", 1, false)},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + string(make([]byte, 64)))},
	}
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := rawDial(t, r.Endpoint())
			if _, err := nc.Write(tt.bytes); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, nc, 10*time.Second)
			waitFor(t, 10*time.Second, func() bool { return r.Listener().Stats().HandshakeFailed == uint64(i+1) })
			checkServes(t, r)
		})
	}
	waitFor(t, 10*time.Second, func() bool { return r.Peers() == 0 })
}

func TestDialHandshakeTimeout(t *testing.T) {
	// A server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
		close(accepted)
	}()
	start := time.Now()
	_, err = Dial(context.Background(), "tcp://"+ln.Addr().String(), zmtp.Config{Type: zmtp.Dealer}, 200*time.Millisecond)
	if err == nil {
		t.Fatal("Dial to a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial gave up after %v", d)
	}
	if nc := <-accepted; nc != nil {
		nc.Close()
	}
	// A cancelled context stops Dial too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, "tcp://"+ln.Addr().String(), zmtp.Config{Type: zmtp.Dealer}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context = %v", err)
	}
	if _, err := Dial(context.Background(), "nope://x", zmtp.Config{Type: zmtp.Dealer}, 0); !errors.Is(err, ErrBadEndpoint) {
		t.Fatalf("Dial to a bad endpoint = %v", err)
	}
}

// silentServer accepts one connection, completes the ZMTP handshake as
// a ROUTER and then neither reads nor writes.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conn atomic.Pointer[zmtp.Conn]
	go func() {
		defer close(done)
		nc, err := ln.Accept()
		ln.Close() // later redials are refused
		if err != nil {
			return
		}
		c, err := zmtp.Handshake(nc, zmtp.Config{Type: zmtp.Router}, time.Now().Add(10*time.Second))
		if err == nil {
			conn.Store(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		if c := conn.Load(); c != nil {
			c.Close()
		}
	})
	return "tcp://" + ln.Addr().String()
}

func TestSessionHeartbeatTimeout(t *testing.T) {
	ep := silentServer(t)
	down := make(chan error, 1)
	s := startSession(t, SessionConfig{
		Endpoint: ep,
		Link:     LinkConfig{Heartbeat: 50 * time.Millisecond},
		OnDown: func(_ *Link, err error) {
			select {
			case down <- err:
			default:
			}
		},
	})
	l := sessionLink(t, s)
	up := time.Now()
	select {
	case err := <-down:
		if !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("link ended with %v, want ErrHeartbeatTimeout", err)
		}
		if d := time.Since(up); d > 3*time.Second {
			t.Fatalf("heartbeat timeout noticed after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("link to a silent peer is still up")
	}
	if !errors.Is(l.Err(), ErrHeartbeatTimeout) {
		t.Fatalf("Link.Err = %v", l.Err())
	}
}

func TestHeartbeatKeepsIdleLinkUp(t *testing.T) {
	// Only the session sends PINGs; the router runs no heartbeat of its
	// own and must answer each with a PONG. With no application traffic
	// those PONGs alone keep the link alive well past the timeout.
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{})
	var downs atomic.Int32
	s := startSession(t, SessionConfig{
		Endpoint: r.Endpoint(),
		Link:     LinkConfig{Heartbeat: 20 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond},
		OnDown:   func(*Link, error) { downs.Add(1) },
	})
	l := sessionLink(t, s)
	start := time.Now()
	var late uint64 // the receive count once 900 ms have passed
	waitFor(t, 20*time.Second, func() bool {
		if late == 0 && time.Since(start) > 900*time.Millisecond {
			late = l.Conn().Received()
		}
		return time.Since(start) > time.Second && late != 0 && l.Conn().Received() > late
	})
	if downs.Load() != 0 || l.Err() != nil {
		t.Fatalf("idle link with heartbeats went down: %v", l.Err())
	}
	if s.Current() != l {
		t.Fatal("session replaced its link")
	}
}
