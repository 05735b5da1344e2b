package consensus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// regSetup is a three-node store on zmp with CURVE and a replicated
// registry whose own peer the store's nodes trust.
func regSetup(t *testing.T) (*kvCluster, *Registry) {
	t.Helper()
	kp := trKeys(t)
	c := newKVClusterWith(t, &kvCluster{trusted: []core.Key{kp.Public}}, 3)
	c.leader()
	var addrs []string
	for _, s := range c.servers {
		addrs = append(addrs, string(s.Address))
	}
	reg, err := NewRegistry(trCtx(t, 20*time.Second), addrs, "", core.WithSecurity(trCurveSecurity(t, kp, c.trusted...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return c, reg
}

// regPeer is an ordinary node that uses the replicated registry.
func regPeer(t *testing.T, reg *Registry, name string) *core.Peer {
	t.Helper()
	p, err := core.NewPeer(trCtx(t, 30*time.Second), name, core.WithRegistry(reg),
		core.WithDiscoveryInterval(50*time.Millisecond), core.WithLeaseTTL(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestRegistryDiscovery(t *testing.T) {
	c, reg := regSetup(t)
	ctx := trCtx(t, 120*time.Second)
	srv := regPeer(t, reg, "echo-1")
	if err := srv.HandleFunc("echo", func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil }); err != nil {
		t.Fatal(err)
	}
	cli := regPeer(t, reg, "caller")
	trWaitFor(t, 30*time.Second, "the caller reaches echo through the replicated registry", func() bool {
		b, err := cli.Call(ctx, "echo", []byte("hi"))
		return err == nil && string(b) == "hi"
	})
	// A name held by a live entry of another ID is refused.
	info := srv.Info()
	info.ID = "someone-else"
	if err := reg.Register(ctx, info, time.Minute); !errors.Is(err, core.ErrNameTaken) {
		t.Fatalf("a second registration of echo-1: %v", err)
	}
	// A watch sees a registration.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := reg.Watch(wctx)
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	regPeer(t, reg, "late")
	trWaitFor(t, 30*time.Second, "the watch reports the late node", func() bool {
		select {
		case nodes := <-ch:
			for _, n := range nodes {
				if n.Name == "late" {
					return true
				}
			}
		default:
		}
		return false
	})

	// The store's leader goes: discovery goes on through the others.
	l := c.leader()
	for _, m := range c.members {
		if m.node == l.node {
			c.stop(m)
		}
	}
	srv2 := regPeer(t, reg, "echo-2")
	if err := srv2.HandleFunc("echo2", func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil }); err != nil {
		t.Fatal(err)
	}
	trWaitFor(t, 60*time.Second, "a node registered after the store lost its leader is found", func() bool {
		b, err := cli.Call(ctx, "echo2", []byte("again"))
		return err == nil && string(b) == "again"
	})
}

// TestRegistryLeaseExpires: an entry its node stops renewing goes, by
// the store's lease, on every node at once.
func TestRegistryLeaseExpires(t *testing.T) {
	c, reg := regSetup(t)
	ctx := trCtx(t, 60*time.Second)
	info := core.NodeInfo{Name: "ghost", ID: "g1", RPC: "tcp://127.0.0.1:1", Started: time.Now()}
	if err := reg.Register(ctx, info, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Lookup(ctx, reg, "ghost"); err != nil {
		t.Fatalf("lookup: %v", err)
	}
	trWaitFor(t, 30*time.Second, "the entry expires", func() bool {
		_, err := core.Lookup(ctx, reg, "ghost")
		return errors.Is(err, core.ErrNotFound)
	})
	for _, m := range c.members {
		if _, found, _ := m.node.Get(ctx, RegistryPrefix+"ghost", Stale()); found {
			// Replicas apply the expiry at one revision; a follower may
			// trail by the replication delay.
			trWaitFor(t, 10*time.Second, "replica "+m.id+" drops the entry", func() bool {
				_, found, _ := m.node.Get(ctx, RegistryPrefix+"ghost", Stale())
				return !found
			})
		}
	}
	// Deregister removes an entry of the right ID only.
	if err := reg.Register(ctx, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := reg.Deregister(ctx, "ghost", "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Lookup(ctx, reg, "ghost"); err != nil {
		t.Fatal("deregistered by another ID")
	}
	if err := reg.Deregister(ctx, "ghost", "g1"); err != nil {
		t.Fatal(err)
	}
	if _, err := core.Lookup(ctx, reg, "ghost"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("after deregister: %v", err)
	}
}
