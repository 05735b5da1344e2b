package consensus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// zmpCluster is a cluster whose nodes serve the key-value service on
// zmp peers; raft runs on its in-memory transport, addressed by the
// peers' RPC endpoints, as this package's zmp transport addresses them.
type zmpCluster struct {
	*memCluster
	peers []*core.Peer
	reg   *core.MemRegistry
}

func newZmpCluster(t *testing.T, n int) *zmpCluster {
	t.Helper()
	z := &zmpCluster{memCluster: &memCluster{t: t}, reg: core.NewMemRegistry()}
	ctx := testCtx(t, 20*time.Second)
	var servers []raft.Server
	for i := range n {
		p, err := core.NewPeer(ctx, fmt.Sprint("kv", i), core.WithRegistry(z.reg), core.WithDiscoveryInterval(25*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		z.peers = append(z.peers, p)
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(p.Info().RPC))
		z.trans = append(z.trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: addr})
	}
	z.heal()
	for i, tr := range z.trans {
		store := raft.NewInmemStore()
		nd, err := NewNode(NodeConfig{ID: fmt.Sprint("n", i), Transport: tr, Logs: store, Stable: store,
			Snapshots: raft.NewInmemSnapshotStore(), Raft: nodeTestConfig(), History: 1000, Bootstrap: servers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		if _, err := nd.Serve(z.peers[i], ""); err != nil {
			t.Fatal(err)
		}
		z.nodes = append(z.nodes, nd)
	}
	return z
}

func (z *zmpCluster) client(t *testing.T, opts ...core.CallOption) *Client {
	p, err := core.NewPeer(testCtx(t, 10*time.Second), "", core.WithRegistry(z.reg), core.WithDiscoveryInterval(25*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return NewClient(p, "", opts...)
}

func TestClientThroughAnyNode(t *testing.T) {
	z := newZmpCluster(t, 3)
	l := z.leader()
	ctx := testCtx(t, 60*time.Second)
	for i, p := range z.peers {
		// Pinned to each node in turn: followers forward.
		c := z.client(t, core.OnNode(p.Name()))
		key := fmt.Sprint("k", i)
		rev, err := c.Put(ctx, key, []byte("v"), 0)
		if err != nil {
			t.Fatalf("put through %s: %v", p.Name(), err)
		}
		e, found, err := c.Get(ctx, key)
		if err != nil || !found || e.ModRev != rev {
			t.Fatalf("get through %s: %+v %v %v", p.Name(), e, found, err)
		}
		ok, _, cur, err := c.CompareAndSwap(ctx, key, rev+100, []byte("x"), 0)
		if err != nil || ok || cur == nil || cur.ModRev != rev {
			t.Fatalf("stale cas through %s: %v %+v %v", p.Name(), ok, cur, err)
		}
	}
	c := z.client(t)
	list, _, err := c.List(ctx, "k", 0)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d %v", len(list), err)
	}
	// Leases and their expiry, through the service.
	id, err := c.Grant(ctx, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "eph", []byte("x"), id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "bad", []byte("x"), 42); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("put on a missing lease: %v", err)
	}
	waitFor(t, 20*time.Second, "the lease's key expires", func() bool {
		_, found, err := c.Get(ctx, "eph")
		return err == nil && !found
	})
	// Events, long-polled within the call's deadline.
	got := make(chan []Event, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		evs, _, _ := c.Events(wctx, "w/", l.Revision(), 10)
		got <- evs
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := c.Put(ctx, "w/1", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if evs := <-got; len(evs) != 1 || evs[0].Entry.Key != "w/1" {
		t.Fatalf("events %+v", evs)
	}
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if evs, _, err := c.Events(short, "none/", l.Revision(), 10); err != nil || len(evs) != 0 {
		t.Fatalf("events with none: %v %v", evs, err)
	}
	// Garbage is refused, and the node keeps serving.
	raw := z.peers[0]
	if _, err := raw.Call(ctx, "kv.propose", []byte{9, 9}, core.OnNode(raw.Name())); !errors.Is(localErr(err), ErrBadRequest) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := c.Put(ctx, "after", nil, 0); err != nil {
		t.Fatal(err)
	}
}

func TestClientFailover(t *testing.T) {
	z := newZmpCluster(t, 3)
	old := z.leader()
	ctx := testCtx(t, 60*time.Second)
	c := z.client(t)
	if _, err := c.Put(ctx, "k", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	z.isolate(old)
	z.leader(z.followers(old)...)
	// Writes go on through whichever node answers; a request reaching
	// the isolated old leader is refused, not applied, and retried.
	for i := range 20 {
		if _, err := c.Put(ctx, "k", []byte(fmt.Sprint(i)), 0); err != nil {
			t.Fatalf("put %d after the leader was cut off: %v", i, err)
		}
	}
	e, _, err := c.Get(ctx, "k")
	if err != nil && !errors.Is(err, ErrNotLeader) {
		t.Fatal(err)
	}
	if err == nil && string(e.Value) != "19" {
		t.Fatalf("get: %q", e.Value)
	}
}

func FuzzKVWire(f *testing.F) {
	e := Entry{Key: "k", Value: []byte("v"), CreateRev: 1, ModRev: 2, Version: 3, Lease: 4}
	f.Add(appendProposeReply(nil, proposeReply{rev: 5, ok: true, prev: &e}))
	f.Add(appendGetReply(nil, 3, &e))
	f.Add(appendListReply(nil, 3, []Entry{e, e}))
	f.Add(appendEventsReply(nil, 3, []Event{{Type: EventPut, Rev: 2, Entry: e}}))
	f.Add(appendGetRequest(nil, true, "k"))
	f.Add(appendListRequest(nil, false, 10, "p"))
	f.Add(appendEventsRequest(nil, 7, 10, ""))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeProposeReply(b)
		decodeGetReply(b)
		decodeListReply(b)
		decodeEventsReply(b)
		decodeGetRequest(b)
		decodeListRequest(b)
		decodeEventsRequest(b)
	})
}
