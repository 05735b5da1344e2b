package cache

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Replicas of the real server (NewServer), compared with its snapshot.

// serverTruth reads the server's state from its snapshot, through p.
func serverTruth(t *testing.T, p *core.Peer, name string) truth {
	return func() (map[string]string, uint64, uint64) {
		h, recs := download(t, p, name)
		out := map[string]string{}
		for k, r := range recs {
			out[k] = fmt.Sprintf("%s@%d", r.value, r.version)
		}
		return out, h.epoch, h.seq
	}
}

func startServer(t *testing.T, e *senv, peerName string, opts ...ServerOption) (*core.Peer, *Server) {
	t.Helper()
	p := e.peer(peerName)
	s, err := NewServer(p, "kv", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return p, s
}

// writeRandom makes n random writes through c: sets with and without
// TTLs, CAS, deletes, on a small key space.
func writeRandom(t *testing.T, c *Client, rng *rand.Rand, n int) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for i := range n {
		key := fmt.Sprint("k", rng.IntN(40))
		var err error
		switch rng.IntN(10) {
		case 0, 1:
			_, err = c.Delete(ctx, key)
		case 2:
			_, err = c.Set(ctx, key, []byte(fmt.Sprint("ttl", i)), time.Hour)
		case 3:
			if _, ver, gerr := c.Get(ctx, key); gerr == nil {
				_, err = c.CompareAndSet(ctx, key, ver, []byte(fmt.Sprint("cas", i)), 0)
			}
		default:
			_, err = c.Set(ctx, key, []byte(fmt.Sprint("v", i)), 0)
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
}

func TestReplicaOfServerConverges(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *senv) {
		sp, _ := startServer(t, e, "cache-node")
		c, err := NewClient(e.peer("writer"), "kv")
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		writeRandom(t, c, rng, 100) // before the replicas: in their snapshots
		var rs []*Replica
		for i := range 3 {
			rs = append(rs, newReplica(t, e.peer(fmt.Sprint("replica", i)), "kv"))
		}
		writeRandom(t, c, rng, 300) // while they sync and after
		for _, r := range rs {
			waitConverged(t, r, serverTruth(t, sp, "kv"), converge)
			if st := r.Status(); st.Gaps != 0 || st.Malformed != 0 {
				t.Errorf("status %+v: gaps or malformed updates from an honest server", st)
			}
		}
	})
}

func TestReplicaOfServerInjectedLoss(t *testing.T) {
	e := newSenv(t, core.TCP)
	sp, _ := startServer(t, e, "cache-node")
	c, err := NewClient(e.peer("writer"), "kv")
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int64
	r := newReplica(t, e.peer("replica"), "kv", withHooks(replicaHooks{drop: func(u update) bool {
		if u.kind != kindHeartbeat && u.seq%37 == 0 && dropped.Load() < 5 {
			dropped.Add(1)
			return true
		}
		return false
	}}))
	waitSynced(t, r, converge)
	writeRandom(t, c, rand.New(rand.NewPCG(3, 4)), 400)
	waitConverged(t, r, serverTruth(t, sp, "kv"), converge)
	if st := r.Status(); dropped.Load() == 0 || st.Gaps == 0 || st.Resyncs == 0 {
		t.Fatalf("dropped %d, status %+v", dropped.Load(), st)
	}
}

func TestReplicaOfServerRestart(t *testing.T) {
	e := newSenv(t, core.TCP)
	sp, s := startServer(t, e, "cache-node", WithServerHeartbeat(50*time.Millisecond))
	c, err := NewClient(e.peer("writer"), "kv")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 30*time.Second)
	c.Set(ctx, "before", []byte("1"), 0)
	r := newReplica(t, e.peer("replica"), "kv")
	waitConverged(t, r, serverTruth(t, sp, "kv"), converge)
	epoch := r.Status().Epoch

	s.Close()
	sp.Close()
	t0 := time.Now()
	waitUntil(t, converge, "not stale with the server gone", func() bool { return r.Status().State == ReplicaStale })
	t.Logf("stale %v after the server closed", time.Since(t0))
	if v, ok := r.Get("before"); !ok || string(v) != "1" {
		t.Fatalf("stale read: %q %v", v, ok)
	}

	t0 = time.Now()
	sp2, _ := startServer(t, e, "cache-node", WithServerHeartbeat(50*time.Millisecond))
	t.Logf("new server up in %v", time.Since(t0))
	if _, err := c.Set(ctx, "after", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	waitConverged(t, r, serverTruth(t, sp2, "kv"), converge)
	t.Logf("converged %v after the new server started; status %+v", time.Since(t0), r.Status())
	if _, ok := r.Get("before"); ok {
		t.Fatal("a key of the old incarnation survived its resync")
	}
	if st := r.Status(); st.Epoch == epoch || st.Resyncs == 0 {
		t.Fatalf("status %+v after the restart", st)
	}
}

func TestReplicaOfServerSlowConsumer(t *testing.T) {
	e := newSenv(t, core.TCP)
	sp, _ := startServer(t, e, "cache-node")
	c, err := NewClient(e.peer("writer"), "kv")
	if err != nil {
		t.Fatal(err)
	}
	var slow atomic.Bool
	slow.Store(true)
	r := newReplica(t, e.peer("replica"), "kv", WithSubscriptionQueue(4), withHooks(replicaHooks{
		beforeApply: func(update) {
			if slow.Load() {
				time.Sleep(5 * time.Millisecond)
			}
		}}))
	waitSynced(t, r, converge)
	// Writes from several callers, so that they come faster than the
	// replica applies them.
	done := make(chan struct{})
	for w := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			ctx := testCtx(t, 30*time.Second)
			for i := range 200 {
				c.Set(ctx, fmt.Sprint("k", w, "-", i%20), []byte(fmt.Sprint(i)), 0)
			}
		}()
	}
	for range 4 {
		<-done
	}
	waitUntil(t, converge, "no drop", func() bool { return r.Stats().Subscription.Dropped > 0 })
	slow.Store(false)
	waitConverged(t, r, serverTruth(t, sp, "kv"), converge)
	if st := r.Status(); st.Gaps == 0 || st.Resyncs == 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestReplicaOfServerEphemeral(t *testing.T) {
	e := newSenv(t, core.TCP)
	sp, s := startServer(t, e, "cache-node")
	c, err := NewClient(e.peer("writer"), "kv")
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, e.peer("replica"), "kv")
	waitSynced(t, r, converge)
	ctx := testCtx(t, 30*time.Second)
	c.Set(ctx, "session", []byte("s"), 800*time.Millisecond)
	c.Set(ctx, "config", []byte("c"), 0)
	waitConverged(t, r, serverTruth(t, sp, "kv"), converge)
	s.Close()
	sp.Close() // gone: nobody will publish the expiry
	waitUntil(t, converge, "session not expired on the replica", func() bool { _, ok := r.Get("session"); return !ok })
	if _, ok := r.Get("config"); !ok {
		t.Fatal("config went too")
	}
}

// Entries the server evicts for room leave the replicas too.
func TestReplicaOfServerEvictions(t *testing.T) {
	e := newSenv(t, core.TCP)
	sp, _ := startServer(t, e, "cache-node", WithServerMaxEntries(10))
	c, err := NewClient(e.peer("writer"), "kv")
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, e.peer("replica"), "kv")
	waitSynced(t, r, converge)
	ctx := testCtx(t, 30*time.Second)
	for i := range 50 {
		c.Set(ctx, fmt.Sprint("k", i), []byte("v"), 0)
	}
	waitConverged(t, r, serverTruth(t, sp, "kv"), converge)
	if r.Len() != 10 {
		t.Fatalf("%d entries on the replica, the server holds 10", r.Len())
	}
}

func TestReplicaOfServerOverCurve(t *testing.T) {
	srvKP, repKP, cliKP := genKeys(t), genKeys(t), genKeys(t)
	e := newSenv(t, core.TCP)
	sp := e.peer("cache-node", core.WithSecurity(curveSecurity(t, srvKP, repKP.Public, cliKP.Public)))
	s, err := NewServer(sp, "kv")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := NewClient(e.peer("writer", core.WithSecurity(curveSecurity(t, cliKP, srvKP.Public))), "kv")
	if err != nil {
		t.Fatal(err)
	}
	rp := e.peer("replica", core.WithSecurity(curveSecurity(t, repKP, srvKP.Public)))
	rng := rand.New(rand.NewPCG(5, 6))
	writeRandom(t, c, rng, 50)
	r := newReplica(t, rp, "kv")
	writeRandom(t, c, rng, 150)
	waitConverged(t, r, serverTruth(t, rp, "kv"), converge)
}
