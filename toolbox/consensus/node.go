package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// DefaultHistory is how many recent events a node keeps for watches.
const DefaultHistory = 10_000

// NodeConfig is what a Node runs on: its raft identity, transport and
// storage. NewNode fills in nothing but the raft tuning: the
// transport and stores are the caller's, as raft.NewRaft's are.
type NodeConfig struct {
	// ID is the node's raft server ID. Required.
	ID string
	// Transport carries raft's messages. Required.
	Transport raft.Transport
	// Logs, Stable and Snapshots keep raft's log, its term and vote,
	// and the snapshots. Required.
	Logs      raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
	// Raft tunes raft; nil takes raft.DefaultConfig(). LocalID is set
	// from ID.
	Raft *raft.Config
	// History is how many events are kept for watches (default
	// DefaultHistory).
	History int
	// Bootstrap, when not empty, starts a new cluster of these servers
	// (each node of a new cluster may be given the same list). A node
	// that has state already ignores it.
	Bootstrap []raft.Server
}

// Node is one member of a replicated key-value store. Writes go
// through raft on the leader; reads are linearizable unless asked to
// be stale (Stale). Close stops it.
type Node struct {
	id    string
	raft  *raft.Raft
	st    *state
	trans raft.Transport
	logs  raft.LogStore

	reads readBatcher

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// NewNode starts a node. With cfg.Bootstrap it first bootstraps a new
// cluster (unless the stores hold state already).
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.ID == "" || cfg.Transport == nil || cfg.Logs == nil || cfg.Stable == nil || cfg.Snapshots == nil {
		return nil, fmt.Errorf("%w: a node needs an ID, a transport and its three stores", ErrBadConfig)
	}
	rc := raft.DefaultConfig()
	if cfg.Raft != nil {
		c := *cfg.Raft
		rc = &c
	}
	rc.LocalID = raft.ServerID(cfg.ID)
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	n := &Node{id: cfg.ID, st: newState(cfg.History), trans: cfg.Transport, logs: cfg.Logs}
	if len(cfg.Bootstrap) > 0 {
		has, err := raft.HasExistingState(cfg.Logs, cfg.Stable, cfg.Snapshots)
		if err != nil {
			return nil, err
		}
		if !has {
			err := raft.BootstrapCluster(rc, cfg.Logs, cfg.Stable, cfg.Snapshots, cfg.Transport, raft.Configuration{Servers: cfg.Bootstrap})
			if err != nil {
				return nil, fmt.Errorf("consensus: bootstrap: %w", err)
			}
		}
	}
	r, err := raft.NewRaft(rc, fsm{n.st}, cfg.Logs, cfg.Stable, cfg.Snapshots, cfg.Transport)
	if err != nil {
		return nil, err
	}
	n.raft = r
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.reads.n = n
	n.goFunc(n.expireLeases)
	return n, nil
}

func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// ID returns the node's raft server ID.
func (n *Node) ID() string { return n.id }

// Raft returns the node's raft instance, for what this package does
// not wrap (stats, observers).
func (n *Node) Raft() *raft.Raft { return n.raft }

// Leader returns the leader's address and ID as this node knows them;
// empty when it knows of none.
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Close stops the node: raft shuts down (the stores stay the
// caller's) and the node's goroutines end. Idempotent.
func (n *Node) Close() error {
	var err error
	n.once.Do(func() {
		n.cancel()
		err = n.raft.Shutdown().Error()
		n.wg.Wait()
	})
	return err
}

// propose applies c through raft on the leader and returns its result.
func (n *Node) propose(ctx context.Context, c command) (result, error) {
	if n.raft.State() != raft.Leader {
		return result{}, n.notLeader()
	}
	c.now = time.Now().UnixNano()
	if ctx.Err() != nil {
		return result{}, ctx.Err()
	}
	f := n.raft.Apply(appendCommand(nil, c), timeout(ctx))
	if err := n.wait(ctx, f); err != nil {
		return result{}, err
	}
	res, ok := f.Response().(result)
	if !ok {
		return result{}, fmt.Errorf("consensus: unexpected apply response %T", f.Response())
	}
	return res, res.err
}

// notLeader is ErrNotLeader with the leader this node knows.
func (n *Node) notLeader() error {
	addr, id := n.Leader()
	return &NotLeaderError{LeaderAddr: addr, LeaderID: id}
}

// translate maps raft's errors to this package's. raft answers
// ErrNotLeader and ErrLeadershipTransferInProgress before it takes an
// operation; ErrLeadershipLost after, when the entry may already be
// committed.
func (n *Node) translate(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w (%v)", n.notLeader(), err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w (%v)", ErrOutcomeUnknown, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return err
}
