package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

const converge = 15 * time.Second // generous: the machine is shared

func TestReplicaSnapshotThenUpdates(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	for i := range 100 {
		srv.set(fmt.Sprintf("k%03d", i), []byte(fmt.Sprint("v", i)), 0)
	}
	var mu sync.Mutex
	changes := map[string]bool{}
	r := newReplica(t, newPeer(t, reg, "reader"), "kv", WithOnChange(func(key string, deleted bool) {
		mu.Lock()
		changes[key] = deleted
		mu.Unlock()
	}))
	waitSynced(t, r, converge)
	if r.Len() != 100 {
		t.Fatalf("after the snapshot: %d entries, want 100", r.Len())
	}
	for i := range 50 {
		srv.set(fmt.Sprintf("k%03d", i), []byte(fmt.Sprint("w", i)), 0)
	}
	srv.del("k099")
	srv.set("new", []byte("n"), 0)
	waitConverged(t, r, srv.truth, converge)
	st := r.Status()
	if st.Applied != 52 || st.Syncs != 1 || st.Resyncs != 0 || st.Gaps != 0 || st.Malformed != 0 {
		t.Fatalf("status %+v: want 52 applied, one sync, no resync, gap or malformed update", st)
	}
	if v, ok := r.Get("k007"); !ok || string(v) != "w7" {
		t.Fatalf("Get(k007) = %q, %v", v, ok)
	}
	if it, ok := r.Lookup("new"); !ok || it.Version != 152 || !it.Expires.IsZero() {
		t.Fatalf("Lookup(new) = %+v, %v; want version 152, no expiry", it, ok)
	}
	mu.Lock()
	defer mu.Unlock()
	if del, ok := changes["k099"]; !ok || !del {
		t.Errorf("no deletion reported for k099: %v %v", del, ok)
	}
	if del, ok := changes["new"]; !ok || del {
		t.Errorf("no set reported for new: %v %v", del, ok)
	}
	if len(changes) != 101 {
		t.Errorf("%d keys reported, want 101 (the first snapshot's 100 at the swap, then new)", len(changes))
	}
}

func TestReplicaGapResync(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.set("a", []byte("1"), 0)
	var dropped atomic.Int64
	r := newReplica(t, newPeer(t, reg, "reader"), "kv", withHooks(replicaHooks{drop: func(u update) bool {
		// Lose two writes, once each: the replica must see the gaps.
		if u.kind != kindHeartbeat && (u.seq == 5 || u.seq == 9) && dropped.Load() < 2 {
			dropped.Add(1)
			return true
		}
		return false
	}}))
	waitSynced(t, r, converge)
	for i := range 20 {
		srv.set(fmt.Sprint("k", i%7), []byte(fmt.Sprint(i)), 0)
	}
	waitConverged(t, r, srv.truth, converge)
	st := r.Status()
	if dropped.Load() == 0 || st.Gaps == 0 || st.Resyncs == 0 {
		t.Fatalf("dropped %d, status %+v: want gaps seen and resyncs", dropped.Load(), st)
	}
}

// TestReplicaGapAtTheEnd loses the last write: only the heartbeat can
// tell.
func TestReplicaGapAtTheEnd(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	r := newReplica(t, newPeer(t, reg, "reader"), "kv", withHooks(replicaHooks{drop: func(u update) bool {
		return u.kind == kindSet && u.key == "last"
	}}))
	waitSynced(t, r, converge)
	srv.set("last", []byte("x"), 0)
	srv.heartbeats(100 * time.Millisecond)
	waitConverged(t, r, srv.truth, converge)
	if st := r.Status(); st.Gaps == 0 {
		t.Fatalf("status %+v: the heartbeat's gap was not counted", st)
	}
}

func TestReplicaServerRestart(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.heartbeats(100 * time.Millisecond)
	srv.set("old", []byte("1"), 0)
	srv.set("both", []byte("1"), 0)
	rs := []*Replica{newReplica(t, newPeer(t, reg, "r1"), "kv"), newReplica(t, newPeer(t, reg, "r2"), "kv")}
	for _, r := range rs {
		waitConverged(t, r, srv.truth, converge)
	}
	oldEpoch, _ := srv.lastSeq()
	srv.close()

	srv2 := newFakeServer(t, reg, "kv") // same name, new epoch, new contents
	srv2.set("both", []byte("2"), 0)
	srv2.set("new", []byte("2"), 0)
	srv2.heartbeats(100 * time.Millisecond)
	for _, r := range rs {
		waitConverged(t, r, srv2.truth, converge)
		if st := r.Status(); st.Epoch == oldEpoch || st.Resyncs == 0 {
			t.Fatalf("status %+v after the restart", st)
		}
	}
}

func TestReplicaSlowConsumer(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	var slow atomic.Bool
	slow.Store(true)
	r := newReplica(t, newPeer(t, reg, "reader"), "kv", WithSubscriptionQueue(8),
		withHooks(replicaHooks{beforeApply: func(update) {
			if slow.Load() {
				time.Sleep(2 * time.Millisecond)
			}
		}}))
	waitSynced(t, r, converge)
	for i := range 2000 {
		srv.set(fmt.Sprint("k", i%50), []byte(fmt.Sprint(i)), 0)
	}
	waitUntil(t, converge, "no drop seen", func() bool { return r.Stats().Subscription.Dropped > 0 })
	slow.Store(false)
	srv.set("end", []byte("x"), 0)
	waitConverged(t, r, srv.truth, converge)
	if st := r.Status(); st.Gaps == 0 || st.Resyncs == 0 {
		t.Fatalf("status %+v: drops should count as gaps and resync", st)
	}
}

func TestReplicaDeadServerStaleThenLive(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.set("a", []byte("1"), 0)
	srv.heartbeats(50 * time.Millisecond)
	r := newReplica(t, newPeer(t, reg, "reader"), "kv")
	waitSynced(t, r, converge)
	srv.stopHeartbeats()
	// Default dead-after: 3 heartbeat intervals as announced, 150 ms.
	waitUntil(t, converge, "not stale after the heartbeats stopped", func() bool { return r.Status().State == ReplicaStale })
	if v, ok := r.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("stale replica's Get(a) = %q, %v", v, ok)
	}
	syncs := r.Status().Syncs
	srv.set("b", []byte("2"), 0)
	srv.heartbeats(50 * time.Millisecond)
	waitConverged(t, r, srv.truth, converge)
	if st := r.Status(); st.Syncs <= syncs {
		t.Fatalf("status %+v: coming back from stale should resync", st)
	}
}

func TestReplicaEphemeralExpiresWithoutServer(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.set("keep", []byte("k"), 0)
	srv.set("snap-eph", []byte("s"), 2*time.Second) // arrives in the snapshot
	var expired sync.Map
	r := newReplica(t, newPeer(t, reg, "reader"), "kv", WithOnChange(func(key string, deleted bool) {
		if deleted {
			expired.Store(key, true)
		}
	}))
	waitSynced(t, r, converge)
	srv.set("upd-eph", []byte("u"), 500*time.Millisecond) // arrives as an update
	waitUntil(t, converge, "upd-eph not applied", func() bool { _, ok := r.Get("upd-eph"); return ok })
	if it, _ := r.Lookup("snap-eph"); it.Expires.IsZero() {
		t.Fatalf("snap-eph held without expiry: %+v", it)
	}
	srv.close() // no server, no deletes published: the replica expires them itself
	waitUntil(t, converge, "ephemeral keys not expired", func() bool {
		_, a := r.Get("upd-eph")
		_, b := r.Get("snap-eph")
		return !a && !b
	})
	if _, ok := r.Get("keep"); !ok {
		t.Fatal("a persistent key went too")
	}
	// Reads hide an entry as soon as it is past its time; the store's
	// expiry goroutine removes and reports it within moments.
	waitUntil(t, converge, "expiries not reported", func() bool {
		_, a := expired.Load("upd-eph")
		_, b := expired.Load("snap-eph")
		return a && b && r.Status().Expired == 2
	})
}

func TestReplicaCloseAndStats(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.set("a", []byte("1"), 0)
	p := newPeer(t, reg, "reader")
	r := newReplica(t, p, "kv")
	waitSynced(t, r, converge)
	if _, ok := p.Stats().Extra["cache.replica.kv"]; !ok {
		t.Fatalf("no cache.replica.kv in the peer's stats: %v", p.Stats().Extra)
	}
	if _, err := NewReplica(context.Background(), p, "kv"); !errors.Is(err, core.ErrStatsTaken) {
		t.Fatalf("a second replica of kv on one peer: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSynced(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitSynced after Close: %v", err)
	}
	if v, ok := r.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("Get after Close: %q %v", v, ok)
	}
	if _, ok := p.Stats().Extra["cache.replica.kv"]; ok {
		t.Fatal("stats still there after Close")
	}
}

func TestReplicaWaitSyncedNoServer(t *testing.T) {
	reg := core.NewMemRegistry()
	r := newReplica(t, newPeer(t, reg, "reader"), "kv")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := r.WaitSynced(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced without a server: %v", err)
	}
	if st := r.Status(); st.State != ReplicaSyncing {
		t.Fatalf("state %v, want syncing", st.State)
	}
}

func TestReplicaOptions(t *testing.T) {
	p := newPeer(t, core.NewMemRegistry(), "reader")
	for name, o := range map[string]ReplicaOption{
		"queue":        WithSubscriptionQueue(0),
		"dead":         WithDeadAfter(0),
		"value":        WithMaxValue(0),
		"snapshot":     WithMaxSnapshot(10),
		"buffer":       WithSyncBuffer(0, 1),
		"buffer bytes": WithSyncBuffer(1, 0),
		"timeout":      WithSnapshotTimeout(-time.Second),
		"backoff":      WithResyncBackoff(time.Second, time.Millisecond),
		"backoff zero": WithResyncBackoff(0, time.Second),
		"change":       WithOnChange(nil),
		"store ttl":    WithStore(WithTTL(time.Second)),
		"store sizer":  WithStore(WithSizer(func(replicaValue) int { return 0 })),
		"store bad":    WithStore(WithMaxEntries(0)),
		"nil":          nil,
	} {
		if _, err := NewReplica(context.Background(), p, "kv", o); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: %v, want ErrBadOption", name, err)
		}
	}
	if _, err := NewReplica(context.Background(), nil, "kv"); !errors.Is(err, ErrBadOption) {
		t.Errorf("nil peer: %v", err)
	}
	r, err := NewReplica(context.Background(), p, "kv", WithStore(WithMaxEntries(10), WithPolicy(ARC)), WithDeadAfter(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

func TestReplicaPeerClosedFirst(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.set("a", []byte("1"), 0)
	p := newPeer(t, reg, "reader")
	r := newReplica(t, p, "kv")
	waitSynced(t, r, converge)
	p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), converge)
	defer cancel()
	waitUntil(t, converge, "WaitSynced does not see the peer closed", func() bool {
		return errors.Is(r.WaitSynced(ctx), ErrClosed)
	})
	if v, ok := r.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("Get with the peer closed: %q %v", v, ok)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReplicaLateUpdateBeforeSnapshot: pub/sub may deliver an update
// after the snapshot that already holds it has been downloaded (the
// stream can be faster than the topic). Such an update, and a late
// heartbeat, are old news, not a fault: no resync, nothing malformed.
func TestReplicaLateUpdateBeforeSnapshot(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	for i := range 10 {
		srv.set(fmt.Sprint("k", i), []byte("v"), 0)
	}
	r := newReplica(t, newPeer(t, reg, "reader"), "kv")
	waitSynced(t, r, converge)
	_, seq := srv.lastSeq()
	// What a late delivery looks like: writes and a heartbeat the
	// snapshot already covers.
	srv.mu.Lock()
	srv.publish(update{kind: kindSet, epoch: srv.epoch, seq: seq - 1, key: "k8", value: []byte("old")})
	srv.publish(update{kind: kindHeartbeat, epoch: srv.epoch, seq: seq - 1, interval: time.Second})
	srv.mu.Unlock()
	srv.set("after", []byte("a"), 0)
	waitConverged(t, r, srv.truth, converge)
	if st := r.Status(); st.Malformed != 0 || st.Resyncs != 0 || st.Gaps != 0 {
		t.Fatalf("status %+v: a late update counted as a fault", st)
	}
	if v, _ := r.Get("k8"); string(v) != "v" {
		t.Fatalf("a late update was applied: k8 = %q", v)
	}
}
