package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

func TestForwarderPauseResume(t *testing.T) {
	f := newForwarder(t, transports[0], WithPendingLimit(3))
	pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
	sub := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
	sub.send(t, []byte("\x01"))
	expectSubscription(t, pub, true, "")
	f.Pause()
	for i := range 5 {
		pub.send(t, []byte(fmt.Sprint("t", i)))
	}
	waitUntil(t, wait, "held", func() bool { return f.Stats().Frontend.MsgsIn == 5 })
	sub.quiet(t, 50*time.Millisecond)
	if st := f.Stats(); !st.Paused || st.Queued != 3 || st.Refused != 2 {
		t.Fatalf("stats %+v", st)
	}
	f.Resume()
	for i := range 3 {
		if m := sub.recv(t, wait); string(m[0]) != fmt.Sprint("t", i) {
			t.Fatalf("after resume got %q", m)
		}
	}
	pub.send(t, []byte("live"))
	if m := sub.recv(t, wait); string(m[0]) != "live" {
		t.Fatalf("got %q", m)
	}
}

func TestForwarderShutdownDrains(t *testing.T) {
	f := newForwarder(t, transports[0])
	pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
	sub := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
	sub.send(t, []byte("\x01"))
	expectSubscription(t, pub, true, "")
	f.Pause()
	const n = 500
	for i := range n {
		pub.send(t, []byte(fmt.Sprint("t", i)))
	}
	waitUntil(t, wait, "held", func() bool { return f.Stats().Queued == n })
	if err := f.Shutdown(testContext(t, wait)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if m := sub.recv(t, wait); string(m[0]) != fmt.Sprint("t", i) {
			t.Fatalf("message %d: %q", i, m)
		}
	}
	select {
	case <-pub.link.Done():
	case <-time.After(wait):
		t.Fatal("publisher still connected after Shutdown")
	}
}

func TestForwarderTap(t *testing.T) {
	f := newForwarder(t, transports[0], WithTap("tcp://127.0.0.1:0"))
	tapSub := dialPeer(t, f.TapEndpoint(), zmtp.Sub)
	tapSub.send(t, []byte("\x01"))
	pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
	sub := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
	// The tap's PUB applies the subscription asynchronously: retry
	// until the tap mirrors something.
	var first [][]byte
	waitUntil(t, wait, "tap mirrors", func() bool {
		sub.send(t, []byte("\x01x"))
		select {
		case first = <-tapSub.in:
			return true
		case <-time.After(10 * time.Millisecond):
			return false
		}
	})
	if !eq(first, "backend", "\x01x") {
		t.Fatalf("tap got %q", first)
	}
	expectSubscription(t, pub, true, "x")
	pub.send(t, []byte("x.1"), []byte("v"))
	for {
		m := tapSub.recv(t, wait)
		if string(m[0]) == "frontend" {
			if !eq(m, "frontend", "x.1", "v") {
				t.Fatalf("tap got %q", m)
			}
			break
		}
	}
}

func TestForwarderConnectsToPublishers(t *testing.T) {
	// A publisher that binds (as zmp nodes do) and filters by the
	// subscriptions it receives.
	p, err := sock.ListenPub("tcp://127.0.0.1:0", sock.PubConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := newForwarder(t, transports[0], WithConnect(p.Endpoint()))
	sub := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
	sub.send(t, []byte("\x01keep"))
	waitUntil(t, wait, "publisher dialled", func() bool { return f.Stats().Frontend.Peers == 1 })
	ctx := testContext(t, wait)
	for ctx.Err() == nil {
		if matched, _ := p.Publish(frames("drop.1", "x")); matched != 0 {
			t.Fatal("a topic nobody wants matched the forwarder's subscription")
		}
		if matched, _ := p.Publish(frames("keep.1", "x")); matched == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := sub.recv(t, wait); !eq(m, "keep.1", "x") {
		t.Fatalf("got %q", m)
	}
	if st := f.Stats(); st.Frontend.MsgsIn != 1 {
		t.Fatalf("the forwarder received %d publications, want only the wanted one", st.Frontend.MsgsIn)
	}
}
