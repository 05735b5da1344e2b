package sock

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// idleRecorder is a link owner that logs messages and OnIdle calls in
// the order they happen, as "m:<first frame>" and "idle".
type idleRecorder struct {
	mu     sync.Mutex
	events []string
	slices map[*[]byte]int // &frames[0] of each message: which slices were reused
	links  chan *Link
}

func (r *idleRecorder) onMessage(_ *Link, frames [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "m:"+string(frames[0]))
	r.slices[&frames[0]]++
}

func (r *idleRecorder) onIdle(*Link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "idle")
}

func (r *idleRecorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// startIdleLink listens on endpoint and runs each accepted connection
// as a Link reporting to a new recorder.
func startIdleLink(t *testing.T, endpoint string, reuse bool) (*Listener, *idleRecorder) {
	t.Helper()
	r := &idleRecorder{slices: map[*[]byte]int{}, links: make(chan *Link, 1)}
	ln, err := Listen(endpoint, ListenConfig{
		ZMTP: zmtp.Config{Type: zmtp.Sub},
		OnConn: func(c *zmtp.Conn) {
			r.links <- StartLink(c, LinkConfig{OnMessage: r.onMessage, OnIdle: r.onIdle, ReuseFrames: reuse})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ln.Close()
		select {
		case l := <-r.links:
			l.Close()
		default:
		}
	})
	return ln, r
}

// TestLinkOnIdleNotHeldByPartialMessage: a peer that sends a whole
// message and the start of another, then pauses, gets OnIdle after the
// first: a reader that batches deliveries does not sit on a message
// while the next one trickles in. OnIdle also runs when the peer
// hangs up.
func TestLinkOnIdleNotHeldByPartialMessage(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		ln, rec := startIdleLink(t, tr.endpoint(t), false)
		nc := rawDial(t, ln.Endpoint())
		rawHandshake(t, nc, zmtp.Pub)
		second := zmtptest.Message([]byte("second"), bytes.Repeat([]byte{'x'}, 200))
		cut := len(second) - 50
		if _, err := nc.Write(append(zmtptest.Message([]byte("first")), second[:cut]...)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return len(rec.snapshot()) >= 2 })
		if got := rec.snapshot(); len(got) != 2 || got[0] != "m:first" || got[1] != "idle" {
			t.Fatalf("after a whole message and part of another: %q, want [m:first idle]", got)
		}
		if _, err := nc.Write(second[cut:]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return len(rec.snapshot()) >= 4 })
		if got := rec.snapshot(); got[2] != "m:second" || got[3] != "idle" {
			t.Fatalf("after the rest of the second message: %q", got)
		}
		nc.Close()
		waitFor(t, 10*time.Second, func() bool { return len(rec.snapshot()) >= 5 })
		if got := rec.snapshot(); len(got) != 5 || got[4] != "idle" {
			t.Fatalf("after the peer hung up: %q, want a last idle", got)
		}
	})
}

// TestLinkOnIdleAfterBurst: messages that arrive together are all
// handed to OnMessage before OnIdle runs once for them, and with
// ReuseFrames every message comes in the same slice.
func TestLinkOnIdleAfterBurst(t *testing.T) {
	ln, rec := startIdleLink(t, "tcp://127.0.0.1:0", true)
	nc := rawDial(t, ln.Endpoint())
	rawHandshake(t, nc, zmtp.Pub)
	const n = 50
	var burst []byte
	for range n {
		burst = append(burst, zmtptest.Message([]byte("m"), []byte("body"))...)
	}
	if _, err := nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		ev := rec.snapshot()
		return len(ev) > 0 && ev[len(ev)-1] == "idle" && len(ev) >= n+1
	})
	ev := rec.snapshot()
	idles := 0
	for _, e := range ev {
		if e == "idle" {
			idles++
		}
	}
	// One write of 50 small messages normally arrives in one read; a
	// read split by the network adds an idle per split, never one per
	// message.
	if len(ev)-idles != n || idles > n/5 {
		t.Fatalf("%d messages, %d idles for a burst of %d: %q", len(ev)-idles, idles, n, ev)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.slices) != 1 {
		t.Fatalf("with ReuseFrames the %d messages came in %d slices", n, len(rec.slices))
	}
}
