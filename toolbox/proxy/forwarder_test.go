package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

const wait = 10 * time.Second

// expectSubscription receives the next message on a publisher and
// checks it is a (un)subscription of prefix.
func expectSubscription(t *testing.T, p *peer, subscribe bool, prefix string) {
	t.Helper()
	m := p.recv(t, wait)
	want := subscriptionFrames(subscribe, prefix)
	if len(m) != 1 || !bytes.Equal(m[0], want[0]) {
		t.Fatalf("publisher got %q, want %q", m, want)
	}
}

func TestForwarderPropagatesSubscriptions(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		f := newForwarder(t, tr)
		pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
		waitUntil(t, wait, "publisher registered", func() bool { return f.Stats().Frontend.Peers == 1 })

		s1 := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
		s1.send(t, []byte("\x01news."))
		expectSubscription(t, pub, true, "news.")

		// A second subscriber to the same prefix changes nothing upstream.
		s2 := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
		s2.send(t, []byte("\x01news."))
		s2.send(t, []byte("\x01sport"))
		expectSubscription(t, pub, true, "sport")

		// A publisher that connects later gets the union at once.
		late := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
		got := map[string]bool{}
		for range 2 {
			m := late.recv(t, wait)
			got[string(m[0])] = true
		}
		if !got["\x01news."] || !got["\x01sport"] {
			t.Fatalf("late publisher got %v", got)
		}

		// Cancels go upstream only when the last holder leaves.
		s1.send(t, []byte("\x00news."))
		pub.quiet(t, 100*time.Millisecond)
		s2.link.Close() // vanishing cancels its subscriptions
		seen := map[string]bool{}
		for range 2 {
			seen[string(pub.recv(t, wait)[0])] = true
		}
		if !seen["\x00news."] || !seen["\x00sport"] {
			t.Fatalf("after the last subscriber left the publisher got %v", seen)
		}
		waitUntil(t, wait, "no subscriptions", func() bool { return f.Stats().Subscriptions == 0 })
	})
}

func TestForwarderForwardsMatchingTopics(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		f := newForwarder(t, tr)
		pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
		a := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
		b := dialPeer(t, f.BackendEndpoint(), zmtp.XSub)
		a.send(t, []byte("\x01a."))
		expectSubscription(t, pub, true, "a.")
		b.send(t, []byte("\x01")) // everything
		expectSubscription(t, pub, true, "")
		// A plain PUB does not filter for a forwarder that subscribed
		// to everything: the forwarder filters per subscriber.
		for _, topic := range []string{"a.1", "b.1", "a.2", "A.3"} {
			pub.send(t, []byte(topic), []byte("body:"+topic))
		}
		for _, want := range []string{"a.1", "a.2"} {
			if m := a.recv(t, wait); !eq(m, want, "body:"+want) {
				t.Fatalf("a got %q, want %s", m, want)
			}
		}
		for _, want := range []string{"a.1", "b.1", "a.2", "A.3"} {
			if m := b.recv(t, wait); string(m[0]) != want {
				t.Fatalf("b got %q, want %s", m, want)
			}
		}
		a.quiet(t, 50*time.Millisecond)
		st := f.Stats()
		if st.Frontend.MsgsIn != 4 || st.Backend.MsgsOut != 6 || st.Backend.MsgsIn != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestForwarderLastValueCache(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		f := newForwarder(t, tr, WithLastValueCache(2))
		pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
		// With a cache the forwarder subscribes to everything upstream.
		expectSubscription(t, pub, true, "")
		for _, m := range []string{"t.a=1", "t.b=1", "t.a=2", "u.c=1", "t.b=2"} {
			topic, v, _ := strings.Cut(m, "=")
			pub.send(t, []byte(topic), []byte(v))
		}
		// The cache holds 2 topics: t.a was updated least recently when
		// u.c... no: order of updates is t.b, t.a, u.c, t.b → t.a evicted.
		waitUntil(t, wait, "all published", func() bool { return f.Stats().Frontend.MsgsIn == 5 })
		sub := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
		sub.send(t, []byte("\x01t."))
		if m := sub.recv(t, wait); !eq(m, "t.b", "2") {
			t.Fatalf("new subscriber got %q first, want the cached t.b=2", m)
		}
		sub.quiet(t, 50*time.Millisecond) // t.a was evicted, u.c does not match
		pub.send(t, []byte("t.a"), []byte("3"))
		if m := sub.recv(t, wait); !eq(m, "t.a", "3") {
			t.Fatalf("live message %q", m)
		}
		if st := f.Stats(); st.Cached != 2 {
			t.Fatalf("cached %d topics, want 2", st.Cached)
		}
	})
}

func TestForwarderSlowSubscriberDoesNotStallOthers(t *testing.T) {
	const queue, total, size = 100, 20000, 1024
	f := newForwarder(t, transports[0], WithPeerQueue(queue))
	pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)

	// The slow subscriber completes its handshake, subscribes, and
	// never reads again: its socket buffers fill up.
	nc, err := net.Dial("tcp", strings.TrimPrefix(f.BackendEndpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096)
	}
	stuck, err := zmtp.Handshake(nc, zmtp.Config{Type: zmtp.Sub}, time.Now().Add(wait))
	if err != nil {
		t.Fatal(err)
	}
	stuck.WriteMessage([][]byte{[]byte("\x01")})
	stuck.Flush()

	fast := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
	fast.send(t, []byte("\x01"))
	waitUntil(t, wait, "two subscribers", func() bool { return f.Stats().Subscriptions == 1 && f.Stats().Backend.MsgsIn == 2 })

	// Publish in rounds smaller than a queue, each round waiting (at
	// most 2 s) for the fast subscriber to have it: a forwarder that
	// waited for the stuck subscriber would stall the fast one here.
	const round = 50
	body := bytes.Repeat([]byte("x"), size)
	got, stalls := 0, 0
	for i := 0; i < total; i += round {
		for j := i; j < i+round; j++ {
			pub.send(t, []byte(fmt.Sprint("t", j)), body)
		}
		deadline := time.After(2 * time.Second)
	drain:
		for got < i+round {
			select {
			case <-fast.in:
				got++
			case <-deadline:
				stalls++
				break drain
			}
		}
	}
	// The forwarder counts a message for the stuck subscriber when it
	// queues or drops it, which may come a moment after the fast one
	// received it: wait for every message to be counted.
	waitUntil(t, wait, "every message counted", func() bool {
		st := f.Stats()
		return st.Backend.MsgsOut+st.Backend.Dropped >= 2*total
	})
	st := f.Stats()
	if got < total*9/10 || stalls > 2 {
		t.Errorf("fast subscriber got %d of %d, stalled %d times (stats %+v)", got, total, stalls, st)
	}
	// The kernel buffers a few MiB for the stuck subscriber; the rest
	// must have been dropped, not queued.
	if st.Backend.Dropped < total/3 {
		t.Errorf("dropped %d for the stuck subscriber, want most of %d", st.Backend.Dropped, total)
	}
	if sent := st.Backend.MsgsOut; sent+st.Backend.Dropped != 2*total {
		t.Errorf("accounting: %d queued + %d dropped for 2 subscribers of %d messages", sent, st.Backend.Dropped, total)
	}
}

func TestForwarderSurvivesMalformedInput(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		f := newForwarder(t, tr)
		bad := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
		bad.send(t, []byte("\x01x"), []byte("two frames"))
		bad.send(t, []byte{})
		bad.send(t, []byte("\x05weird"))
		waitUntil(t, wait, "malformed counted", func() bool { return f.Stats().Backend.Malformed == 3 })

		ep, err := sock.ParseEndpoint(f.FrontendEndpoint())
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range [][]byte{
			[]byte("garbage that is not a greeting, long enough to be read as one....."),
			append(zmtptest.NullGreeting(), 0xff),                                              // greeting then nonsense
			append(zmtptest.NullGreeting(), zmtptest.FrameHeader(zmtptest.FlagLong, 1<<50)...), // huge
		} {
			rawSend(t, ep, raw)
		}
		// Peers that complete the handshake, then send the first frame
		// of a multipart message (or half a frame) and vanish.
		vanishMidMessage(t, f.FrontendEndpoint(), "PUB", zmtptest.Frame(zmtptest.FlagMore, []byte("topic")))
		vanishMidMessage(t, f.BackendEndpoint(), "SUB", zmtptest.Frame(0, []byte("\x01abcdef"))[:4])

		// The forwarder still works.
		pub := dialPeer(t, f.FrontendEndpoint(), zmtp.Pub)
		sub := dialPeer(t, f.BackendEndpoint(), zmtp.Sub)
		sub.send(t, []byte("\x01ok"))
		expectSubscription(t, pub, true, "ok")
		pub.send(t, []byte("ok"), []byte("1"))
		if m := sub.recv(t, wait); !eq(m, "ok", "1") {
			t.Fatalf("got %q", m)
		}
	})
}

// rawSend writes raw bytes on a new connection and closes it.
func rawSend(t *testing.T, ep sock.Endpoint, raw []byte) {
	t.Helper()
	nc, err := net.Dial(ep.Network, ep.Address)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write(raw)
	nc.Close()
}

// vanishMidMessage connects as a socket of type typ, completes the
// handshake, writes partial and disconnects.
func vanishMidMessage(t *testing.T, endpoint, typ string, partial []byte) {
	t.Helper()
	ep, err := sock.ParseEndpoint(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial(ep.Network, ep.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(wait))
	nc.Write(append(zmtptest.NullGreeting(), zmtptest.ReadyType(typ)...))
	// Read the proxy's greeting and READY before sending the rest.
	buf := make([]byte, zmtptest.GreetingSize)
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatalf("greeting from %s: %v", endpoint, err)
	}
	nc.Write(partial)
}
