package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// nodeTestConfig is raft tuned for tests on a loaded 2-core machine:
// slow enough never to elect by accident, quiet.
func nodeTestConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.HeartbeatTimeout = 500 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off})
	return c
}

// memCluster is n nodes on raft's in-memory transport and stores.
type memCluster struct {
	t     *testing.T
	nodes []*Node
	trans []*raft.InmemTransport
}

func newMemCluster(t *testing.T, n int) *memCluster {
	t.Helper()
	return newMemClusterConfig(t, n, nodeTestConfig())
}

// newMemClusterConfig is newMemCluster with a raft configuration.
func newMemClusterConfig(t *testing.T, n int, rc *raft.Config) *memCluster {
	t.Helper()
	c := &memCluster{t: t}
	var servers []raft.Server
	for i := range n {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprint("n", i)))
		c.trans = append(c.trans, tr)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: addr})
	}
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			}
		}
	}
	for i, tr := range c.trans {
		store := raft.NewInmemStore()
		nd, err := NewNode(NodeConfig{ID: fmt.Sprint("n", i), Transport: tr, Logs: store, Stable: store,
			Snapshots: raft.NewInmemSnapshotStore(), Raft: rc, History: 1000, Bootstrap: servers})
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.Close()
		}
	})
	return c
}

// leader waits for one node among those given (all when none) to lead.
func (c *memCluster) leader(among ...*Node) *Node {
	c.t.Helper()
	if len(among) == 0 {
		among = c.nodes
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, nd := range among {
			if nd.IsLeader() {
				return nd
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader within 30 s")
	return nil
}

func (c *memCluster) followers(l *Node) []*Node {
	var out []*Node
	for _, nd := range c.nodes {
		if nd != l {
			out = append(out, nd)
		}
	}
	return out
}

// isolate cuts a node off from every other.
func (c *memCluster) isolate(nd *Node) {
	for i, other := range c.nodes {
		if other == nd {
			c.trans[i].DisconnectAll()
			for j := range c.trans {
				if j != i {
					c.trans[j].Disconnect(c.trans[i].LocalAddr())
				}
			}
		}
	}
}

// heal reconnects every node to every other.
func (c *memCluster) heal() {
	for i := range c.trans {
		for j := range c.trans {
			if i != j {
				c.trans[i].Connect(c.trans[j].LocalAddr(), c.trans[j])
			}
		}
	}
}

// anyLeader returns a node that leads now, or nil.
func (c *memCluster) anyLeader() *Node {
	for _, nd := range c.nodes {
		if nd.IsLeader() {
			return nd
		}
	}
	return nil
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNodeReadWrite(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader()
	ctx := testCtx(t, 30*time.Second)
	rev, err := l.Put(ctx, "a", []byte("1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	e, found, err := l.Get(ctx, "a")
	if err != nil || !found || string(e.Value) != "1" || e.ModRev != rev {
		t.Fatalf("get: %+v %v %v", e, found, err)
	}
	f := c.followers(l)[0]
	if _, _, err := f.Get(ctx, "a"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("linearizable read on a follower: %v, want ErrNotLeader (forwarding comes with the zmp service)", err)
	}
	var nle *NotLeaderError
	if _, err := f.Put(ctx, "b", nil, 0); !errors.As(err, &nle) || nle.LeaderID != l.ID() {
		t.Fatalf("write on a follower: %v, want the leader named", err)
	}
	waitFor(t, 10*time.Second, "the follower applies the write", func() bool {
		e, found, err := f.Get(ctx, "a", Stale())
		return err == nil && found && e.ModRev == rev
	})
	ok, _, cur, err := l.CompareAndSwap(ctx, "a", rev-1, []byte("x"), 0)
	if err != nil || ok || cur == nil || cur.ModRev != rev {
		t.Fatalf("stale cas: ok %v, cur %+v, %v", ok, cur, err)
	}
	if ok, _, _, err := l.CompareAndSwap(ctx, "a", rev, []byte("2"), 0); err != nil || !ok {
		t.Fatalf("cas: %v %v", ok, err)
	}
	if del, _, err := l.Delete(ctx, "a"); err != nil || !del {
		t.Fatalf("delete: %v %v", del, err)
	}
	if _, found, _ := l.Get(ctx, "a"); found {
		t.Fatal("deleted key found")
	}
	if _, err := l.Put(ctx, "", nil, 0); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("empty key: %v", err)
	}
}

// TestNodeIsolatedLeaderRefusesReads: a leader cut off from the others
// must not serve a linearizable read (it may be deposed already), while
// the others elect a leader and take writes; stale reads still work.
func TestNodeIsolatedLeaderRefusesReads(t *testing.T) {
	c := newMemCluster(t, 3)
	old := c.leader()
	ctx := testCtx(t, 60*time.Second)
	if _, err := old.Put(ctx, "k", []byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	c.isolate(old)
	nl := c.leader(c.followers(old)...)
	if _, err := nl.Put(ctx, "k", []byte("after"), 0); err != nil {
		t.Fatal(err)
	}
	short := testCtx(t, 5*time.Second)
	if e, _, err := old.Get(short, "k"); err == nil {
		t.Fatalf("the isolated old leader served a linearizable read: %q", e.Value)
	}
	if e, _, err := old.Get(ctx, "k", Stale()); err != nil || string(e.Value) != "before" {
		t.Fatalf("stale read on the isolated node: %q %v", e.Value, err)
	}
	if e, _, err := nl.Get(ctx, "k"); err != nil || string(e.Value) != "after" {
		t.Fatalf("new leader: %q %v", e.Value, err)
	}
}

func TestNodeLeasesExpireEverywhere(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader()
	ctx := testCtx(t, 30*time.Second)
	id, err := l.Grant(ctx, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "svc/a", []byte("x"), id); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Put(ctx, "svc/b", []byte("x"), 12345); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("put on a missing lease: %v", err)
	}
	for _, nd := range c.nodes {
		waitFor(t, 20*time.Second, "the lease's key expires on "+nd.ID(), func() bool {
			_, found, err := nd.Get(ctx, "svc/a", Stale())
			return err == nil && !found
		})
	}
	if err := l.KeepAlive(ctx, id); !errors.Is(err, ErrLeaseNotFound) {
		t.Fatalf("keepalive of an expired lease: %v", err)
	}
	// Every replica removed it at the same revision.
	var revs []uint64
	for _, nd := range c.nodes {
		evs, _, err := nd.Events(ctx, "svc/", 0, 10)
		if err != nil || len(evs) != 2 || evs[1].Type != EventDelete {
			t.Fatalf("%s events: %+v %v", nd.ID(), evs, err)
		}
		revs = append(revs, evs[1].Rev)
	}
	if revs[0] != revs[1] || revs[1] != revs[2] {
		t.Fatalf("expired at revisions %v", revs)
	}
}

func TestNodeEventsAndFailover(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader()
	ctx := testCtx(t, 60*time.Second)
	f := c.followers(l)[0]
	got := make(chan []Event, 1)
	go func() {
		evs, _, _ := f.Events(ctx, "w/", 0, 10)
		got <- evs
	}()
	if _, err := l.Put(ctx, "w/1", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if evs := <-got; len(evs) != 1 || evs[0].Entry.Key != "w/1" {
		t.Fatalf("events %+v", evs)
	}
	// The leader goes; another takes over with every write.
	for i := range 50 {
		if _, err := l.Put(ctx, fmt.Sprint("x/", i), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	nl := c.leader(c.followers(l)...)
	list, _, err := nl.List(ctx, "x/", 0)
	if err != nil || len(list) != 50 {
		t.Fatalf("after failover: %d keys, %v", len(list), err)
	}
	if _, err := nl.Put(ctx, "x/new", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Get(ctx, "x/1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("read on a closed node: %v", err)
	}
}

// TestNodeReadsBatch: concurrent reads share confirmations.
func TestNodeReadsBatch(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader()
	ctx := testCtx(t, 30*time.Second)
	if _, err := l.Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	before := l.reads.confirms.Load()
	const n = 200
	errs := make(chan error, n)
	for range n {
		go func() {
			_, _, err := l.Get(ctx, "k")
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if rounds := l.reads.confirms.Load() - before; rounds >= n {
		t.Fatalf("%d confirmations for %d concurrent reads: not batched", rounds, n)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
