package consensus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/gozmp/zmp/core"
)

// Remote error codes of the key-value service, mapped back to this
// package's sentinels by Client.
const (
	CodeNotLeader     core.Code = 1501 // the node is not the leader (and the request was already forwarded once)
	CodeLeaseNotFound core.Code = 1502
	CodeLeaseExists   core.Code = 1503
	CodeCompacted     core.Code = 1504
	CodeTimeout       core.Code = 1505
	// 1506 is CodeNotMember (kv_admin.go).
	CodeOutcomeUnknown core.Code = 1507 // a write may or may not have been applied
)

// metaForwarded marks a request a follower forwarded to the leader: the
// receiver does not forward it again.
const metaForwarded = "kv-forwarded"

// DefaultServiceName is the key-value service's default name.
const DefaultServiceName = "kv"

// Serve provides the node's key-value service on p under name (""
// for DefaultServiceName): NAME.propose, NAME.get, NAME.list and
// NAME.events, and the membership services NAME.members, NAME.add,
// NAME.remove and NAME.transfer (kv_admin.go). Any node answers any call: a follower forwards writes
// and linearizable reads to the leader, calling it straight at its raft
// address, so the node's transport must be one whose addresses are zmp
// endpoints (this package's Transport). stop withdraws the services.
func (n *Node) Serve(p *core.Peer, name string) (stop func(), err error) {
	if name == "" {
		name = DefaultServiceName
	}
	s := &kvService{n: n, p: p, name: name}
	handlers := map[string]core.HandlerFunc{
		name + ".propose": s.propose,
		name + ".get":     s.get,
		name + ".list":    s.list,
		name + ".events":  s.events,
	}
	maps.Copy(handlers, s.adminHandlers())
	var done []string
	for svc, h := range handlers {
		if err := p.Handle(svc, h); err != nil {
			for _, d := range done {
				p.Withdraw(d)
			}
			return nil, err
		}
		done = append(done, svc)
	}
	return func() {
		for _, d := range done {
			p.Withdraw(d)
		}
	}, nil
}

type kvService struct {
	n    *Node
	p    *core.Peer
	name string
}

// forward sends a request to the leader, once: a request that was
// forwarded already is answered CodeNotLeader.
func (s *kvService) forward(ctx context.Context, req *core.Request, svc string, write bool) ([]byte, error) {
	if req.Meta[metaForwarded] != "" {
		return nil, remoteErr(s.n.notLeader())
	}
	addr, _ := s.n.Leader()
	if addr == "" {
		return nil, remoteErr(s.n.notLeader())
	}
	ctx, stop := s.whileLeader(ctx, addr) // a leader that goes away ends the call (kv_admin.go)
	defer stop()
	body, err := s.p.Call(ctx, svc, req.Body, core.At(addr), core.WithMetadata(core.Metadata{metaForwarded: s.n.ID()}))
	if err != nil {
		var re *core.RemoteError
		if errors.As(err, &re) {
			return nil, re
		}
		if write && !notDelivered(err) {
			return nil, remoteErr(fmt.Errorf("%w: forwarded to the leader at %s: %v", ErrOutcomeUnknown, addr, err))
		}
		return nil, remoteErr(fmt.Errorf("%w: forwarding to the leader at %s: %v", ErrNotLeader, addr, err))
	}
	return body, nil
}

// notDelivered reports whether a failed call surely did not run on
// its provider: it found none, or the provider turned it away.
func notDelivered(err error) bool {
	return errors.Is(err, core.ErrNotSent) || errors.Is(err, core.ErrNoProvider) ||
		errors.Is(err, core.ErrOverloaded) || errors.Is(err, core.ErrUnknownService)
}

func (s *kvService) propose(ctx context.Context, req *core.Request) ([]byte, error) {
	c, err := decodeCommand(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".propose", true)
	}
	res, err := s.n.propose(ctx, c)
	if err != nil {
		return nil, remoteErr(err)
	}
	return appendProposeReply(nil, proposeReply{rev: res.rev, ok: res.ok, prev: res.prev}), nil
}

func (s *kvService) get(ctx context.Context, req *core.Request) ([]byte, error) {
	q, err := decodeGetRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !q.stale && !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".get", false)
	}
	if err := s.n.read(ctx, staleIf(q.stale)); err != nil {
		return nil, remoteErr(err)
	}
	e, found := s.n.st.get(q.key)
	var ep *Entry
	if found {
		ep = &e
	}
	return appendGetReply(nil, s.n.Revision(), ep), nil
}

func (s *kvService) list(ctx context.Context, req *core.Request) ([]byte, error) {
	q, err := decodeListRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	if !q.stale && !s.n.IsLeader() {
		return s.forward(ctx, req, s.name+".list", false)
	}
	if err := s.n.read(ctx, staleIf(q.stale)); err != nil {
		return nil, remoteErr(err)
	}
	limit := int(q.limit)
	if limit == 0 || limit > maxListReply {
		limit = maxListReply
	}
	es, rev := s.n.st.list(q.key, limit)
	return appendListReply(nil, rev, es), nil
}

// events is served by the node called, from its own state: a follower's
// events may trail the leader's by the replication delay.
func (s *kvService) events(ctx context.Context, req *core.Request) ([]byte, error) {
	q, err := decodeEventsRequest(req.Body)
	if err != nil {
		return nil, core.NewError(core.CodeBadRequest, "%v", err)
	}
	limit := int(q.limit)
	if limit == 0 || limit > maxListReply {
		limit = 1000
	}
	if !req.Deadline.IsZero() {
		// Answer with nothing a little before the caller gives up.
		margin := min(100*time.Millisecond, time.Until(req.Deadline)/10)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Deadline.Add(-margin))
		defer cancel()
	}
	evs, seen, err := s.n.Events(ctx, q.key, q.after, limit)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return nil, remoteErr(err)
	}
	return appendEventsReply(nil, seen, evs), nil
}

func staleIf(stale bool) []ReadOption {
	if stale {
		return []ReadOption{Stale()}
	}
	return nil
}

// remoteErr maps this package's errors to remote errors with stable
// codes.
func remoteErr(err error) error {
	var code core.Code
	switch {
	case errors.Is(err, ErrNotLeader):
		code = CodeNotLeader
	case errors.Is(err, ErrLeaseNotFound):
		code = CodeLeaseNotFound
	case errors.Is(err, ErrLeaseExists):
		code = CodeLeaseExists
	case errors.Is(err, ErrCompacted):
		code = CodeCompacted
	case errors.Is(err, ErrTimeout):
		code = CodeTimeout
	case errors.Is(err, ErrOutcomeUnknown):
		code = CodeOutcomeUnknown
	case errors.Is(err, ErrBadRequest):
		code = core.CodeBadRequest
	case errors.Is(err, ErrClosed):
		code = core.CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = core.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = core.CodeCanceled
	default:
		code = core.CodeHandler
	}
	return core.NewError(code, "%v", err)
}

// localErr maps a remote error of the service back to this package's
// sentinels, keeping the remote error in the chain.
func localErr(err error) error {
	var re *core.RemoteError
	if !errors.As(err, &re) {
		return err
	}
	var s error
	switch re.Code {
	case CodeNotLeader:
		s = ErrNotLeader
	case CodeLeaseNotFound:
		s = ErrLeaseNotFound
	case CodeLeaseExists:
		s = ErrLeaseExists
	case CodeCompacted:
		s = ErrCompacted
	case CodeTimeout:
		s = ErrTimeout
	case CodeOutcomeUnknown:
		s = ErrOutcomeUnknown
	case core.CodeBadRequest:
		s = ErrBadRequest
	default:
		return err
	}
	return fmt.Errorf("%w: %w", s, err)
}
