package sock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// replies collects the messages a session receives, keyed by their
// first frame.
type replies struct {
	mu   sync.Mutex
	seen map[string][][]byte
	n    atomic.Int64
	dup  atomic.Int64
}

func newReplies() *replies { return &replies{seen: map[string][][]byte{}} }

func (r *replies) onMessage(_ *Link, frames [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := string(frames[0])
	if _, ok := r.seen[k]; ok {
		r.dup.Add(1)
	}
	r.seen[k] = frames
	r.n.Add(1)
}

func (r *replies) get(k string) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[k]
}

func TestRouterSessionRequestReply(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		var requests atomic.Int64
		r := startRouter(t, tr.endpoint(t), RouterConfig{
			OnMessage: func(peer *Link, frames [][]byte) {
				requests.Add(1)
				// Reply with the request id, the peer's identity and the body.
				id := peer.Conn().PeerMetadata().Get("Identity")
				peer.Send(context.Background(), [][]byte{frames[0], []byte(id), frames[1]})
			},
		})

		const sessions, senders, each = 3, 4, 250
		type client struct {
			s   *Session
			rep *replies
		}
		var clients []client
		for i := range sessions {
			rep := newReplies()
			s := startSession(t, SessionConfig{
				Endpoint: r.Endpoint(),
				ZMTP:     zmtp.Config{Type: zmtp.Dealer, Identity: fmt.Appendf(nil, "client-%d", i)},
				Link:     LinkConfig{OnMessage: rep.onMessage},
			})
			clients = append(clients, client{s, rep})
		}
		var wg sync.WaitGroup
		ctx := testContext(t, 60*time.Second)
		for i, c := range clients {
			l := sessionLink(t, c.s)
			for g := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range each {
						body := bytes.Repeat([]byte{byte(k)}, k%700)
						id := fmt.Appendf(nil, "%d/%d/%d", i, g, k)
						if err := l.Send(ctx, [][]byte{id, body}); err != nil {
							t.Errorf("send: %v", err)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		for _, c := range clients {
			waitFor(t, 30*time.Second, func() bool { return c.rep.n.Load() >= senders*each })
		}
		if got := requests.Load(); got != sessions*senders*each {
			t.Fatalf("router saw %d requests, want %d", got, sessions*senders*each)
		}
		for i, c := range clients {
			if c.rep.dup.Load() != 0 || c.rep.n.Load() != senders*each {
				t.Fatalf("client %d: %d replies, %d duplicates", i, c.rep.n.Load(), c.rep.dup.Load())
			}
			for g := range senders {
				for k := range each {
					m := c.rep.get(fmt.Sprintf("%d/%d/%d", i, g, k))
					if len(m) != 3 {
						t.Fatalf("client %d: reply %d/%d missing or malformed: %q", i, g, k, m)
					}
					if string(m[1]) != fmt.Sprintf("client-%d", i) {
						t.Fatalf("client %d got a reply routed for %q", i, m[1])
					}
					if !bytes.Equal(m[2], bytes.Repeat([]byte{byte(k)}, k%700)) {
						t.Fatalf("client %d: reply body %d/%d corrupted", i, g, k)
					}
				}
			}
			// Sent is counted just after the flush, so it may trail the replies.
			l := sessionLink(t, c.s)
			waitFor(t, 10*time.Second, func() bool { return l.Stats().Sent == senders*each })
			if st := l.Stats(); st.Dropped != 0 || st.Queued != 0 {
				t.Fatalf("client %d link stats %+v", i, st)
			}
		}
		if r.Peers() != sessions {
			t.Fatalf("router has %d peers, want %d", r.Peers(), sessions)
		}
	})
}

func TestRouterMultipartEcho(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		r := startRouter(t, tr.endpoint(t), RouterConfig{})
		got := make(chan [][]byte, 10)
		s := startSession(t, SessionConfig{
			Endpoint: r.Endpoint(),
			Link:     LinkConfig{OnMessage: func(_ *Link, f [][]byte) { got <- f }},
		})
		l := sessionLink(t, s)
		big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 KB
		want := [][]byte{{}, []byte("x"), bytes.Repeat([]byte{'y'}, 300), big, {}}
		if err := l.Send(testContext(t, 10*time.Second), want); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if len(m) != len(want) {
				t.Fatalf("%d frames, want %d", len(m), len(want))
			}
			for i := range want {
				if !bytes.Equal(m[i], want[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no echo")
		}
	})
}

func TestRouterCloseEndsPeers(t *testing.T) {
	r, err := ListenRouter("tcp://127.0.0.1:0", RouterConfig{OnMessage: echo})
	if err != nil {
		t.Fatal(err)
	}
	s := startSession(t, SessionConfig{Endpoint: r.Endpoint(), MinBackoff: 10 * time.Millisecond})
	l := sessionLink(t, s)
	waitFor(t, 10*time.Second, func() bool { return r.Peers() == 1 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session link survived the router's Close")
	}
	if l.Err() == nil {
		t.Fatal("stopped link has no error")
	}
	if err := l.Send(context.Background(), msg("x")); err == nil {
		t.Fatal("Send on a stopped link succeeded")
	}
}

// fixedEndpoint returns an endpoint that can be listened on again after
// its listener closes.
func fixedEndpoint(t *testing.T, tr transport) string {
	t.Helper()
	if tr.name == "ipc" {
		return tr.endpoint(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "tcp://" + addr
}

func TestSessionReconnects(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr transport) {
		ep := fixedEndpoint(t, tr)
		r1, err := ListenRouter(ep, RouterConfig{OnMessage: echo})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 100)
		var ups, downs atomic.Int32
		s := startSession(t, SessionConfig{
			Endpoint:   ep,
			MinBackoff: 10 * time.Millisecond,
			MaxBackoff: 100 * time.Millisecond,
			Link:       LinkConfig{OnMessage: func(_ *Link, f [][]byte) { got <- string(f[0]) }},
			OnUp:       func(*Link) { ups.Add(1) },
			OnDown:     func(*Link, error) { downs.Add(1) },
		})
		roundTrip := func(l *Link, s string) {
			t.Helper()
			if err := l.Send(testContext(t, 10*time.Second), msg(s)); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-got:
				if m != s {
					t.Fatalf("got %q, want %q", m, s)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no reply to %q", s)
			}
		}
		l1 := sessionLink(t, s)
		roundTrip(l1, "before")

		r1.Close()
		select {
		case <-l1.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("link did not notice the router going away")
		}
		waitFor(t, 10*time.Second, func() bool { return s.Current() != l1 })
		// While the endpoint is down the session keeps trying.
		waitFor(t, 10*time.Second, func() bool { return s.LastError() != nil })

		r2 := startRouter(t, ep, RouterConfig{})
		var l2 *Link
		waitFor(t, 15*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			l2, _ = s.Link(ctx)
			return l2 != nil && l2 != l1
		})
		roundTrip(l2, "after")
		waitFor(t, 10*time.Second, func() bool { return r2.Peers() == 1 })
		if ups.Load() != 2 || downs.Load() != 1 {
			t.Fatalf("OnUp ran %d times, OnDown %d; want 2 and 1", ups.Load(), downs.Load())
		}
	})
}

func TestSessionLinkAfterClose(t *testing.T) {
	s := StartSession(SessionConfig{Endpoint: "tcp://127.0.0.1:1", ZMTP: zmtp.Config{Type: zmtp.Dealer}})
	if s.Endpoint() != "tcp://127.0.0.1:1" {
		t.Fatal(s.Endpoint())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Link(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Link while unreachable = %v", err)
	}
	s.Close()
	s.Close()
	if _, err := s.Link(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Link after Close = %v", err)
	}
	if s.Current() != nil {
		t.Fatal("closed session has a link")
	}
}

func TestSessionBadEndpoint(t *testing.T) {
	s := startSession(t, SessionConfig{Endpoint: "bogus"})
	waitFor(t, 10*time.Second, func() bool { return errors.Is(s.LastError(), ErrBadEndpoint) })
}

func TestLinkSendAfterPeerGone(t *testing.T) {
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{})
	c, err := Dial(testContext(t, 10*time.Second), r.Endpoint(), zmtp.Config{Type: zmtp.Dealer}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var closedWith atomic.Value
	l := StartLink(c, LinkConfig{OnClose: func(_ *Link, err error) { closedWith.Store(err) }})
	waitFor(t, 10*time.Second, func() bool { return r.Peers() == 1 })
	for _, pl := range routerLinks(r) {
		pl.Close()
	}
	<-l.Done()
	if closedWith.Load() == nil {
		t.Fatal("OnClose did not run before Done")
	}
	if err := l.Send(context.Background(), msg("x")); err == nil || errors.Is(err, ErrClosed) {
		// The link failed on a read error: Send reports that cause.
		t.Fatalf("Send = %v, want the read error", err)
	}
	if dropped, err := l.TrySend(msg("x"), DropNewest); err == nil || dropped {
		t.Fatalf("TrySend = %v, %v", dropped, err)
	}
	l.Close()
	l.Close()
}

func TestLinkTrySendCountsDrops(t *testing.T) {
	// A peer that completes the handshake and never reads: the writer
	// blocks on the full socket, the queue fills, TrySend drops.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served := make(chan *zmtp.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- nil
			return
		}
		c, _ := zmtp.Handshake(nc, zmtp.Config{Type: zmtp.Router}, time.Now().Add(10*time.Second))
		served <- c
	}()
	c, err := Dial(testContext(t, 10*time.Second), "tcp://"+ln.Addr().String(), zmtp.Config{Type: zmtp.Dealer}, 0)
	if err != nil {
		t.Fatal(err)
	}
	peer := <-served
	if peer == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() { peer.Close() })
	l := StartLink(c, LinkConfig{QueueLen: 10})
	t.Cleanup(func() { l.Close() })
	payload := make([]byte, 64<<10)
	// fillUntilDrop pushes until p drops one; the writer may still take
	// batches while the socket buffers fill, so count what is reported.
	var drops uint64
	fillUntilDrop := func(p Policy) {
		t.Helper()
		for range 100000 {
			d, err := l.TrySend([][]byte{payload}, p)
			if err != nil {
				t.Fatal(err)
			}
			if d {
				drops++
				return
			}
		}
		t.Fatalf("%v: no drop after 100000 x 64 KiB to a peer that never reads", p)
	}
	fillUntilDrop(DropNewest)
	if st := l.Stats(); st.Dropped != drops || st.Queued > 10 {
		t.Fatalf("stats %+v, want %d dropped and at most 10 queued", st, drops)
	}
	fillUntilDrop(DropOldest)
	if st := l.Stats(); st.Dropped != drops || st.Queued > 10 {
		t.Fatalf("stats %+v, want %d dropped and at most 10 queued", st, drops)
	}
	// A blocking Send gives up with its context once the queue stays full.
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := l.Send(ctx, [][]byte{payload})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil || i > 10000 {
			t.Fatalf("Send to a full queue = %v after %d tries", err, i)
		}
	}
}

func TestSessionCustomDialRetries(t *testing.T) {
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{})
	var calls atomic.Int32
	injected := errors.New("injected dial failure")
	s := startSession(t, SessionConfig{
		Endpoint:   r.Endpoint(),
		MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if network != "tcp" {
				t.Errorf("dial network %q", network)
			}
			if calls.Add(1) <= 2 {
				return nil, injected
			}
			var d net.Dialer
			return d.DialContext(ctx, network, address)
		},
	})
	sessionLink(t, s)
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d dials, want 3 (two injected failures)", n)
	}
}
