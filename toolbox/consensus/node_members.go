package consensus

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one server of the cluster's configuration.
type Member struct {
	ID      string
	Address string
	Voter   bool
	Leader  bool
}

// wait waits for a raft future within ctx: raft ends it by its own
// timeout at the latest, which is ctx's remaining time.
func (n *Node) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return n.translate(err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// timeout is what is left of ctx, for raft's calls that take one.
func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 30 * time.Second
}

// Members returns the cluster's configuration as this node knows it.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	f := n.raft.GetConfiguration()
	if err := n.wait(ctx, f); err != nil {
		return nil, err
	}
	_, leader := n.raft.LeaderWithID()
	var out []Member
	for _, s := range f.Configuration().Servers {
		out = append(out, Member{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader})
	}
	return out, nil
}

// AddVoter adds a server (or changes its address) as a voting member;
// on the leader only. The server must be running with the cluster's
// transport at addr, and no bootstrap state of its own.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	return n.wait(ctx, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx)))
}

// RemoveServer removes a member; on the leader only. A leader that
// removes itself steps down.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	return n.wait(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, timeout(ctx)))
}

// TransferLeadership hands leadership to the member id, or to the most
// up-to-date follower when id is empty; on the leader only.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	if !n.IsLeader() {
		return n.notLeader()
	}
	if id == "" {
		return n.wait(ctx, n.raft.LeadershipTransfer())
	}
	ms, err := n.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ID == id {
			return n.wait(ctx, n.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(m.Address)))
		}
	}
	return ErrNotMember
}
