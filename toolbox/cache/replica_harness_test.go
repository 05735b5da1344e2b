package cache

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// fakeServer is a scripted cache server: it keeps contents, publishes
// each write on <name>.updates with appendUpdate and serves
// <name>.snapshot, and can be told to misbehave.
type fakeServer struct {
	t    *testing.T
	name string
	p    *core.Peer

	mu    sync.Mutex
	epoch uint64
	seq   uint64
	data  map[string]fakeEntry
	// snap, when set, writes the snapshot instead of the honest one.
	snap func(ctx context.Context, w io.Writer, h snapHeader, recs []snapRecord) error

	hbStop chan struct{}
	hbWG   sync.WaitGroup
	closed bool
}

type fakeEntry struct {
	value   []byte
	version uint64
	expires time.Time
}

func newPeer(t *testing.T, reg core.Registry, name string, opts ...core.Option) *core.Peer {
	t.Helper()
	opts = append([]core.Option{core.WithRegistry(reg), core.WithDiscoveryInterval(50 * time.Millisecond)}, opts...)
	p, err := core.NewPeer(context.Background(), name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newFakeServer(t *testing.T, reg core.Registry, name string, opts ...core.Option) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, name: name, epoch: rand.Uint64() | 1, data: map[string]fakeEntry{}}
	f.p = newPeer(t, reg, name+"-server", opts...)
	if err := f.p.Advertise(name + ".updates"); err != nil {
		t.Fatal(err)
	}
	err := f.p.HandleStream(name+".snapshot", core.StreamHandlerFunc(f.serveSnapshot))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.close)
	return f
}

func (f *fakeServer) serveSnapshot(ctx context.Context, req *core.StreamRequest) ([]byte, error) {
	f.mu.Lock()
	h := snapHeader{epoch: f.epoch, seq: f.seq}
	now := time.Now()
	var recs []snapRecord
	for k, e := range f.data {
		var ttl time.Duration
		if !e.expires.IsZero() {
			if ttl = e.expires.Sub(now); ttl <= 0 {
				continue
			}
		}
		recs = append(recs, snapRecord{key: k, version: e.version, ttl: ttl, value: e.value})
	}
	h.count = uint64(len(recs))
	snap := f.snap
	f.mu.Unlock()
	if snap != nil {
		return nil, snap(ctx, req.Reply, h, recs)
	}
	b := appendSnapHeader(nil, h)
	for _, rec := range recs {
		b = appendSnapRecord(b, rec)
	}
	_, err := req.Reply.Write(b)
	return nil, err
}

// publish sends u, under f.mu so that updates leave in seq order.
func (f *fakeServer) publish(u update) {
	if err := f.p.Publish(f.name+".updates", appendUpdate(nil, u)); err != nil {
		f.t.Errorf("publish: %v", err)
	}
}

func (f *fakeServer) set(key string, value []byte, ttl time.Duration) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	e := fakeEntry{value: value, version: f.seq}
	if ttl > 0 {
		e.expires = time.Now().Add(ttl)
	}
	f.data[key] = e
	f.publish(update{kind: kindSet, epoch: f.epoch, seq: f.seq, key: key, value: value, ttl: ttl})
	return f.seq
}

func (f *fakeServer) del(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	delete(f.data, key)
	f.publish(update{kind: kindDelete, epoch: f.epoch, seq: f.seq, key: key, reason: Deleted})
}

func (f *fakeServer) heartbeat(interval time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publish(update{kind: kindHeartbeat, epoch: f.epoch, seq: f.seq, interval: interval})
}

// raw publishes bytes as they are.
func (f *fakeServer) raw(b []byte) {
	if err := f.p.Publish(f.name+".updates", b); err != nil {
		f.t.Errorf("publish: %v", err)
	}
}

func (f *fakeServer) setSnap(s func(ctx context.Context, w io.Writer, h snapHeader, recs []snapRecord) error) {
	f.mu.Lock()
	f.snap = s
	f.mu.Unlock()
}

// heartbeats publishes a heartbeat every interval until stopHeartbeats.
func (f *fakeServer) heartbeats(interval time.Duration) {
	f.hbStop = make(chan struct{})
	stop := f.hbStop
	f.hbWG.Add(1)
	go func() {
		defer f.hbWG.Done()
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				f.heartbeat(interval)
			}
		}
	}()
}

func (f *fakeServer) stopHeartbeats() {
	if f.hbStop != nil {
		close(f.hbStop)
		f.hbStop = nil
		f.hbWG.Wait()
	}
}

func (f *fakeServer) close() {
	if f.closed {
		return
	}
	f.closed = true
	f.stopHeartbeats()
	f.p.Close()
}

// contentsLocked returns the live entries as key → value@version.
func (f *fakeServer) contentsLocked() map[string]string {
	out := map[string]string{}
	now := time.Now()
	for k, e := range f.data {
		if e.expires.IsZero() || now.Before(e.expires) {
			out[k] = fmt.Sprintf("%s@%d", e.value, e.version)
		}
	}
	return out
}

func (f *fakeServer) lastSeq() (uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch, f.seq
}

// replicaContents returns a replica's entries as key → value@version.
func replicaContents(r *Replica) map[string]string {
	out := map[string]string{}
	for _, k := range r.Keys() {
		if it, ok := r.Lookup(k); ok {
			out[k] = fmt.Sprintf("%s@%d", it.Value, it.Version)
		}
	}
	return out
}

func diffContents(got, want map[string]string) string {
	var d []string
	for k, v := range want {
		if got[k] != v {
			d = append(d, fmt.Sprintf("%s: %q, want %q", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: %q, want none", k, v))
		}
	}
	sort.Strings(d)
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("... %d differences", len(d)))
	}
	return fmt.Sprint(d)
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// truth is the server's state: its live contents as key →
// value@version, its epoch and its last seq.
type truth func() (map[string]string, uint64, uint64)

// truth returns the fake server's state, read at one instant.
func (f *fakeServer) truth() (map[string]string, uint64, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.contentsLocked(), f.epoch, f.seq
}

// waitConverged waits until the replica is live at the server's epoch
// and seq and holds exactly the server's contents.
func waitConverged(t *testing.T, r *Replica, server truth, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := r.Status()
		want, e, s := server()
		if st.State == ReplicaLive && st.Epoch == e && st.Seq == s {
			if diff := diffContents(replicaContents(r), want); diff == "[]" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %v: status %+v, server at %d/%d; %s",
				d, st, e, s, diffContents(replicaContents(r), want))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newReplica(t *testing.T, p *core.Peer, name string, opts ...ReplicaOption) *Replica {
	t.Helper()
	r, err := NewReplica(context.Background(), p, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func waitSynced(t *testing.T, r *Replica, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatalf("WaitSynced: %v; status %+v", err, r.Status())
	}
}
