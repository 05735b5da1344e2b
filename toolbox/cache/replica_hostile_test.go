package cache

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// hostileOpts are a replica's bounds in the misbehaving-server tests.
func hostileOpts() []ReplicaOption {
	return []ReplicaOption{
		WithMaxValue(64 << 10), WithMaxSnapshot(1 << 20), WithSnapshotTimeout(time.Second),
		WithResyncBackoff(20*time.Millisecond, 200*time.Millisecond),
	}
}

// TestReplicaHostileUpdates: a live replica given bad updates counts
// them, never applies them, and comes back in sequence.
func TestReplicaHostileUpdates(t *testing.T) {
	cases := []struct {
		name  string
		send  func(f *fakeServer)
		count func(ReplicaStatus) uint64
	}{
		{"undecodable", func(f *fakeServer) { f.raw([]byte{kindSet, 1, 2, 3}) },
			func(s ReplicaStatus) uint64 { return s.Malformed }},
		{"unknown kind", func(f *fakeServer) { f.raw(make([]byte, 17)) },
			func(s ReplicaStatus) uint64 { return s.Malformed }},
		{"stale epoch", func(f *fakeServer) {
			e, s := f.lastSeq()
			f.raw(appendUpdate(nil, update{kind: kindSet, epoch: e + 1, seq: s + 1, key: "evil", value: []byte("x")}))
		}, func(s ReplicaStatus) uint64 { return s.EpochChanges }},
		{"seq going back", func(f *fakeServer) {
			// Back to a write applied live, after the snapshot: an
			// update the snapshot covers may come late, and is ignored.
			e, s := f.lastSeq()
			f.set("x1", []byte("1"), 0)
			f.set("x2", []byte("2"), 0)
			f.raw(appendUpdate(nil, update{kind: kindSet, epoch: e, seq: s + 1, key: "evil", value: []byte("x")}))
		}, func(s ReplicaStatus) uint64 { return s.Malformed }},
		{"seq skipping", func(f *fakeServer) {
			e, s := f.lastSeq()
			f.raw(appendUpdate(nil, update{kind: kindSet, epoch: e, seq: s + 5, key: "evil", value: []byte("x")}))
		}, func(s ReplicaStatus) uint64 { return s.Gaps }},
		{"huge value", func(f *fakeServer) {
			e, s := f.lastSeq()
			f.raw(appendUpdate(nil, update{kind: kindSet, epoch: e, seq: s + 1, key: "evil", value: make([]byte, 128<<10)}))
		}, func(s ReplicaStatus) uint64 { return s.Malformed }},
		{"heartbeat ahead", func(f *fakeServer) {
			e, s := f.lastSeq()
			f.raw(appendUpdate(nil, update{kind: kindHeartbeat, epoch: e, seq: s + 3, interval: time.Second}))
		}, func(s ReplicaStatus) uint64 { return s.Gaps }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := core.NewMemRegistry()
			srv := newFakeServer(t, reg, "kv")
			srv.set("a", []byte("1"), 0)
			r := newReplica(t, newPeer(t, reg, "reader"), "kv", hostileOpts()...)
			waitConverged(t, r, srv.truth, converge)
			before := tc.count(r.Status())
			tc.send(srv)
			waitUntil(t, converge, "bad update not counted", func() bool { return tc.count(r.Status()) > before })
			srv.set("b", []byte("2"), 0)
			waitConverged(t, r, srv.truth, converge)
			if _, ok := r.Get("evil"); ok {
				t.Fatal("a bad update was applied")
			}
		})
	}
}

// TestReplicaHostileSnapshots: a replica given bad snapshots counts
// them, stays syncing with bounded memory, and syncs once the server
// behaves.
func TestReplicaHostileSnapshots(t *testing.T) {
	type snapFunc = func(ctx context.Context, w io.Writer, h snapHeader, recs []snapRecord) error
	write := func(w io.Writer, h snapHeader, recs []snapRecord) error {
		b := appendSnapHeader(nil, h)
		for _, r := range recs {
			b = appendSnapRecord(b, r)
		}
		_, err := w.Write(b)
		return err
	}
	cases := []struct {
		name      string
		snap      snapFunc
		malformed bool
	}{
		{"count too high", func(_ context.Context, w io.Writer, h snapHeader, recs []snapRecord) error {
			h.count += 5
			return write(w, h, recs)
		}, true},
		{"count too low", func(_ context.Context, w io.Writer, h snapHeader, recs []snapRecord) error {
			h.count--
			return write(w, h, recs)
		}, true},
		{"bad magic", func(_ context.Context, w io.Writer, h snapHeader, recs []snapRecord) error {
			_, err := w.Write([]byte("HTTP/1.1 200 OK\r\n\r\n....................."))
			return err
		}, true},
		{"huge value", func(_ context.Context, w io.Writer, h snapHeader, recs []snapRecord) error {
			recs = append(recs, snapRecord{key: "evil", value: make([]byte, 128<<10)})
			h.count++
			return write(w, h, recs)
		}, true},
		{"endless", func(ctx context.Context, w io.Writer, h snapHeader, _ []snapRecord) error {
			h.count = 1 << 62
			if _, err := w.Write(appendSnapHeader(nil, h)); err != nil {
				return err
			}
			rec := appendSnapRecord(nil, snapRecord{key: "k", value: bytes.Repeat([]byte("v"), 32<<10)})
			for ctx.Err() == nil {
				if _, err := w.Write(rec); err != nil {
					return err
				}
			}
			return ctx.Err()
		}, true},
		{"stalls", func(ctx context.Context, w io.Writer, h snapHeader, _ []snapRecord) error {
			if _, err := w.Write(appendSnapHeader(nil, h)); err != nil {
				return err
			}
			<-ctx.Done()
			return ctx.Err()
		}, false},
		{"fails", func(context.Context, io.Writer, snapHeader, []snapRecord) error {
			return core.NewError(core.CodeHandler, "no snapshot today")
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := core.NewMemRegistry()
			srv := newFakeServer(t, reg, "kv")
			srv.set("a", []byte("1"), 0)
			srv.set("b", []byte("2"), 0)
			srv.setSnap(tc.snap)
			heap0 := heapInUse()
			r := newReplica(t, newPeer(t, reg, "reader"), "kv", hostileOpts()...)
			waitUntil(t, converge, "fewer than 2 failed snapshots", func() bool { return r.Status().SnapshotFailures >= 2 })
			st := r.Status()
			if st.State != ReplicaSyncing || r.Len() != 0 {
				t.Fatalf("after bad snapshots: state %v, %d entries", st.State, r.Len())
			}
			if tc.malformed && st.Malformed == 0 {
				t.Fatalf("status %+v: bad snapshots not counted as malformed", st)
			}
			if grew := int64(heapInUse()) - int64(heap0); grew > 48<<20 {
				t.Fatalf("heap grew by %d MiB", grew>>20)
			}
			srv.setSnap(nil)
			waitConverged(t, r, srv.truth, converge)
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestReplicaStaleWhileResyncing: the server stops answering snapshots
// and goes silent while the replica resynchronises: it turns stale,
// keeps its copy, and comes back once the server does.
func TestReplicaStaleWhileResyncing(t *testing.T) {
	reg := core.NewMemRegistry()
	srv := newFakeServer(t, reg, "kv")
	srv.set("a", []byte("1"), 0)
	r := newReplica(t, newPeer(t, reg, "reader"), "kv", append(hostileOpts(), WithDeadAfter(300*time.Millisecond))...)
	waitConverged(t, r, srv.truth, converge)
	srv.setSnap(func(context.Context, io.Writer, snapHeader, []snapRecord) error {
		return core.NewError(core.CodeHandler, "busy")
	})
	e, s := srv.lastSeq()
	srv.raw(appendUpdate(nil, update{kind: kindHeartbeat, epoch: e, seq: s + 1, interval: time.Second})) // a gap
	waitUntil(t, converge, "not stale", func() bool { return r.Status().State == ReplicaStale })
	if st := r.Status(); st.SnapshotFailures == 0 {
		t.Fatalf("status %+v: the resync should have failed", st)
	}
	if v, ok := r.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("stale copy lost: %q %v", v, ok)
	}
	srv.setSnap(nil)
	srv.set("b", []byte("2"), 0)
	srv.heartbeats(50 * time.Millisecond)
	waitConverged(t, r, srv.truth, converge)
}
