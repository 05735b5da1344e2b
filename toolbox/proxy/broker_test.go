package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

func call(t *testing.T, c *BrokerClient, service, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	reply, err := c.Request(ctx, service, []byte(body))
	if err != nil {
		t.Fatalf("request %s %q: %v", service, body, err)
	}
	return strings.Join(strs(reply), "|")
}

func available(t *testing.T, c *BrokerClient, service string) bool {
	t.Helper()
	ok, err := c.Available(testContext(t, wait), service)
	if err != nil {
		t.Fatalf("Available(%s): %v", service, err)
	}
	return ok
}

func TestBrokerRoutesByService(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		b := newBroker(t, tr)
		newServiceWorker(t, b.BackendEndpoint(), "echo", echo("echo"))
		newServiceWorker(t, b.FrontendEndpoint(), "upper", HandlerFunc(func(_ context.Context, body [][]byte) ([][]byte, error) {
			return [][]byte{[]byte(strings.ToUpper(string(body[0])))}, nil
		}))
		c := newBrokerClient(t, b.FrontendEndpoint())
		waitUntil(t, wait, "services up", func() bool { return b.Stats().Idle == 2 })
		for i := range 5 {
			if got := call(t, c, "echo", fmt.Sprint("m", i)); got != fmt.Sprint("echo:m", i) {
				t.Fatalf("echo replied %q", got)
			}
			if got := call(t, c, "upper", "abc"); got != "ABC" {
				t.Fatalf("upper replied %q", got)
			}
		}
		if !available(t, c, "echo") || available(t, c, "nosuch") {
			t.Fatal("mmi.service answers wrong")
		}
		if got := call(t, c, "mmi.frobnicate", "x"); got != "501" {
			t.Fatalf("unknown mmi service answered %q", got)
		}
		st := b.Stats()
		if st.Kind != "broker" || len(st.Services) != 2 || st.Services[0].Name != "echo" || st.Services[0].Workers != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestBrokerQueuesUntilAWorkerComes(t *testing.T) {
	b := newBroker(t, transports[0], WithPendingLimit(2), WithFailureReply([]byte("overloaded")))
	raw := dialPeer(t, b.FrontendEndpoint(), zmtp.Dealer)
	for i := range 3 {
		raw.send(t, mdpClientFrames("late", frames(fmt.Sprint(i)))...)
	}
	if m := raw.recv(t, wait); !eq(m, "", "MDPC01", "late", "overloaded") {
		t.Fatalf("third request answered %q, want the failure reply", m)
	}
	if st := b.Stats(); st.Queued != 2 || st.Refused != 1 || len(st.Services) != 1 || st.Services[0].Queued != 2 {
		t.Fatalf("stats %+v", st)
	}
	c := newBrokerClient(t, b.FrontendEndpoint())
	if available(t, c, "late") {
		t.Fatal("service with no worker reported available")
	}
	newServiceWorker(t, b.BackendEndpoint(), "late", echo("w"))
	for i := range 2 {
		if m := raw.recv(t, wait); !eq(m, "", "MDPC01", "late", fmt.Sprint("w:", i)) {
			t.Fatalf("queued request answered %q", m)
		}
	}
	if !available(t, c, "late") {
		t.Fatal("service with a worker reported unavailable")
	}
}

func TestBrokerRetriesRequestOfDeadWorker(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		b := newBroker(t, tr)
		started := make(chan string, 1)
		dying := newServiceWorker(t, b.BackendEndpoint(), "svc", blocking(started, "dying"))
		waitUntil(t, wait, "worker ready", func() bool { return b.Stats().Idle == 1 })
		c := newBrokerClient(t, b.FrontendEndpoint())
		reply := make(chan string, 1)
		go func() {
			r, err := c.Request(context.Background(), "svc", []byte("job"))
			if err != nil {
				reply <- err.Error()
				return
			}
			reply <- strs(r)[0]
		}()
		<-started
		newServiceWorker(t, b.BackendEndpoint(), "svc", echo("survivor"))
		waitUntil(t, wait, "second worker", func() bool { return b.Stats().Idle == 1 })
		dying.Close() // says DISCONNECT with the request in flight
		select {
		case r := <-reply:
			if r != "survivor:job" {
				t.Fatalf("reply %q", r)
			}
		case <-time.After(wait):
			t.Fatal("request not retried")
		}
		// A loaded machine may expire a worker spuriously: it comes
		// back, but retries and losses then count more than one.
		if st := b.Stats(); st.Retried < 1 || st.Lost < 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestBrokerExpiresSilentWorker(t *testing.T) {
	b := newBroker(t, transports[0])
	w := dialPeer(t, b.BackendEndpoint(), zmtp.Dealer)
	w.send(t, mdpWorkerFrames(mdpReady, []byte("svc"))...)
	start := time.Now()
	waitUntil(t, wait, "registered", func() bool { return b.Stats().Workers == 1 })
	// It hears heartbeats, never answers: dropped within
	// interval × (liveness + 1) = 600 ms; allow for a loaded machine.
	select {
	case <-w.link.Done():
	case <-time.After(wait):
		t.Fatal("silent worker not dropped")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent worker dropped after %v", d)
	}
	var heartbeats int
	for len(w.in) > 0 {
		if m := <-w.in; eq(m, "", "MDPW01", "\x04") {
			heartbeats++
		}
	}
	if heartbeats == 0 {
		t.Error("the silent worker never got a heartbeat")
	}
	waitUntil(t, wait, "unregistered", func() bool { st := b.Stats(); return st.Workers == 0 && st.Lost == 1 })
}

func TestBrokerRestartWorkersReconnect(t *testing.T) {
	front, back := freeEndpoint(t), freeEndpoint(t)
	b1, err := NewBroker(front, back, fastHeartbeat)
	if err != nil {
		t.Fatal(err)
	}
	newServiceWorker(t, back, "svc", echo("w"), WithReconnect(10*time.Millisecond, 100*time.Millisecond))
	c := newBrokerClient(t, front)
	call(t, c, "svc", "before")
	if err := b1.Shutdown(testContext(t, wait)); err != nil { // workers get DISCONNECT
		t.Fatal(err)
	}
	b2, err := NewBroker(front, back, fastHeartbeat)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	// The client's first attempt may go out on the connection to the
	// old broker: a client retries on ErrConnectionLost.
	ctx := testContext(t, wait)
	for {
		reply, err := c.Request(ctx, "svc", []byte("after"))
		if errors.Is(err, ErrConnectionLost) {
			continue
		}
		if err != nil || !eq(reply, "w:after") {
			t.Fatalf("reply %q, %v", reply, err)
		}
		break
	}
}

func TestBrokerSurvivesMalformedInput(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		b := newBroker(t, tr)
		newServiceWorker(t, b.BackendEndpoint(), "svc", echo("w"))
		waitUntil(t, wait, "worker ready", func() bool { return b.Stats().Idle == 1 })
		raw := dialPeer(t, b.FrontendEndpoint(), zmtp.Dealer)
		bad := [][][]byte{
			frames("MDPC01", "svc", "x"), // no empty frame
			frames("", "MDPX01", "svc"),  // unknown protocol
			frames("", "MDPC01", ""),     // empty service
			frames("", "MDPC01", strings.Repeat("s", 256)),
			frames("", "MDPW01", "\x09"),                      // unknown command
			frames("", "MDPW01", "\x01"),                      // READY without service
			frames("", "MDPW01", "\x01", "mmi.x"),             // reserved service
			frames("", "MDPW01", "\x03", "12345678", "", "r"), // reply from a non-worker
			frames("", "MDPW01", "\x04"),                      // heartbeat from a non-worker
			frames("", "MDPW01", "\x04", "extra"),
			frames(""),
		}
		for _, m := range bad {
			raw.send(t, m...)
		}
		waitUntil(t, wait, "malformed counted", func() bool {
			st := b.Stats()
			return st.Frontend.Malformed+st.Backend.Malformed == uint64(len(bad))
		})
		ep, _ := sock.ParseEndpoint(b.BackendEndpoint())
		rawSend(t, ep, []byte(strings.Repeat("\xff", 100)))
		vanishMidMessage(t, b.FrontendEndpoint(), "REQ", []byte{0x01, 0})
		c := newBrokerClient(t, b.FrontendEndpoint())
		if got := call(t, c, "svc", "ok"); got != "w:ok" {
			t.Fatalf("reply %q", got)
		}
	})
}

func TestBrokerWorkerProcessKilled(t *testing.T) {
	b := newBroker(t, transports[0])
	cmd, lines := startHelperWorker(t, "broker-worker", b.BackendEndpoint(), "victim")
	expectLine(t, lines, "started")
	waitUntil(t, wait, "victim ready", func() bool { return b.Stats().Idle == 1 })
	c := newBrokerClient(t, b.FrontendEndpoint())
	reply := make(chan string, 1)
	go func() {
		r, err := c.Request(context.Background(), "work", []byte("sleep"))
		if err != nil {
			reply <- err.Error()
			return
		}
		reply <- strs(r)[0]
	}()
	expectLine(t, lines, "busy")
	_, sl := startHelperWorker(t, "broker-worker", b.BackendEndpoint(), "survivor")
	expectLine(t, sl, "started")
	waitUntil(t, wait, "survivor ready", func() bool { return b.Stats().Idle == 1 })
	cmd.Process.Kill()
	select {
	case r := <-reply:
		if r != "survivor:sleep" {
			t.Fatalf("reply %q", r)
		}
	case <-time.After(wait):
		t.Fatal("not retried")
	}
}

func TestOptionsApplyOnlyWhereTheyMean(t *testing.T) {
	tests := []struct {
		name string
		make func() error
	}{
		{"cache on a queue", func() error {
			q, err := NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", WithLastValueCache(3))
			if err == nil {
				q.Close()
			}
			return err
		}},
		{"retries on a forwarder", func() error {
			f, err := NewForwarder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", WithMaxRetries(1))
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"negative retries", func() error { _, err := NewBroker("tcp://127.0.0.1:0", "", WithMaxRetries(-1)); return err }},
		{"zero heartbeat", func() error { _, err := NewWorker("tcp://127.0.0.1:1", echo("x"), WithHeartbeat(0, 3)); return err }},
		{"tap on a worker", func() error {
			_, err := NewWorker("tcp://127.0.0.1:1", echo("x"), WithTap("tcp://127.0.0.1:0"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.make(); !errors.Is(err, ErrBadOption) {
				t.Fatalf("err = %v, want ErrBadOption", err)
			}
		})
	}
	if _, err := NewServiceWorker("tcp://127.0.0.1:1", "mmi.service", echo("x")); !errors.Is(err, ErrBadService) {
		t.Fatalf("reserved service: %v", err)
	}
	if _, err := NewWorker("udp://x", echo("x")); !errors.Is(err, sock.ErrBadEndpoint) {
		t.Fatalf("bad endpoint: %v", err)
	}
	if _, err := NewQueue("tcp://127.0.0.1:0", "bogus"); !errors.Is(err, sock.ErrBadEndpoint) {
		t.Fatalf("bad backend: %v", err)
	}
}

func TestClosedObjects(t *testing.T) {
	q := newQueue(t, transports[0])
	c := newQueueClient(t, q.FrontendEndpoint())
	c.Close()
	c.Close()
	if _, err := c.Request(context.Background(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after Close: %v", err)
	}
	q.Close()
	q.Close()
	f := newForwarder(t, transports[0])
	f.Close()
	if err := f.Shutdown(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Shutdown after Close: %v", err)
	}
	// A request that times out resets the connection; the next one
	// works.
	q2 := newQueue(t, transports[0])
	c2 := newQueueClient(t, q2.FrontendEndpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c2.Request(ctx, []byte("nobody serves")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("request without workers: %v", err)
	}
	newWorker(t, q2.BackendEndpoint(), echo("w"))
	if got := doRequest(t, c2, "now"); got != "w:now" {
		t.Fatalf("reply %q", got)
	}
}
