package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
)

// CodeNotMember is the remote error code of ErrNotMember: a remove or a
// transfer named a server that is not in the configuration.
const CodeNotMember core.Code = 1506

// adminHandlers are the membership services Serve provides next to the
// key-value ones: NAME.members, NAME.add, NAME.remove, NAME.transfer.
// As for writes, a follower forwards them to the leader, once.
func (s *kvService) adminHandlers() map[string]core.HandlerFunc {
	return map[string]core.HandlerFunc{
		s.name + ".members":  s.members,
		s.name + ".add":      s.addVoter,
		s.name + ".remove":   s.removeServer,
		s.name + ".transfer": s.transfer,
	}
}

// members answers the configuration: linearizable on the leader (it
// confirms its leadership first, so the configuration holds every
// change committed before the call), or this node's view when stale.
func (s *kvService) members(ctx context.Context, req *core.Request) ([]byte, error) {
	stale, err := decodeMembersRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !stale && !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".members", false)
	}
	if err := s.n.read(ctx, staleIf(stale)); err != nil {
		return nil, adminRemoteErr(err)
	}
	ms, err := s.n.Members(ctx)
	if err != nil {
		return nil, adminRemoteErr(err)
	}
	return appendMembersReply(nil, ms), nil
}

func (s *kvService) addVoter(ctx context.Context, req *core.Request) ([]byte, error) {
	id, addr, err := decodeAddRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".add", true)
	}
	if err := s.n.AddVoter(ctx, id, addr); err != nil {
		return nil, adminRemoteErr(err)
	}
	return nil, nil
}

func (s *kvService) removeServer(ctx context.Context, req *core.Request) ([]byte, error) {
	id, err := decodeRemoveRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".remove", true)
	}
	if err := s.isMember(ctx, id); err != nil {
		return nil, adminRemoteErr(err)
	}
	if err := s.n.RemoveServer(ctx, id); err != nil {
		return nil, adminRemoteErr(err)
	}
	return nil, nil
}

func (s *kvService) transfer(ctx context.Context, req *core.Request) ([]byte, error) {
	id, err := decodeTransferRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".transfer", true)
	}
	if id == s.n.ID() {
		return nil, nil // already where it was asked to be
	}
	if err := s.n.TransferLeadership(ctx, id); err != nil {
		return nil, adminRemoteErr(err)
	}
	return nil, nil
}

// whileLeader returns ctx, ended early once this node knows another
// leader than the one at addr, so that a call forwarded to a leader
// that died does not wait for its connection until the caller's
// deadline: it ends when the election is over, and the caller gets
// ErrNotLeader and tries again, reaching the new leader (a call whose
// connection never came up was not sent: core answers it
// ErrNoProvider). While no leader is known the call goes on waiting,
// as it did. stop ends the watch and waits for it.
func (s *kvService) whileLeader(ctx context.Context, addr string) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if now, _ := s.n.Leader(); now != "" && now != addr {
				cancel()
				return
			}
		}
	}()
	return ctx, func() {
		cancel()
		<-done
	}
}

// isMember returns ErrNotMember unless id is in the configuration.
func (s *kvService) isMember(ctx context.Context, id string) error {
	ms, err := s.n.Members(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ID == id {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrNotMember, id)
}

// adminRemoteErr is remoteErr with ErrNotMember's code.
func adminRemoteErr(err error) error {
	if errors.Is(err, ErrNotMember) {
		return core.NewError(CodeNotMember, "%v", err)
	}
	return remoteErr(err)
}

// adminLocalErr is localErr with ErrNotMember's code.
func adminLocalErr(err error) error {
	var re *core.RemoteError
	if errors.As(err, &re) && re.Code == CodeNotMember {
		return fmt.Errorf("%w: %w", ErrNotMember, err)
	}
	return localErr(err)
}

// callLeader calls op until an answer other than ErrNotLeader comes,
// or ctx ends: ErrNotLeader means that nothing was done (no leader was
// known, or the one forwarded to had lost its leadership), so trying
// again is safe.
func (c *Client) callLeader(ctx context.Context, op string, body []byte, extra ...core.CallOption) ([]byte, error) {
	for {
		b, err := c.adminCall(ctx, op, body, extra...)
		if !errors.Is(err, ErrNotLeader) {
			return b, err
		}
		if err := pauseBeforeRetry(ctx, err); err != nil {
			return nil, err
		}
	}
}

// adminCall calls op once, with the membership services' errors mapped
// to this package's sentinels.
func (c *Client) adminCall(ctx context.Context, op string, body []byte, extra ...core.CallOption) ([]byte, error) {
	b, err := c.p.Call(ctx, c.name+"."+op, body, append(append([]core.CallOption(nil), c.opts...), extra...)...)
	if err != nil {
		return nil, adminLocalErr(err)
	}
	return b, nil
}

// pauseBeforeRetry waits a little before a call is tried again after
// err, or returns ctx's error (with err) when ctx ends first.
func pauseBeforeRetry(ctx context.Context, err error) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}

// emptyReply checks the reply of a call that answers nothing.
func emptyReply(op string, b []byte) error {
	if len(b) != 0 {
		return fmt.Errorf("%w: %s reply of %d bytes, want none", errBadCommand, op, len(b))
	}
	return nil
}

// Members returns the cluster's configuration: linearizable (from the
// leader, once it confirmed its leadership) unless Stale is given, then
// as the node that answers knows it. It retries while no leader is
// known, until ctx ends.
func (c *Client) Members(ctx context.Context, opts ...ReadOption) ([]Member, error) {
	b, err := c.callLeader(ctx, "members", appendMembersRequest(nil, readStale(opts)), core.Idempotent())
	if err != nil {
		return nil, err
	}
	return decodeMembersReply(b)
}

// AddVoter adds the server id at addr (its Transport.LocalAddr) as a
// voting member, or changes the address of the member id. The server
// must be running with no configuration of its own (not bootstrapped).
// It returns once the new configuration is committed; it retries while
// no leader is known, until ctx ends.
func (c *Client) AddVoter(ctx context.Context, id, addr string) error {
	if err := checkMemberID(id); err != nil {
		return err
	}
	if err := checkMemberAddr(addr); err != nil {
		return err
	}
	b, err := c.callLeader(ctx, "add", appendAddRequest(nil, id, addr))
	if err != nil {
		return err
	}
	return emptyReply("add", b)
}

// RemoveServer removes the member id and returns once the new
// configuration is committed (a leader that removes itself steps down).
// It returns ErrNotMember when id is not a member, except after a try
// that ended in ErrNotLeader: that try may have removed it, so a
// missing member then counts as removed. It retries while no leader is
// known, until ctx ends.
func (c *Client) RemoveServer(ctx context.Context, id string) error {
	if err := checkMemberID(id); err != nil {
		return err
	}
	retried := false
	for {
		b, err := c.adminCall(ctx, "remove", appendIDRequest(nil, id))
		switch {
		case err == nil:
			return emptyReply("remove", b)
		case retried && errors.Is(err, ErrNotMember):
			return nil
		case !errors.Is(err, ErrNotLeader):
			return err
		}
		retried = true
		if err := pauseBeforeRetry(ctx, err); err != nil {
			return err
		}
	}
}

// TransferLeadership hands the leadership to the member id, or to the
// most up-to-date follower when id is empty, and returns once the old
// leader stepped down (the new one may take a moment to be known). It
// returns ErrNotMember when id is not a member. An answer ErrNotLeader
// means this request moved nothing (the node that got it was not the
// leader, or a transfer was already under way), so it is retried until
// ctx ends.
func (c *Client) TransferLeadership(ctx context.Context, id string) error {
	if id != "" {
		if err := checkMemberID(id); err != nil {
			return err
		}
	}
	b, err := c.callLeader(ctx, "transfer", appendIDRequest(nil, id))
	if err != nil {
		return err
	}
	return emptyReply("transfer", b)
}
