package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// Hostile callers and subscribers against a node in a child process:
// each test attacks one shared resource of the node (its handler
// workers, its request queue, a connection's send queue, its memory,
// its publisher) while a well-behaved zmp caller keeps calling, and
// checks that the node survives, keeps serving the well-behaved caller
// and its introspection, and stays within a memory budget. Every test
// logs its figures (t.Logf) so that runs before and after a fix can be
// compared. Budgets are in hostile_helpers_test.go and beside the tests.
//
// What the tests take a sound node to do (how is the fix's choice):
//   - a handler's context ends once, without panicking, whatever the
//     order of its deadline, CANCEL, Done and Err;
//   - a worker never waits on one connection's send queue, and a
//     connection that does not read is dropped after a write deadline,
//     also when it speaks ZMTP 3.0 (which gets no heartbeats);
//   - send queues and the request queue are bounded by bytes as well as
//     by count; requests that a connection sends beyond its share of the
//     request queue, or while its send queue is full, are refused on
//     that connection (CodeOverloaded) or not run, so that a caller on
//     another connection sees no error and no stall;
//   - a request whose deadline passed while it was queued is not run;
//   - a handler's context ends soon after its caller's connection closes;
//   - a subscriber's subscriptions cost the publisher a bounded time
//     each (or are capped), on its reader, and bounded memory;
//   - a small body handed to a handler or subscriber does not keep
//     alive a shared arena.

// hostileFloodN is how many requests the expiring flood sends: 300k as
// in the report over TCP, where loopback buffers up to 4 MiB of
// replies before the node's send queue fills; over IPC 120k are enough
// (the node died after 50k-90k in trials).
var hostileFloodN = map[Transport]int{TCP: 300_000, IPC: 120_000}

// TestHostileExpiringFlood: one raw DEALER sends hostileFloodN small
// requests with a 1 s deadline and never reads the replies. Requests
// wait in the node's queue past their deadline while workers wait for
// room in the connection's send queue; on the code this test was
// written against a worker then panics ("close of closed channel",
// core/callctx.go) and the node dies within seconds.
func TestHostileExpiringFlood(t *testing.T) {
	hostileEnv(t)
	for _, svc := range []string{IntrospectPing, "add"} {
		t.Run(svc, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, e *tenv) {
				h := startHostileNode(t, e, "hostile", "target")
				mem := h.watchMem()
				w := startWitness(t, e, h)
				a := dialAttacker(t, h.info.RPC, attackerOpts{zmtp30: true})
				body := []byte(`{"A":1,"B":2}`)
				n := hostileFloodN[e.tr]
				start := time.Now()
				sent, err := floodConn(a, n, 30*time.Second, func(i int) [][]byte {
					return requestFrames(uint64(i+1), 1000, svc, nil, body)
				})
				took := time.Since(start)
				// Every request has expired 1 s after the last one was
				// written; watch the node for 0.5 s more.
				died := pollFor(1500*time.Millisecond, func() bool { return !h.alive() })
				t.Logf("flood of %s: %d of %d requests written in %v (write error: %v); node died: %v",
					svc, sent, n, took.Round(time.Millisecond), err, died)
				a.Close()
				w.check(t)
				h.checkAlive("under a flood of expiring requests")
				mem.checkGrowth(t, hostileRSSBudget)
			})
		})
	}
}

// TestHostileNeverReadingPinsWorkers: a raw DEALER that never reads asks
// "sleep" for 50 ms and a 16 KiB reply, 600 times a second: on a node
// that never waits on one connection that is under half of its 64
// workers. On the code this test was written against, once the
// connection's socket and its 1000-message send queue are full every
// worker blocks in Send on that connection (the attacker speaks ZMTP
// 3.0, so no heartbeat puts a deadline on the writes), the request
// queue fills behind them, and the well-behaved caller's calls time
// out and then get ErrOverloaded.
func TestHostileNeverReadingPinsWorkers(t *testing.T) {
	hostileEnv(t)
	eachTransport(t, func(t *testing.T, e *tenv) {
		h := startHostileNode(t, e, "hostile", "target")
		mem := h.watchMem()
		w := startWitness(t, e, h)
		a := dialAttacker(t, h.info.RPC, attackerOpts{zmtp30: true})
		body := []byte("50,16384")
		ended, stop := pacedFlood(t, a, 6, func(i int) [][]byte { return requestFrames(uint64(i+1), 10_000, "sleep", nil, body) })
		// The attack lasts 5 s, or until the node hangs up on the attacker.
		pollFor(5*time.Second, func() bool {
			select {
			case <-ended:
				return true
			default:
				return !h.alive()
			}
		})
		sent, err := stop()
		t.Logf("attacker: %d requests written (write error: %v)", sent, err)
		a.Close() // frees the workers it pinned: a call stuck behind them ends, and counts
		r := w.check(t)
		t.Logf("well-behaved caller: %d overloaded, %d timed out; introspection failures: %d", r.overloadErrs, r.errs["timeout"], r.probeBad)
		h.logServerStats(t, w.cli)
		h.checkAlive("under a never-reading caller")
		mem.checkGrowth(t, hostileRSSBudget)
	})
}

// TestHostileLargeRepliesUnread: a raw DEALER asks "big" for 1 MiB
// replies 1200 times and never reads them. On the code this test was
// written against the node queued them all (1000 per connection, plus
// one per blocked worker) and its memory peaked past 1 GiB.
func TestHostileLargeRepliesUnread(t *testing.T) {
	hostileEnv(t)
	eachTransport(t, func(t *testing.T, e *tenv) {
		h := startHostileNode(t, e, "hostile", "target")
		mem := h.watchMem()
		w := startWitness(t, e, h)
		a := dialAttacker(t, h.info.RPC, attackerOpts{zmtp30: true})
		const n = 1200
		sent, err := floodConn(a, n, 10*time.Second, func(i int) [][]byte { return requestFrames(uint64(i+1), 10_000, "big", nil, nil) })
		t.Logf("attacker: %d of %d requests for 1 MiB written (write error: %v)", sent, n, err)
		// Watch the node for 3 s while it answers them.
		pollFor(3*time.Second, func() bool { return !h.alive() })
		a.Close()
		w.check(t)
		h.checkAlive("answering a caller that never reads")
		mem.checkGrowth(t, hostileRSSBudget)
	})
}

// TestHostileExpiredInQueue: 64 requests to "sleep" 300 ms occupy every
// worker; 200 requests with a 1 ms deadline queue behind them on the
// same connection. Their caller has given up before a worker is free:
// they must not run (whether they are answered CodeDeadlineExceeded or
// not answered is not checked). On the code this test was written
// against they all ran.
func TestHostileExpiredInQueue(t *testing.T) {
	hostileEnv(t)
	eachTransport(t, func(t *testing.T, e *tenv) {
		h := startHostileNode(t, e, "hostile", "target")
		w := startWitness(t, e, h)
		a := dialAttacker(t, h.info.RPC, attackerOpts{})
		replies := tallyReplies(t, a)
		const slow, tiny = 64, 200
		_, err := floodConn(a, slow+tiny, 10*time.Second, func(i int) [][]byte {
			if i < slow {
				return requestFrames(uint64(i+1), 10_000, "sleep", nil, []byte("300"))
			}
			return requestFrames(uint64(1000+i), 1, "sleep", nil, []byte("5"))
		})
		if err != nil {
			t.Fatal(err)
		}
		waitCond(t, 10*time.Second, "the slow requests to be answered", func() bool { return replies.answered(0, 1000) == slow })
		w.check(t)
		// The requests queued behind the slow ones have been taken from
		// the queue by now (it is first in, first out; and on a node
		// that skips expired requests none of them runs anyway).
		var ran hostileRan
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := callNodeJSON(ctx, w.cli, h.name, "ran", nil, &ran); err != nil {
			t.Fatal(err)
		}
		t.Logf("handlers run: %d of %d slow requests, %d of %d requests that expired in the queue; %d handlers started past their deadline; replies to those: %v",
			ran.Sleep["300"], slow, ran.Sleep["5"], tiny, ran.Expired, replies.codes(1000, 2000))
		if ran.Sleep["5"] != 0 || ran.Expired != 0 {
			t.Errorf("%d requests whose 1 ms deadline passed while queued were run (%d handlers started past their deadline); want none",
				ran.Sleep["5"], ran.Expired)
		}
		h.checkAlive("")
	})
}

// hostileCancelBound bounds how long a handler's context outlives its
// caller's connection.
const hostileCancelBound = time.Second

// TestHostileCallerGone: callers with a 5 s deadline disconnect while
// their handlers ("block", which waits for its context) run; the
// handlers' contexts must end soon after, not at the deadline. The
// caller is a raw DEALER that closes its connection, or a child node
// killed with SIGKILL. On the code this test was written against the
// handlers ran to the 5 s deadline.
func TestHostileCallerGone(t *testing.T) {
	hostileEnv(t)
	for _, how := range []string{"close", "sigkill"} {
		t.Run(how, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, e *tenv) {
				h := startHostileNode(t, e, "hostile", "target")
				w := startWitness(t, e, h)
				n := hostileCallers
				var hangUp func()
				if how == "close" {
					a := dialAttacker(t, h.info.RPC, attackerOpts{})
					if _, err := floodConn(a, n, 5*time.Second, func(i int) [][]byte { return requestFrames(uint64(i+1), 5000, "block", nil, nil) }); err != nil {
						t.Fatal(err)
					}
					hangUp = func() { a.Close() }
				} else {
					c := startHostileNode(t, e, "hostcall", "caller")
					hangUp = func() {
						c.noted = true // its death is the point
						if err := syscall.Kill(c.pid, syscall.SIGKILL); err != nil {
							t.Fatal(err)
						}
					}
				}
				var b hostileBlocks
				readBlocks := func() bool {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					return callNodeJSON(ctx, w.cli, h.name, "cancelled", nil, &b) == nil
				}
				waitCond(t, 10*time.Second, "the calls to be running", func() bool { return readBlocks() && b.Started >= n })
				gone := time.Now()
				hangUp()
				ended := pollFor(8*time.Second, func() bool { return readBlocks() && b.Ended >= n })
				after := time.Unix(0, b.LastEnd).Sub(gone)
				t.Logf("caller gone (%s): %d of %d handler contexts ended, the last %v after the caller left (held at most %v; %v)",
					how, b.Ended, b.Started, after.Round(time.Millisecond), b.Held.Round(time.Millisecond), b.Errs)
				switch {
				case !ended:
					t.Errorf("%d of %d handler contexts still live 8 s after their caller left", b.Started-b.Ended, b.Started)
				case after > hostileCancelBound:
					t.Errorf("handler contexts ended %v after their caller left, want ≤ %v", after.Round(time.Millisecond), hostileCancelBound)
				}
				w.check(t)
				h.checkAlive("")
			})
		})
	}
}

// TestHostileLargeRequestsUnread: a raw DEALER that never reads sends
// 320 requests of 1 MiB to "block" (deadline 10 s) on a node with 8
// workers: 8 run, the others wait in the request queue, which on the
// code this test was written against is bounded by count (1024), not by
// bytes, and so holds them all. Under -race the node reads only 20-40
// MiB/s but the race detector's shadow makes its resident memory about
// 4 × the bodies it holds, so 96 requests are enough there.
//
// The well-behaved caller's figures are logged, not checked: a caller
// that fills every worker with long calls delays the others on any
// server whose queue is first in, first out.
func TestHostileLargeRequestsUnread(t *testing.T) {
	hostileEnv(t)
	eachTransport(t, func(t *testing.T, e *tenv) {
		h := startHostileNode(t, e, "hostile", "target", WithConcurrency(8, DefaultRequestQueue))
		mem := h.watchMem()
		w := startWitness(t, e, h)
		a := dialAttacker(t, h.info.RPC, attackerOpts{zmtp30: true})
		n := 320
		if raceBuild() {
			n = 96
		}
		frames := requestFrames(0, 10_000, "block", nil, make([]byte, 1<<20))
		hdr := frames[1]
		start := time.Now()
		sent, err := floodConn(a, n, 20*time.Second, func(i int) [][]byte {
			header{typ: typeRequest, id: uint64(i + 1), timeout: 10_000}.put(hdr)
			return frames
		})
		t.Logf("attacker: %d of %d requests of 1 MiB written in %v (write error: %v)", sent, n, time.Since(start).Round(time.Millisecond), err)
		// Watch the node for 1 s more.
		pollFor(time.Second, func() bool { return !h.alive() })
		t.Log(w.report())
		h.checkAlive("receiving large requests")
		mem.checkGrowth(t, hostileRSSBudget)
	})
}

// Budgets of TestHostileSubscriptionFlood.
const (
	// hostileSubscriptions is how many distinct prefixes the attacker
	// subscribes to.
	hostileSubscriptions = 100_000
	// hostileSubDigest bounds the time from the first subscription
	// written to the publisher dropping the attacker once it hangs up:
	// the publisher must take in (or refuse) the subscriptions at a
	// rate that does not depend on how many it holds.
	hostileSubDigest = 5 * time.Second
	// hostileSubRSSBudget bounds the publisher's memory growth.
	hostileSubRSSBudget = 128 << 20
	// hostilePublishMax bounds one Publish during the attack.
	hostilePublishMax = 100 * time.Millisecond
)

// TestHostileSubscriptionFlood: a raw SUB subscribes to 100k distinct
// prefixes. On the code this test was written against the publisher
// re-sorts the subscriber's whole prefix set on every subscription, on
// the connection's reader: it takes in a few thousand prefixes in the
// time budget and keeps burning a core after the attacker has gone.
func TestHostileSubscriptionFlood(t *testing.T) {
	hostileEnv(t)
	eachTransport(t, func(t *testing.T, e *tenv) {
		h := startHostileNode(t, e, "hostile", "target")
		mem := h.watchMem()
		w := startWitness(t, e, h)
		sub := e.subscribe(w.cli, hostileTopic)
		waitConnected(t, e.ctx(20*time.Second), sub, 1)
		got := countMessages(t, sub)

		a := dialAttacker(t, h.info.Pub, attackerOpts{typ: zmtp.Sub})
		start := time.Now()
		sent, err := floodConn(a, hostileSubscriptions, hostileSubDigest, func(i int) [][]byte {
			return [][]byte{fmt.Appendf([]byte{1}, "z%07d", i)}
		})
		written := time.Since(start)

		var pub hostilePublish
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pubErr := callNodeJSON(ctx, w.cli, h.name, "publish", []byte("200"), &pub)
		delivered := pollFor(5*time.Second, func() bool { return got.Load() >= 200 })

		a.Close()
		subscribers := -1
		dropped := pollFor(max(0, hostileSubDigest-time.Since(start)), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var st Stats
			if callNodeJSON(ctx, w.cli, h.name, IntrospectStats, nil, &st) == nil {
				subscribers = st.Server.Subscribers
			}
			return subscribers == 1
		})
		digest := time.Since(start)
		t.Logf("subscription flood: %d of %d subscriptions written in %v (write error: %v); attacker dropped after hanging up: %v (%v after the first subscription, %d subscribers left)",
			sent, hostileSubscriptions, written.Round(time.Millisecond), err, dropped, digest.Round(time.Millisecond), subscribers)
		t.Logf("publish during the flood: %+v (error %v); normal subscriber got %d of 200", pub, pubErr, got.Load())
		if sent < hostileSubscriptions || !dropped {
			t.Errorf("the publisher did not take in %d subscriptions and drop their hung-up sender within %v: %d written, subscribers left %d",
				hostileSubscriptions, hostileSubDigest, sent, subscribers)
		}
		if pubErr != nil || pub.Max > hostilePublishMax {
			t.Errorf("publishing during the flood: slowest Publish %v (budget %v), error %v", pub.Max, hostilePublishMax, pubErr)
		}
		if !delivered {
			t.Errorf("the normal subscriber got %d of 200 messages", got.Load())
		}
		w.check(t)
		h.checkAlive("under a subscription flood")
		mem.checkGrowth(t, hostileSubRSSBudget)
	})
}

// Budgets of TestHostileSmallBodiesPinArena.
const (
	// hostileKept is how many small bodies the test keeps.
	hostileKept = 20_000
	// hostileArenaPerBody bounds the heap a kept 16-byte body may
	// retain: 4 × its 16-byte size class plus a 48-byte allocation
	// holding its frame, with room to spare.
	hostileArenaPerBody = 128
)

// TestHostileSmallBodiesPinArena: a handler keeps the Request.Body of
// 20k 16-byte requests, and a subscriber the Message.Data of 20k
// 16-byte messages; each is interleaved with a 400-byte request or
// message that nobody keeps. On the code this test was written against
// small frames are carved out of a 16 KiB arena per connection, so each
// kept body retains its neighbours too (about 460 bytes here, and up to
// the whole 16 KiB arena for a body kept alone).
func TestHostileSmallBodiesPinArena(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		t.Run("requests", func(t *testing.T) { checkKeptBodies(t, keepRequestBodies(t, e)) })
		t.Run("messages", func(t *testing.T) { checkKeptBodies(t, keepMessageData(t, e)) })
	})
}

// checkKeptBodies measures the heap that kept retains, by dropping it.
func checkKeptBodies(t *testing.T, kept *keptBodies) {
	t.Helper()
	kept.mu.Lock()
	n := len(kept.b)
	kept.mu.Unlock()
	with := heapInUse()
	kept.mu.Lock()
	clear(kept.b)
	kept.mu.Unlock()
	without := heapInUse()
	retained := with - min(with, without)
	per := retained / uint64(max(n, 1))
	t.Logf("%d bodies of 16 bytes kept retain %d KiB of heap: %d bytes each (budget %d)", n, retained>>10, per, hostileArenaPerBody)
	if n != hostileKept {
		t.Errorf("kept %d bodies, want %d", n, hostileKept)
	}
	if per > hostileArenaPerBody {
		t.Errorf("each kept 16-byte body retains %d bytes of heap, budget %d", per, hostileArenaPerBody)
	}
}

// keptBodies is what a handler or subscriber kept.
type keptBodies struct {
	mu sync.Mutex
	b  [][]byte
}

func (k *keptBodies) keep(b []byte) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.b = append(k.b, b)
	return len(k.b)
}

func (k *keptBodies) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.b)
}

// keepRequestBodies sends hostileKept pairs of requests on one raw
// DEALER to a peer that keeps the 16-byte body of the first of each pair.
func keepRequestBodies(t *testing.T, e *tenv) *keptBodies {
	t.Helper()
	kept := &keptBodies{b: make([][]byte, 0, hostileKept)}
	srv := e.peer("keeper")
	err := srv.HandleFunc("keep", func(_ context.Context, r *Request) ([]byte, error) {
		kept.keep(r.Body)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleFunc("skip", func(context.Context, *Request) ([]byte, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	c := dialZMTP(t, srv.Info().RPC, zmtp.Dealer)
	var (
		wg      sync.WaitGroup
		replies atomic.Int64
		readErr error
	)
	wg.Go(func() {
		for replies.Load() < 2*hostileKept {
			if _, readErr = c.ReadMessage(); readErr != nil {
				return
			}
			replies.Add(1)
		}
	})
	t.Cleanup(wg.Wait)
	t.Cleanup(func() { c.Close() }) // runs first: ends the reader
	small, large := make([]byte, 16), make([]byte, 400)
	const batch = 256 // pairs in flight at most, well under the request queue
	for sent := 0; sent < 2*hostileKept; {
		n, err := floodConn(c, min(2*batch, 2*hostileKept-sent), 10*time.Second, func(i int) [][]byte {
			if i%2 == 0 {
				return requestFrames(uint64(sent+i), 0, "keep", nil, small)
			}
			return requestFrames(uint64(sent+i), 0, "skip", nil, large)
		})
		if err != nil {
			t.Fatal(err)
		}
		sent += n
		waitCond(t, 10*time.Second, "the replies", func() bool { return replies.Load() == int64(sent) })
	}
	return kept
}

// keepMessageData publishes hostileKept pairs of messages, on a topic
// whose 16-byte messages a subscriber keeps and on one whose 400-byte
// messages it drops, both from one publisher (so over one connection).
func keepMessageData(t *testing.T, e *tenv) *keptBodies {
	t.Helper()
	kept := &keptBodies{b: make([][]byte, 0, hostileKept)}
	pub, cli := e.peer("pub"), e.peer("sub")
	mustAdvertise(t, pub, "keep")
	mustAdvertise(t, pub, "skip")
	keep, skip := e.subscribe(cli, "keep"), e.subscribe(cli, "skip")
	ctx := e.ctx(60 * time.Second)
	waitConnected(t, ctx, keep, 1)
	waitConnected(t, ctx, skip, 1)
	skipped := countMessages(t, skip)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range keep.C() {
			if kept.keep(m.Data) == hostileKept {
				return
			}
		}
	})
	t.Cleanup(func() {
		keep.Close() // ends the loop if it is still waiting
		wg.Wait()
	})
	small, large := make([]byte, 16), make([]byte, 400)
	for i := range hostileKept {
		mustPublish(t, pub, "keep", small)
		mustPublish(t, pub, "skip", large)
		if i%200 == 199 { // pacing, so that no queue overflows
			pollFor(10*time.Second, func() bool { return kept.len() > i-100 && skipped.Load() > uint64(i-100) })
		}
	}
	waitCond(t, 20*time.Second, "the kept messages", func() bool { return kept.len() == hostileKept })
	if st := keep.Stats(); st.Dropped+st.Missed > 0 {
		t.Fatalf("subscription lost messages: %+v", st)
	}
	return kept
}
