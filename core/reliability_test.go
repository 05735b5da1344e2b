package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// The reliability matrix: hung providers, restarts, hostile input, slow
// subscribers and connection churn, over every transport.

// TestReliabilityHeartbeatLoss: a provider whose process hangs with its
// sockets open is detected by heartbeats within interval + timeout.
func TestReliabilityHeartbeatLoss(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		ghost := startSilentServer(t, e)
		host, _ := os.Hostname()
		info := NodeInfo{
			Name: "ghost", ID: "ghost-instance", PID: os.Getpid(), Host: host,
			RPC: ghost.endpoint, Services: []string{"svc"}, Started: time.Now(),
		}
		ctx := e.ctx(30 * time.Second)
		if err := e.reg.Register(ctx, info, time.Minute); err != nil {
			t.Fatal(err)
		}
		const interval, timeout = 100 * time.Millisecond, 400 * time.Millisecond
		cli := e.peer("caller", WithHeartbeat(interval, timeout))
		start := time.Now()
		_, err := cli.Call(ctx, "svc", nil)
		took := time.Since(start)
		if !errors.Is(err, ErrConnectionLost) {
			t.Fatalf("call to a hung provider: %v, want ErrConnectionLost", err)
		}
		if took < timeout-50*time.Millisecond || took > interval+timeout+3*time.Second {
			t.Fatalf("hung provider detected after %v, want about %v", took, interval+timeout)
		}
		if ghost.accepted() == 0 {
			t.Fatal("the caller never completed a handshake with the hung provider")
		}
	})
}

// TestReliabilityRestartPickup: a provider that restarts under the same
// name serves the same caller again, with nothing done on the caller.
func TestReliabilityRestartPickup(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("prov")
		provideAdd(t, srv)
		cli := e.peer("caller")
		ctx := e.ctx(30 * time.Second)
		callAdd(t, ctx, cli, 1, 1)
		for i := range 3 {
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			srv = e.peer("prov")
			provideAdd(t, srv)
			// A call may still go out on the old connection if the caller
			// has not yet read its end: that one call is lost, as
			// documented; the next must reach the new instance.
			sum, err := Call[int](ctx, cli, "add", addArgs{i, 10})
			if errors.Is(err, ErrConnectionLost) {
				t.Logf("restart %d: first call: %v", i, err)
				sum, err = Call[int](ctx, cli, "add", addArgs{i, 10})
			}
			if err != nil || sum != i+10 {
				t.Fatalf("restart %d: add = %d, %v", i, sum, err)
			}
			if n := serviceCalls(srv, "add"); n != 1 {
				t.Fatalf("restart %d: new instance served %d calls, want 1", i, n)
			}
		}
	})
}

// TestReliabilityMalformedInput throws bytes that are not ZMTP, ZMTP
// that lies about sizes, and well-framed messages that are not zmp
// envelopes at a node's RPC endpoint.
func TestReliabilityMalformedInput(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("target", WithHandshakeTimeout(2*time.Second))
		provideEcho(t, srv, "echo")
		cli := e.peer("caller")
		ep := srv.Info().RPC

		failed := sendBadHandshakes(t, ep)
		waitCond(t, 5*time.Second, "failed handshakes to be counted", func() bool {
			return srv.Stats().Server.HandshakeFailed >= failed
		})
		malformed := sendBadEnvelopes(t, ep)
		if n := srv.Stats().Server.Malformed; n != malformed {
			t.Fatalf("Malformed = %d, want %d", n, malformed)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if reply, err := cli.Call(ctx, "echo", []byte("hi")); err != nil || string(reply) != "hi" {
			t.Fatalf("good caller after the garbage: %q, %v", reply, err)
		}
		if st := srv.Stats().Server; st.HandshakeFailed != failed || st.UnknownService != 0 {
			t.Fatalf("server stats %+v, want %d failed handshakes", st, failed)
		}
	})
}

// sendBadHandshakes opens connections to ep that break the ZMTP
// handshake, or announce a 2^50-byte frame after it, and checks that
// the node hangs up on each. It returns how many handshakes failed.
func sendBadHandshakes(t *testing.T, ep string) uint64 {
	t.Helper()
	bad := map[string][]byte{
		"garbage":          bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 8),
		"huge READY":       append(zmtptest.NullGreeting(), zmtptest.FrameHeader(zmtptest.FlagCommand, 1<<50)...),
		"truncated READY":  append(zmtptest.NullGreeting(), zmtptest.Command(zmtp.CmdReady, truncatedMetadata())...),
		"not ZMTP 3":       append([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 2, 0}, make([]byte, 52)...),
		"unknown security": zmtptest.Greeting("CURVE", 1, false),
	}
	for name, b := range bad {
		nc := dialPlain(t, ep)
		if _, err := nc.Write(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		expectHangup(t, nc, 5*time.Second)
	}
	nc := dialPlain(t, ep)
	nc.Write(append(append(zmtptest.NullGreeting(), zmtptest.ReadyType(string(zmtp.Dealer))...), zmtptest.FrameHeader(0, 1<<50)...))
	expectHangup(t, nc, 5*time.Second)
	return uint64(len(bad))
}

// sendBadEnvelopes sends malformed zmp envelopes on one DEALER
// connection to ep, then a good request that must still be answered
// there. It returns how many envelopes were malformed.
func sendBadEnvelopes(t *testing.T, ep string) uint64 {
	t.Helper()
	d := dialZMTP(t, ep, zmtp.Dealer)
	bad := badEnvelopes()
	for _, m := range bad {
		if err := d.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	d.WriteMessage(requestFrames(7, 0, "echo", nil, []byte("still here")))
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	// Requests with an invalid service name are answered bad request;
	// the rest are dropped without a reply.
	badNames := 0
	for {
		reply := readWithin(t, d, 5*time.Second)
		m, err := parseRPC(reply)
		if err == nil && m.typ == typeError && m.code == CodeBadRequest && m.id == 1 {
			badNames++
			continue
		}
		if err != nil || m.typ != typeReply || m.id != 7 || string(m.body) != "still here" {
			t.Fatalf("reply on the connection that sent garbage: %s (%v)", describeFrames(reply), err)
		}
		break
	}
	if badNames != 3 {
		t.Fatalf("%d requests with an invalid service name answered, want 3", badNames)
	}
	return uint64(len(bad))
}

// truncatedMetadata is READY metadata whose last value claims 100
// bytes and has 6.
func truncatedMetadata() []byte {
	b := append([]byte{11}, "Socket-Type"...)
	b = binary.BigEndian.AppendUint32(b, 100)
	return append(b, "DEALER"...)
}

// badEnvelopes are well-framed ZMTP messages that are not valid zmp
// RPC envelopes, each to be counted as malformed.
func badEnvelopes() [][][]byte {
	req := header{typ: typeRequest, id: 1}.marshal()
	v2 := header{typ: typeRequest, id: 2}.marshal()
	v2[0] = 2
	return [][][]byte{
		{req, []byte("echo"), []byte("no delimiter")},
		{{}},
		{{}, make([]byte, headerLen-1), []byte("echo"), nil},
		{{}, make([]byte, headerLen+1), []byte("echo"), nil},
		{{}, v2, []byte("echo"), nil},
		{{}, req, []byte("echo")},
		{{}, req, []byte("echo"), nil, nil, nil},
		{{}, req, []byte("bad\x00name"), nil},
		{{}, req, []byte{0xff, 0xfe}, nil},
		{{}, req, nil, nil},
		{{}, header{typ: 9, id: 3}.marshal()},
		{{}, header{typ: typeReply, id: 4}.marshal(), nil},
		{{}, header{typ: typeData, id: 5}.marshal(), nil},
		{{}, header{typ: typeCancel, id: 6}.marshal(), []byte("extra")},
	}
}

// readWithin reads one message from c, closing c if none comes in time.
func readWithin(t testing.TB, c *zmtp.Conn, d time.Duration) [][]byte {
	t.Helper()
	timer := time.AfterFunc(d, func() { c.Close() })
	defer timer.Stop()
	frames, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("no message within %v: %v", d, err)
	}
	return frames
}

// TestReliabilitySlowSubscriber: a subscriber that never reads costs
// the publisher a bounded queue, never a blocked Publish, and does not
// disturb the other subscribers.
func TestReliabilitySlowSubscriber(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		// The raw subscriber must outlive the flood, however slow the
		// machine: a minute's write timeout (see TestHostile* for the
		// subscriber that is cut off).
		pub, cli := e.peer("firehose", WithWriteTimeout(time.Minute)), e.peer("listener")
		mustAdvertise(t, pub, "t")
		sub := e.subscribe(cli, "t")
		waitConnected(t, e.ctx(20*time.Second), sub, 1)
		raw := dialZMTP(t, pub.Info().Pub, zmtp.Sub)
		if err := raw.WriteMessage([][]byte{{1}}); err != nil { // everything, never read
			t.Fatal(err)
		}
		raw.Flush()
		got := countMessages(t, sub)
		waitCond(t, 10*time.Second, "the raw subscriber's subscription", func() bool {
			before := topicCounters(pub, "t")
			mustPublish(t, pub, "t", []byte("probe"))
			after := topicCounters(pub, "t")
			return after.Delivered+after.Dropped == before.Delivered+before.Dropped+2
		})

		n := 100_000
		if testing.Short() {
			n = 20_000
		}
		slowest, growth := flood(t, pub, "t", n, got)
		total := topicCounters(pub, "t").Published
		pollFor(10*time.Second, func() bool { return got.Load() >= total })
		ts, st := topicCounters(pub, "t"), sub.Stats()
		t.Logf("published %d, slowest Publish %v, heap growth %d KiB; normal subscriber got %d (dropped %d, missed %d); publisher dropped %d",
			total, slowest, growth>>10, got.Load(), st.Dropped, st.Missed, ts.Dropped)
		if slowest > time.Second {
			t.Errorf("a Publish took %v", slowest)
		}
		if growth > 256<<20 {
			t.Errorf("heap grew by %d MiB", growth>>20)
		}
		if got.Load() < total*99/100 {
			t.Errorf("normal subscriber got %d of %d messages", got.Load(), total)
		}
		if ts.Dropped == 0 || pub.Stats().Server.PublishDropped != ts.Dropped {
			t.Errorf("publisher drops: topic %d, server %d; want equal and positive", ts.Dropped, pub.Stats().Server.PublishDropped)
		}
		if subs := pub.Stats().Server.Subscribers; subs != 2 {
			t.Errorf("publisher has %d subscribers, want both still connected", subs)
		}
	})
}

// countMessages counts the messages of sub on a goroutine until the
// test ends.
func countMessages(t *testing.T, sub *Subscription) *atomic.Uint64 {
	t.Helper()
	var got atomic.Uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		for range sub.C() {
			got.Add(1)
		}
	})
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { sub.Close() }) // runs first: ends the loop
	return &got
}

// flood publishes n 1 KiB messages on topic and returns the longest
// Publish call and the peak growth of the heap. Every 500 messages it
// lets the subscriber counted by got catch up, so that a subscriber
// that keeps reading never has a backlog near its queues' bounds.
func flood(t *testing.T, pub *Peer, topic string, n int, got *atomic.Uint64) (slowest time.Duration, growth uint64) {
	t.Helper()
	data := make([]byte, 1024)
	base := heapInUse()
	for i := range n {
		start := time.Now()
		mustPublish(t, pub, topic, data)
		slowest = max(slowest, time.Since(start))
		if i%500 == 499 {
			behind := topicCounters(pub, topic).Published - 500
			pollFor(5*time.Second, func() bool { return got.Load() >= behind }) // pacing, not an assertion
		}
		if i%10_000 == 9_999 {
			h := heapInUse()
			growth = max(growth, h-min(base, h))
		}
	}
	return slowest, growth
}

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestReliabilityChurn connects, calls and disconnects thousands of
// times and checks that the node's goroutines, descriptors and heap
// return to where they were.
func TestReliabilityChurn(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("churn")
		provideEcho(t, srv, "echo")
		provideAdd(t, srv)
		ep := srv.Info().RPC
		for i := range 20 { // warm up pools and buffers
			churnCycle(t, ep, uint64(i))
		}
		base := takeResources(t)

		cycles := 10_000
		if testing.Short() {
			cycles = 1_000
		}
		var wg sync.WaitGroup
		const workers = 4
		for w := range workers {
			wg.Go(func() {
				for i := w; i < cycles && !t.Failed(); i += workers {
					churnCycle(t, ep, uint64(i))
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		expectResources(t, base, "raw DEALER cycles")

		peers := 200
		if testing.Short() {
			peers = 50
		}
		ctx := e.ctx(60 * time.Second)
		for i := range peers {
			p, err := NewPeer(ctx, "", e.opts()...)
			if err != nil {
				t.Fatal(err)
			}
			callAdd(t, ctx, p, i, 1)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
		}
		expectResources(t, base, "client peer cycles")
		if st := srv.Stats(); st.Services["echo"].Calls != uint64(20+cycles) || st.Services["add"].Calls != uint64(peers) || st.Server.Malformed != 0 {
			t.Fatalf("after churn: %+v", st)
		}
	})
}

// churnCycle dials ep as a raw DEALER, makes one call and hangs up.
func churnCycle(t testing.TB, ep string, id uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sock.Dial(ctx, ep, zmtp.Config{Type: zmtp.Dealer}, 10*time.Second)
	if err != nil {
		t.Errorf("cycle %d: dial: %v", id, err)
		return
	}
	defer c.Close()
	timer := time.AfterFunc(10*time.Second, func() { c.Close() })
	defer timer.Stop()
	body := binary.BigEndian.AppendUint64(nil, id)
	err = c.WriteMessage(requestFrames(id, 10_000, "echo", nil, body))
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		t.Errorf("cycle %d: sending: %v", id, err)
		return
	}
	frames, err := c.ReadMessage()
	if err != nil {
		t.Errorf("cycle %d: %v", id, err)
		return
	}
	if m, err := parseRPC(frames); err != nil || m.typ != typeReply || m.id != id || !bytes.Equal(m.body, body) {
		t.Errorf("cycle %d: reply %s (%v)", id, describeFrames(frames), err)
	}
}

// resources is what a leak would grow.
type resources struct {
	goroutines, fds int
	heap            uint64
}

func (r resources) String() string {
	return fmt.Sprintf("%d goroutines, %d fds, heap %d KiB", r.goroutines, r.fds, r.heap>>10)
}

func takeResources(t testing.TB) resources {
	t.Helper()
	r := countResources(t)
	r.heap = heapInUse()
	return r
}

// countResources counts goroutines and open descriptors.
func countResources(t testing.TB) resources {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return resources{goroutines: runtime.NumGoroutine(), fds: len(fds)}
}

// expectResources waits until goroutines and descriptors are back
// within 10 of base, then checks the heap grew less than 32 MiB.
func expectResources(t *testing.T, base resources, after string) {
	t.Helper()
	var now resources
	settled := pollFor(15*time.Second, func() bool {
		now = countResources(t)
		return now.goroutines <= base.goroutines+10 && now.fds <= base.fds+10
	})
	if !settled {
		t.Fatalf("after %s: %v, baseline %v", after, now, base)
	}
	now.heap = heapInUse()
	if now.heap > base.heap+32<<20 {
		t.Fatalf("after %s: heap %d MiB above baseline", after, (now.heap-base.heap)>>20)
	}
	t.Logf("after %s: %v (baseline %v)", after, now, base)
}

// A lone call's reply is written by the worker itself, without waiting
// for the socket. That write must leave no deadline behind: the PONGs
// the provider writes later to the idle connection, and the reply of a
// call that runs longer than the write timeout, must go through. (Before,
// every idle connection was closed 5 s after a lone reply, and a call in
// flight then was lost.)
func TestReliabilityIdleConnectionAfterLoneReply(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("prov", WithWriteTimeout(200*time.Millisecond))
		provideAdd(t, srv)
		mustHandle(t, srv, "slow", func(ctx context.Context, r *Request) ([]byte, error) {
			time.Sleep(600 * time.Millisecond)
			return r.Body, nil
		})
		cli := e.peer("caller", WithHeartbeat(50*time.Millisecond, 2*time.Second))
		ctx := e.ctx(10 * time.Second)
		callAdd(t, ctx, cli, 1, 2)         // a lone call: the reply is written directly
		time.Sleep(600 * time.Millisecond) // idle, but for PINGs and PONGs
		if reply, err := cli.Call(ctx, "slow", []byte("x")); err != nil || string(reply) != "x" {
			t.Fatalf("slow call after an idle time: %q, %v", reply, err)
		}
		if n := srv.router.Listener().Stats().Accepted; n != 1 {
			t.Fatalf("the caller connected %d times, want once", n)
		}
	})
}

// A caller that sends requests and never reads its replies is
// disconnected once the node's writes to it make no progress for the
// write timeout; a caller that reads is served meanwhile.
func TestReliabilityNonReaderDisconnected(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("prov", WithWriteTimeout(300*time.Millisecond))
		big := bytes.Repeat([]byte("r"), 256<<10)
		mustHandle(t, srv, "big", func(context.Context, *Request) ([]byte, error) { return big, nil })
		provideAdd(t, srv)
		raw := dialZMTP(t, srv.Info().RPC, zmtp.Dealer)
		for i := range 64 { // 16 MiB of replies: more than socket buffers and the queue hold
			if err := raw.WriteMessage(requestFrames(uint64(i+1), 10000, "big", nil, nil)); err != nil {
				t.Fatal(err)
			}
		}
		if err := raw.Flush(); err != nil {
			t.Fatal(err)
		}
		cli := e.peer("caller")
		ctx := e.ctx(20 * time.Second)
		callAdd(t, ctx, cli, 1, 2)
		waitCond(t, 10*time.Second, "the non-reading caller to be disconnected", func() bool {
			return srv.Stats().Server.RPCPeers == 1 // the well-behaved caller only
		})
		callAdd(t, ctx, cli, 3, 4)
	})
}
