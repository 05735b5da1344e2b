package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// kvMember is one node of a cluster on zmp: its peer (CURVE), its
// transport, its durable store and its Node serving the service.
type kvMember struct {
	id    string
	keys  core.KeyPair
	rpc   string // the peer's RPC endpoint, kept across restarts
	pub   string
	dir   string
	peer  *core.Peer
	store *Store
	node  *Node
}

// kvCluster is a cluster of kvMembers that trust each other's keys.
type kvCluster struct {
	t       testing.TB
	reg     *core.MemRegistry
	trusted []core.Key
	members []*kvMember
	servers []raft.Server
	trOpts  []TransportOption
	wrap    func(*Transport) raft.Transport // fault injection; nil for none
	raftCfg func(id string) *raft.Config    // nil: trConfig
	stOpts  func(id string) []StoreOption   // a member's store options; nil: none
}

func newKVCluster(t testing.TB, n int, trOpts ...TransportOption) *kvCluster {
	t.Helper()
	return newKVClusterWith(t, &kvCluster{trOpts: trOpts}, n)
}

// newKVClusterWith starts the cluster c describes (its trOpts, wrap and
// raftCfg) with n members.
func newKVClusterWith(t testing.TB, c *kvCluster, n int) *kvCluster {
	t.Helper()
	c.t, c.reg = t, core.NewMemRegistry()
	for i := range n {
		m := &kvMember{id: fmt.Sprint("kv", i), keys: trKeys(t), dir: filepath.Join(t.TempDir(), "data")}
		c.members = append(c.members, m)
		c.trusted = append(c.trusted, m.keys.Public)
	}
	for _, m := range c.members {
		c.startPeer(m)
		tr, err := NewTransport(m.peer)
		if err != nil {
			t.Fatal(err)
		}
		c.servers = append(c.servers, raft.Server{ID: raft.ServerID(m.id), Address: tr.LocalAddr()})
		tr.Close()
	}
	for _, m := range c.members {
		c.startNode(m)
	}
	t.Cleanup(func() {
		for _, m := range c.members {
			c.stop(m)
		}
	})
	return c
}

func (c *kvCluster) peerOpts(m *kvMember) []core.Option {
	return []core.Option{core.WithRegistry(c.reg), core.WithDiscoveryInterval(25 * time.Millisecond),
		core.WithSecurity(trCurveSecurity(c.t, m.keys, c.trusted...)),
		core.WithEndpoints(m.rpc, m.pub),
		core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
}

func (c *kvCluster) startPeer(m *kvMember) {
	c.t.Helper()
	p, err := core.NewPeer(trCtx(c.t, 20*time.Second), m.id, c.peerOpts(m)...)
	if err != nil {
		c.t.Fatal(err)
	}
	m.peer = p
	m.rpc, m.pub = p.Info().RPC, p.Info().Pub
}

// startNode opens the member's store and starts its node and service.
func (c *kvCluster) startNode(m *kvMember) {
	c.t.Helper()
	if m.peer == nil {
		c.startPeer(m)
	}
	var stOpts []StoreOption
	if c.stOpts != nil {
		stOpts = c.stOpts(m.id)
	}
	st, err := OpenStore(m.dir, stOpts...)
	if err != nil {
		c.t.Fatal(err)
	}
	tr, err := NewTransport(m.peer, c.trOpts...)
	if err != nil {
		c.t.Fatal(err)
	}
	rc := trConfig(raft.ServerID(m.id))
	if c.raftCfg != nil {
		rc = c.raftCfg(m.id)
	}
	var rt raft.Transport = tr
	if c.wrap != nil {
		rt = c.wrap(tr)
	}
	nd, err := NewNode(NodeConfig{ID: m.id, Transport: rt, Logs: st.Log(), Stable: st.Stable(), Snapshots: st.Snapshots(),
		Raft: rc, Bootstrap: c.servers})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := nd.Serve(m.peer, ""); err != nil {
		c.t.Fatal(err)
	}
	m.store, m.node = st, nd
}

// stop closes the member's node, store and peer, as a crash would
// leave its directory (minus the process).
func (c *kvCluster) stop(m *kvMember) {
	if m.node != nil {
		m.node.Close()
		m.node = nil
	}
	if m.store != nil {
		m.store.Close()
		m.store = nil
	}
	if m.peer != nil {
		m.peer.Close()
		m.peer = nil
	}
}

func (c *kvCluster) leader() *kvMember {
	c.t.Helper()
	var l *kvMember
	trWaitFor(c.t, 60*time.Second, "a leader", func() bool {
		for _, m := range c.members {
			if m.node != nil && m.node.IsLeader() {
				l = m
				return true
			}
		}
		return false
	})
	return l
}

// TestKVOverZmp: a three-node store on zmp with CURVE and durable
// storage; the leader stops, writes go on, and it restarts from its
// directory and catches up.
func TestKVOverZmp(t *testing.T) {
	c := newKVCluster(t, 3)
	l := c.leader()
	ctx := trCtx(t, 120*time.Second)
	// A client on one member's own peer (members trust each other).
	var other *kvMember
	for _, m := range c.members {
		if m != l {
			other = m
			break
		}
	}
	cli := NewClient(other.peer, "")
	for i := range 50 {
		if _, err := cli.Put(ctx, fmt.Sprint("k", i), []byte(fmt.Sprint(i)), 0); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	c.stop(l)
	c.leader()
	for i := 50; i < 100; i++ {
		if _, err := cli.Put(ctx, fmt.Sprint("k", i), []byte(fmt.Sprint(i)), 0); err != nil {
			t.Fatalf("put %d after the leader stopped: %v", i, err)
		}
	}
	c.startNode(l) // same endpoint, same key, same directory
	trWaitFor(t, 60*time.Second, "the old leader catches up", func() bool {
		e, found, err := l.node.Get(ctx, "k99", Stale())
		return err == nil && found && string(e.Value) == "99"
	})
	list, _, err := l.node.List(ctx, "k", 0, Stale())
	if err != nil || len(list) != 100 {
		t.Fatalf("the restarted node holds %d keys (%v), want 100", len(list), err)
	}
	if e, _, err := cli.Get(ctx, "k0"); err != nil || string(e.Value) != "0" {
		t.Fatalf("linearizable get: %q %v", e.Value, err)
	}
}
