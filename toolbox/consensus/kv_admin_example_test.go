package consensus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// A one-node store serving on a zmp peer, and a client on another peer
// that reads the cluster's membership through the service. A second
// node started with no configuration of its own would join with
// AddVoter(ctx, its id, its transport's LocalAddr).
func ExampleClient_Members() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	p, err := core.NewPeer(ctx, "kv-n1", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	trans, err := consensus.NewTransport(p)
	if err != nil {
		fmt.Println(err)
		return
	}
	conf := raft.DefaultConfig()
	conf.Logger = hclog.NewNullLogger()
	store := raft.NewInmemStore()
	n, err := consensus.NewNode(consensus.NodeConfig{ID: "n1", Transport: trans, Logs: store, Stable: store,
		Snapshots: raft.NewInmemSnapshotStore(), Raft: conf,
		Bootstrap: []raft.Server{{ID: "n1", Address: trans.LocalAddr()}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close() // closes the transport too
	stop, err := n.Serve(p, "kv")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	cp, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cp.Close()
	c := consensus.NewClient(cp, "kv")
	members, err := c.Members(ctx) // waits while the node elects itself
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range members {
		fmt.Printf("%s voter=%v leader=%v\n", m.ID, m.Voter, m.Leader)
	}
	// Output: n1 voter=true leader=true
}
