package consensus

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestNodeMembership(t *testing.T) {
	c := newMemCluster(t, 3)
	l := c.leader()
	ctx := testCtx(t, 60*time.Second)
	if _, err := l.Put(ctx, "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// A fourth node joins with no state of its own and catches up.
	addr, tr := raft.NewInmemTransport("n3")
	for i, other := range c.trans {
		other.Connect(addr, tr)
		tr.Connect(other.LocalAddr(), c.trans[i])
	}
	store := raft.NewInmemStore()
	n3, err := NewNode(NodeConfig{ID: "n3", Transport: tr, Logs: store, Stable: store, Snapshots: raft.NewInmemSnapshotStore(), Raft: nodeTestConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n3.Close() })
	f := c.followers(l)[0]
	if err := f.AddVoter(ctx, "n3", string(addr)); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("AddVoter on a follower: %v", err)
	}
	if err := l.AddVoter(ctx, "n3", string(addr)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the new member catches up", func() bool {
		_, found, _ := n3.Get(ctx, "k", Stale())
		return found
	})
	ms, err := l.Members(ctx)
	if err != nil || len(ms) != 4 {
		t.Fatalf("members %+v %v", ms, err)
	}
	// Leadership moves to the member named.
	c.nodes = append(c.nodes, n3)
	if err := l.TransferLeadership(ctx, "n3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "n3 leads", n3.IsLeader)
	if err := n3.TransferLeadership(ctx, "nobody"); !errors.Is(err, ErrNotMember) {
		t.Fatalf("transfer to a stranger: %v", err)
	}
	// And the old leader is removed.
	if err := n3.RemoveServer(ctx, l.ID()); err != nil {
		t.Fatal(err)
	}
	ms, _ = n3.Members(ctx)
	for _, m := range ms {
		if m.ID == l.ID() {
			t.Fatalf("removed member still listed: %+v", ms)
		}
	}
	if _, err := n3.Put(ctx, "after", nil, 0); err != nil {
		t.Fatal(err)
	}
}
