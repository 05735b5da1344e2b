package consensus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// Transport carries raft's RPCs between the members of a raft group
// over zmp: it implements raft.Transport, raft.WithPreVote and
// raft.WithClose. Each member's peer provides the transport's services
// (see WithTransportPrefix), and calls go straight to a member's
// address with core.At, without the registry.
//
// A member's raft.ServerAddress is its peer's RPC endpoint, with its
// CURVE public key appended (core.KeyedEndpoint) when the peer runs
// CURVE: LocalAddr returns it, and that is the address to give
// raft.BootstrapCluster or AddVoter for this member.
//
// Heartbeats (AppendEntries without entries) have a service and a
// handler pool of their own, so a long batch of entries or a snapshot
// stream never delays them; InstallSnapshot streams the snapshot in
// bounded chunks (core's HandleStream), so its size does not show in
// either member's memory.
//
// AppendEntries may be pipelined (WithPipelineDepth, off by default):
// the follower hands a pipeline's requests to raft in the order sent.
//
// Every call has a deadline: a heartbeat 1 s (WithHeartbeatCallTimeout),
// the other RPCs 2 s (WithRPCTimeout), a snapshot 10 s plus 1 s per
// 4 MiB (WithSnapshotTimeout); Close ends the calls in flight. Errors
// name the RPC and its target and wrap core's (core.ErrTimeout,
// core.ErrDenied, a *core.RemoteError carrying raft's own error as
// core.CodeHandler ...), so raft's log says which member failed how.
//
// Its counters (Stats) appear in the peer's zmp.stats under
// "consensus.transport".
type Transport struct {
	peer     *core.Peer
	cfg      transportConfig
	local    raft.ServerAddress
	consumer chan raft.RPC
	// heartbeat is the fast-path handler (a func(raft.RPC)), nil until
	// SetHeartbeatHandler.
	heartbeat atomic.Pointer[func(raft.RPC)]

	// mu guards closed and the Add of handlers, so that Close's Wait
	// never races an Add.
	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup
	done     chan struct{}
	// ctx is the transport's lifetime: Close cancels it, ending the
	// calls in flight.
	ctx    context.Context
	cancel context.CancelFunc

	removeStats func()
	stats       transportCounters
	pipes       pipeSequencerSet
}

// Service names under the prefix.
const (
	svcAppend    = ".append"
	svcHeartbeat = ".heartbeat"
	svcVote      = ".vote"
	svcPreVote   = ".prevote"
	svcTimeout   = ".timeout"
	svcSnapshot  = ".snapshot"
)

// NewTransport provides the transport's services on p and returns it.
// p must outlive the transport: Close the transport (raft's Shutdown
// does, through raft.WithClose) before the peer. Options are validated
// (ErrBadTransportOption); a prefix whose services another transport
// on p already provides is replaced by this one. Errors of
// core.Peer.Handle, SetServiceLimits and AddStats are returned as they
// are (a second transport with the same prefix on one peer gets
// core.ErrStatsTaken).
func NewTransport(p *core.Peer, opts ...TransportOption) (*Transport, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil peer", ErrBadTransportOption)
	}
	cfg := defaultTransportConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrBadTransportOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	local, err := localAddress(p)
	if err != nil {
		return nil, err
	}
	t := &Transport{peer: p, cfg: cfg, local: local, consumer: make(chan raft.RPC), done: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	statsName := "consensus.transport"
	if cfg.prefix != DefaultTransportPrefix {
		statsName += "." + cfg.prefix
	}
	if t.removeStats, err = p.AddStats(statsName, func() any { return t.Stats() }); err != nil {
		t.cancel()
		return nil, err
	}
	if err := t.provide(); err != nil {
		t.withdraw()
		t.removeStats()
		t.cancel()
		return nil, err
	}
	return t, nil
}

// localAddress is p's RPC endpoint, keyed with its CURVE public key
// when it has one.
func localAddress(p *core.Peer) (raft.ServerAddress, error) {
	info := p.Info()
	if info.RPC == "" {
		return "", errors.New("consensus: peer has no RPC endpoint")
	}
	if info.Security != "CURVE" || info.Key == "" {
		return raft.ServerAddress(info.RPC), nil
	}
	key, err := core.ParseKey(info.Key)
	if err != nil {
		return "", fmt.Errorf("consensus: peer's public key: %w", err)
	}
	return raft.ServerAddress(core.KeyedEndpoint(info.RPC, key)), nil
}

func (t *Transport) svc(name string) string { return t.cfg.prefix + name }

// provide registers the handlers and their pools.
func (t *Transport) provide() error {
	limits := []struct {
		name string
		l    core.ServiceLimits
	}{
		{svcHeartbeat, t.cfg.heartbeatLimits}, {svcAppend, t.cfg.appendLimits},
		{svcVote, t.cfg.voteLimits}, {svcPreVote, t.cfg.voteLimits}, {svcTimeout, t.cfg.voteLimits},
	}
	for _, s := range limits {
		if err := t.peer.SetServiceLimits(t.svc(s.name), s.l); err != nil {
			return fmt.Errorf("consensus: limits of %s: %w", t.svc(s.name), err)
		}
	}
	handlers := []struct {
		name string
		f    core.HandlerFunc
	}{
		{svcHeartbeat, t.serveHeartbeat}, {svcAppend, t.serveAppend}, {svcVote, t.serveVote},
		{svcPreVote, t.servePreVote}, {svcTimeout, t.serveTimeoutNow},
	}
	for _, h := range handlers {
		if err := t.peer.Handle(t.svc(h.name), h.f); err != nil {
			return fmt.Errorf("consensus: providing %s: %w", t.svc(h.name), err)
		}
	}
	err := t.peer.HandleStream(t.svc(svcSnapshot), core.StreamHandlerFunc(t.serveSnapshot), t.cfg.streamOpts...)
	if err != nil {
		return fmt.Errorf("consensus: providing %s: %w", t.svc(svcSnapshot), err)
	}
	return nil
}

// withdraw stops providing the services; errors are those of a closed
// peer, which has withdrawn them already.
func (t *Transport) withdraw() {
	for _, s := range []string{svcHeartbeat, svcAppend, svcVote, svcPreVote, svcTimeout, svcSnapshot} {
		_ = t.peer.Withdraw(t.svc(s))
	}
}

// Consumer returns the channel of incoming RPCs, which raft reads. A
// handler waits for raft to take its RPC and to answer on its RespChan
// until the caller's deadline.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumer }

// LocalAddr returns this member's address: the peer's RPC endpoint,
// with "?key=" and its CURVE public key when the peer runs CURVE.
func (t *Transport) LocalAddr() raft.ServerAddress { return t.local }

// EncodePeer returns addr's bytes; id is not needed to reach it.
func (t *Transport) EncodePeer(id raft.ServerID, addr raft.ServerAddress) []byte {
	return []byte(addr)
}

// DecodePeer is the inverse of EncodePeer.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// SetHeartbeatHandler sets the handler that heartbeats go to instead of
// the consumer channel (raft sets it to answer heartbeats while its
// main loop is busy, for instance installing a snapshot). nil sends
// heartbeats to the consumer channel again.
func (t *Transport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		t.heartbeat.Store(nil)
		return
	}
	t.heartbeat.Store(&cb)
}

// Close withdraws the transport's services, ends the handlers that are
// waiting for raft (their callers get an error) and waits for them to
// return. Calls made after Close fail with raft.ErrTransportShutdown.
// It is idempotent and always returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.done)
	t.cancel()
	t.mu.Unlock()
	t.withdraw()
	t.removeStats()
	t.handlers.Wait()
	return nil
}

// enter counts a running handler or call; false once closed.
func (t *Transport) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.handlers.Add(1)
	return true
}

func (t *Transport) leave() { t.handlers.Done() }

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
)
