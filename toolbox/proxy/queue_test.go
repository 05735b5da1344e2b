package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

func doRequest(t *testing.T, c *QueueClient, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	reply, err := c.Request(ctx, []byte(body))
	if err != nil {
		t.Fatalf("request %q: %v", body, err)
	}
	return strings.Join(strs(reply), "|")
}

func TestQueueRoundTrip(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		q := newQueue(t, tr)
		newWorker(t, q.BackendEndpoint(), echo("w"))
		c := newQueueClient(t, q.FrontendEndpoint())
		for i := range 20 {
			if got, want := doRequest(t, c, fmt.Sprint(i)), fmt.Sprint("w:", i); got != want {
				t.Fatalf("reply %q, want %q", got, want)
			}
		}
		// A REQ-style envelope with routing frames before the delimiter
		// comes back intact; the body may have several frames.
		raw := dialPeer(t, q.FrontendEndpoint(), zmtp.Dealer)
		raw.send(t, []byte("hop1"), []byte("hop2"), []byte{}, []byte("x"), []byte("more"))
		if m := raw.recv(t, wait); !eq(m, "hop1", "hop2", "", "w:x") {
			t.Fatalf("reply with envelope %q", m)
		}
		// A reply may reach the client before its write is counted.
		ok := func(st Stats) bool {
			return st.Kind == "queue" && st.Workers == 1 && st.Idle == 1 && st.InFlight == 0 &&
				st.Frontend.MsgsIn == 21 && st.Frontend.MsgsOut == 21 && st.Frontend.Peers == 2 && st.Backend.Peers == 1
		}
		if !poll(wait, func() bool { return ok(q.Stats()) }) {
			t.Fatalf("stats %+v", q.Stats())
		}
	})
}

func TestQueueLeastRecentlyUsed(t *testing.T) {
	q := newQueue(t, transports[0])
	var rec recorder
	for i := range 3 {
		name := fmt.Sprint("w", i)
		newWorker(t, q.BackendEndpoint(), rec.handler(name))
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == i+1 })
	}
	c := newQueueClient(t, q.FrontendEndpoint())
	for i := range 9 {
		doRequest(t, c, fmt.Sprint(i))
	}
	if got := strings.Join(rec.served(), ","); got != "w0,w1,w2,w0,w1,w2,w0,w1,w2" {
		t.Fatalf("served in order %s, want round robin in order of readiness", got)
	}
}

// blocking is a handler that signals when a request arrives and holds
// it until ctx ends.
func blocking(started chan<- string, name string) HandlerFunc {
	return func(ctx context.Context, body [][]byte) ([][]byte, error) {
		started <- name
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

func TestQueueRetriesRequestOfDeadWorker(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		q := newQueue(t, tr)
		started := make(chan string, 1)
		dying := newWorker(t, q.BackendEndpoint(), blocking(started, "dying"))
		waitUntil(t, wait, "first worker ready", func() bool { return q.Stats().Idle == 1 })
		c := newQueueClient(t, q.FrontendEndpoint())
		reply := make(chan string, 1)
		go func() {
			r, err := c.Request(context.Background(), []byte("job"))
			if err != nil {
				reply <- err.Error()
				return
			}
			reply <- strs(r)[0]
		}()
		<-started
		newWorker(t, q.BackendEndpoint(), echo("survivor"))
		waitUntil(t, wait, "second worker ready", func() bool { return q.Stats().Idle == 1 })
		dying.Close() // its connection ends with the request in flight
		select {
		case r := <-reply:
			if r != "survivor:job" {
				t.Fatalf("reply %q", r)
			}
		case <-time.After(wait):
			t.Fatal("request not retried")
		}
		st := q.Stats()
		if st.Retried < 1 || st.Lost < 1 || st.Failed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestQueueDetectsHungWorker(t *testing.T) {
	q := newQueue(t, transports[0]) // heartbeat 50 ms, liveness 3
	// A worker that says READY and then never speaks again, but keeps
	// its connection open.
	hung := dialPeer(t, q.BackendEndpoint(), zmtp.Dealer)
	hung.send(t, []byte{ppReady})
	waitUntil(t, wait, "hung worker ready", func() bool { return q.Stats().Idle == 1 })
	c := newQueueClient(t, q.FrontendEndpoint())
	reply := make(chan string, 1)
	go func() {
		r, err := c.Request(context.Background(), []byte("job"))
		if err == nil {
			reply <- strs(r)[0]
		}
	}()
	m := hung.recv(t, wait) // the request, then heartbeats
	if len(m) != 3 || len(m[1]) != 0 || string(m[2]) != "job" {
		t.Fatalf("worker got %q", m)
	}
	start := time.Now()
	newWorker(t, q.BackendEndpoint(), echo("good"))
	select {
	case r := <-reply:
		if r != "good:job" {
			t.Fatalf("reply %q", r)
		}
	case <-time.After(wait):
		t.Fatal("request of the hung worker never retried")
	}
	// Detection takes at most interval × (liveness + 1) = 600 ms; allow
	// for a loaded machine.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("hung worker found after %v", d)
	}
	select {
	case <-hung.link.Done():
	case <-time.After(wait):
		t.Fatal("the hung worker's connection was not closed")
	}
}

func TestQueueGivesUpAfterMaxRetries(t *testing.T) {
	q := newQueue(t, transports[0], WithMaxRetries(1), WithFailureReply([]byte("failed")))
	c := newQueueClient(t, q.FrontendEndpoint())
	reply := make(chan string, 1)
	go func() {
		r, err := c.Request(context.Background(), []byte("poison"))
		if err == nil {
			reply <- strs(r)[0]
		}
	}()
	// Each worker that takes the request dies with it.
	for i := range 2 {
		w := dialPeer(t, q.BackendEndpoint(), zmtp.Dealer)
		w.send(t, []byte{ppReady})
		if m := w.recv(t, wait); string(m[len(m)-1]) != "poison" {
			t.Fatalf("worker %d got %q", i, m)
		}
		w.link.Close()
	}
	select {
	case r := <-reply:
		if r != "failed" {
			t.Fatalf("reply %q", r)
		}
	case <-time.After(wait):
		t.Fatal("no failure reply")
	}
	if st := q.Stats(); st.Retried != 1 || st.Failed != 1 || st.Queued != 0 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestQueueHandlerErrorGivesRequestBack(t *testing.T) {
	q := newQueue(t, transports[0])
	var calls atomic.Int32
	flaky := HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("not now")
		}
		if calls.Load() == 2 {
			panic("handler bug")
		}
		return echo("w")(ctx, body)
	})
	w := newWorker(t, q.BackendEndpoint(), flaky)
	c := newQueueClient(t, q.FrontendEndpoint())
	if got := doRequest(t, c, "x"); got != "w:x" {
		t.Fatalf("reply %q", got)
	}
	// The worker counts the reply once queued: the client may see it first.
	waitUntil(t, wait, "worker counted", func() bool { return w.Stats().Served == 1 })
	if st := w.Stats(); st.Failed != 2 || !st.Connected {
		t.Fatalf("worker stats %+v", st)
	}
	if st := q.Stats(); st.Retried < 2 {
		t.Fatalf("queue stats %+v", st)
	}
}

// freeEndpoint returns a tcp endpoint on a port that was free a moment ago.
func freeEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

func TestQueueRestartWorkersReconnect(t *testing.T) {
	for _, tr := range []transport{{"tcp", func(t testing.TB) string { return freeEndpoint(t.(*testing.T)) }}, {"ipc", ipcEndpoint}} {
		t.Run(tr.name, func(t *testing.T) {
			// A port found free may be taken by another test process
			// before the queue binds it: pick others then.
			var (
				front, back string
				q1          *Queue
				err         error
			)
			for range 5 {
				front, back = tr.endpoint(t), tr.endpoint(t)
				if q1, err = NewQueue(front, back, fastHeartbeat); !errors.Is(err, syscall.EADDRINUSE) {
					break
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			w := newWorker(t, back, echo("w"), WithReconnect(10*time.Millisecond, 100*time.Millisecond))
			c := newQueueClient(t, front)
			doRequest(t, c, "before")
			q1.Close()
			q2, err := NewQueue(front, back, fastHeartbeat)
			if err != nil {
				t.Fatal(err)
			}
			defer q2.Close()
			waitUntil(t, wait, "worker back", func() bool { return q2.Stats().Idle == 1 })
			ctx := testContext(t, wait)
			for {
				reply, err := c.Request(ctx, []byte("after"))
				if errors.Is(err, ErrConnectionLost) {
					continue // sent on the connection to the old queue
				}
				if err != nil || !eq(reply, "w:after") {
					t.Fatalf("reply %q, %v", reply, err)
				}
				break
			}
			if st := w.Stats(); st.Connects < 2 {
				t.Fatalf("worker stats %+v", st)
			}
		})
	}
}

func TestQueueWorkerReconnectsWhenQueueGoesSilent(t *testing.T) {
	// A "queue" that accepts the worker and never answers: the worker
	// must give up on it after liveness intervals and reconnect.
	r, err := sock.ListenRouter("tcp://127.0.0.1:0", sock.RouterConfig{OnMessage: func(*sock.Link, [][]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := newWorker(t, r.Endpoint(), echo("w"))
	waitUntil(t, wait, "worker reconnected", func() bool { return w.Stats().Connects >= 2 })
}

func TestQueueSurvivesMalformedInput(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		q := newQueue(t, tr)
		w := newWorker(t, q.BackendEndpoint(), echo("w"))
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })

		client := dialPeer(t, q.FrontendEndpoint(), zmtp.Dealer)
		for _, m := range [][][]byte{
			frames("no delimiter"),
			frames(""), // delimiter, no body
			{[]byte{}}, // one empty frame
			frames(strings.Split(strings.Repeat("x,", 40)+",b", ",")...), // envelope too deep
		} {
			client.send(t, m...)
		}
		bad := dialPeer(t, q.BackendEndpoint(), zmtp.Dealer)
		for _, m := range [][][]byte{
			{{ppHeartbeat}},                // heartbeat before READY
			frames("\x07"),                 // unknown command
			frames("12345678", "", "late"), // reply to nothing
			frames("short", "", "x"),       // bad address
			{{ppReady, ppReady}},
		} {
			bad.send(t, m...)
		}
		waitUntil(t, wait, "malformed counted", func() bool {
			st := q.Stats()
			return st.Frontend.Malformed == 4 && st.Backend.Malformed == 5
		})
		ep, _ := sock.ParseEndpoint(q.FrontendEndpoint())
		rawSend(t, ep, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"+strings.Repeat("z", 80)))
		vanishMidMessage(t, q.FrontendEndpoint(), "DEALER", frames("")[0][:0])
		vanishMidMessage(t, q.BackendEndpoint(), "DEALER", []byte{0x01, 5, 'a'})

		c := newQueueClient(t, q.FrontendEndpoint())
		if got := doRequest(t, c, "still"); got != "w:still" {
			t.Fatalf("reply %q", got)
		}
		if st := w.Stats(); st.Malformed != 0 {
			t.Fatalf("worker stats %+v", st)
		}
	})
}

func TestQueuePendingLimitAndPause(t *testing.T) {
	q := newQueue(t, transports[0], WithPendingLimit(2), WithFailureReply([]byte("busy")))
	q.Pause()
	newWorker(t, q.BackendEndpoint(), echo("w"))
	waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
	client := dialPeer(t, q.FrontendEndpoint(), zmtp.Dealer)
	for i := range 3 {
		client.send(t, []byte{}, []byte(fmt.Sprint(i)))
	}
	if m := client.recv(t, wait); !eq(m, "", "busy") {
		t.Fatalf("third request answered %q, want the failure reply", m)
	}
	client.quiet(t, 100*time.Millisecond) // paused: nothing dispatched
	if st := q.Stats(); !st.Paused || st.Queued != 2 || st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
	q.Resume()
	for i := range 2 {
		if m := client.recv(t, wait); !eq(m, "", fmt.Sprint("w:", i)) {
			t.Fatalf("after resume got %q", m)
		}
	}
}

func TestQueueShutdownDrains(t *testing.T) {
	q := newQueue(t, transports[0])
	release := make(chan struct{})
	newWorker(t, q.BackendEndpoint(), HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
		<-release
		return body, nil
	}))
	waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
	client := dialPeer(t, q.FrontendEndpoint(), zmtp.Dealer)
	for i := range 3 {
		client.send(t, []byte{}, []byte(fmt.Sprint(i)))
	}
	waitUntil(t, wait, "requests queued", func() bool { st := q.Stats(); return st.InFlight == 1 && st.Queued == 2 })
	done := make(chan error, 1)
	go func() { done <- q.Shutdown(testContext(t, wait)) }()
	waitUntil(t, wait, "draining", func() bool { return q.Stats().Draining })
	client.send(t, []byte{}, []byte("late")) // refused while draining
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i := range 3 {
		if m := client.recv(t, wait); !eq(m, "", fmt.Sprint(i)) {
			t.Fatalf("drained reply %q", m)
		}
	}
	client.quiet(t, 50*time.Millisecond)
	if st := q.Stats(); st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Shutdown on a timeout cuts the drain.
	q2 := newQueue(t, transports[0])
	c2 := dialPeer(t, q2.FrontendEndpoint(), zmtp.Dealer)
	c2.send(t, []byte{}, []byte("never served"))
	waitUntil(t, wait, "queued", func() bool { return q2.Stats().Queued == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := q2.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
}

func TestQueueForgetsRequestsOfVanishedClient(t *testing.T) {
	q := newQueue(t, transports[0])
	client := dialPeer(t, q.FrontendEndpoint(), zmtp.Dealer)
	for i := range 5 {
		client.send(t, []byte{}, []byte(fmt.Sprint(i)))
	}
	waitUntil(t, wait, "queued", func() bool { return q.Stats().Queued == 5 })
	client.link.Close()
	waitUntil(t, wait, "forgotten", func() bool { return q.Stats().Queued == 0 })
	var rec recorder
	newWorker(t, q.BackendEndpoint(), rec.handler("w"))
	c := newQueueClient(t, q.FrontendEndpoint())
	doRequest(t, c, "x")
	if got := rec.served(); len(got) != 1 {
		t.Fatalf("worker served %d requests, want only the live client's", len(got))
	}
}

func TestQueueWorkerProcessKilled(t *testing.T) {
	q := newQueue(t, transports[0])
	cmd, lines := startHelperWorker(t, "queue-worker", q.BackendEndpoint(), "victim")
	expectLine(t, lines, "started")
	waitUntil(t, wait, "process worker ready", func() bool { return q.Stats().Idle == 1 })
	c := newQueueClient(t, q.FrontendEndpoint())
	reply := make(chan string, 1)
	go func() {
		r, err := c.Request(context.Background(), []byte("sleep"))
		if err != nil {
			reply <- err.Error()
			return
		}
		reply <- strings.Join(strs(r), "|")
	}()
	expectLine(t, lines, "busy")
	_, survivorLines := startHelperWorker(t, "queue-worker", q.BackendEndpoint(), "survivor")
	expectLine(t, survivorLines, "started")
	waitUntil(t, wait, "survivor ready", func() bool { return q.Stats().Idle == 1 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reply:
		if r != "survivor:sleep" {
			t.Fatalf("reply %q", r)
		}
	case <-time.After(wait):
		t.Fatal("the killed worker's request was not retried")
	}
	if st := q.Stats(); st.Lost < 1 || st.Retried < 1 {
		t.Fatalf("stats %+v", st)
	}
}
