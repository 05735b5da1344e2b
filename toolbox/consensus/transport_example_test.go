package consensus_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// counter is a raft.FSM that counts the commands applied.
type counter struct{ n int }

func (c *counter) Apply(*raft.Log) any                 { c.n++; return c.n }
func (c *counter) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("no snapshots here") }
func (c *counter) Restore(rc io.ReadCloser) error      { return rc.Close() }

// A one-member raft group on a zmp peer: the member's address is its
// transport's LocalAddr, which the other members would be given too.
func ExampleNewTransport() {
	ctx := context.Background()
	p, err := core.NewPeer(ctx, "raft-member", core.WithRegistry(core.NewMemRegistry()))
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
	conf.LocalID = "m1"
	conf.Logger = hclog.NewNullLogger()
	store := raft.NewInmemStore()
	r, err := raft.NewRaft(conf, &counter{}, store, store, raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = r.Shutdown().Error() }() // closes the transport too
	boot := raft.Configuration{Servers: []raft.Server{{ID: "m1", Address: trans.LocalAddr()}}}
	if err := r.BootstrapCluster(boot).Error(); err != nil {
		fmt.Println(err)
		return
	}
	for r.State() != raft.Leader {
		time.Sleep(10 * time.Millisecond)
	}
	f := r.Apply([]byte("hello"), 5*time.Second)
	if err := f.Error(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("applied:", f.Response())
	// Output: applied: 1
}
