package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// client holds a peer's connections to providers, one DEALER session
// per provider node (never one DEALER to many: zmq4 defect 1), and
// spreads calls over them.
type client struct {
	p     *Peer
	view  atomic.Pointer[view] // the registry as last read
	reads atomic.Uint64        // registry readings started, numbering views
	done  atomic.Bool

	mu    sync.RWMutex
	conns map[string]*providerConn // by node ID
}

// view is one reading of the registry, shared read-only by every call
// until the next reading.
type view struct {
	seq       uint64 // reading number: a slow older reading never replaces a newer one
	nodes     []NodeInfo
	ids       map[string]bool
	seen      time.Time
	providers map[string][]NodeInfo     // by service, nodes with an RPC endpoint
	rr        map[string]*atomic.Uint64 // round-robin position by service
}

func newView(nodes []NodeInfo) *view {
	v := &view{nodes: nodes, ids: map[string]bool{}, seen: time.Now(), providers: map[string][]NodeInfo{}, rr: map[string]*atomic.Uint64{}}
	for _, n := range nodes {
		v.ids[n.ID] = true
		if n.RPC == "" {
			continue
		}
		for _, s := range n.Services {
			v.providers[s] = append(v.providers[s], n)
			if v.rr[s] == nil {
				v.rr[s] = new(atomic.Uint64)
			}
		}
	}
	return v
}

// candidates returns the nodes a call may go to: the providers of
// service, or the pinned node (which may also serve zmp's reserved
// services without listing them).
func (v *view) candidates(service, pin string) []NodeInfo {
	if pin == "" {
		return v.providers[service]
	}
	var out []NodeInfo
	for _, n := range v.nodes {
		if n.Name == pin && n.RPC != "" && (n.Provides(service) || isReserved(service)) {
			out = append(out, n)
		}
	}
	return out
}

// next returns where the round robin of service starts this time.
func (v *view) next(service string) uint64 {
	if c := v.rr[service]; c != nil {
		return c.Add(1) - 1
	}
	return 0
}

func newClient(p *Peer) *client {
	return &client{p: p, conns: map[string]*providerConn{}}
}

// current returns the registry view, read again when it is older than
// the discovery interval or fresh is set.
func (c *client) current(ctx context.Context, fresh bool) (*view, error) {
	if v := c.view.Load(); !fresh && v != nil && time.Since(v.seen) < c.p.cfg.discoveryInterval {
		return v, nil
	}
	seq := c.reads.Add(1)
	nodes, err := c.p.reg.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("core: reading registry: %w", err)
	}
	v := newView(nodes)
	v.seq = seq
	for {
		old := c.view.Load()
		if old != nil && old.seq > seq {
			return old, nil // a reading started after ours is already in place
		}
		if c.view.CompareAndSwap(old, v) {
			break
		}
	}
	c.mu.Lock()
	stale := c.dropVanished(nodes)
	c.mu.Unlock()
	for _, pc := range stale {
		pc.close()
	}
	return v, nil
}

// dropVanished forgets connections to nodes no longer registered. A
// node that said GOODBYE leaves the registry before it stops serving:
// its connection stays until the calls in flight on it are answered
// (it retires itself then), and is dropped at a later reading.
func (c *client) dropVanished(nodes []NodeInfo) []*providerConn {
	var stale []*providerConn
	for id, pc := range c.conns {
		if pc.goodbye.Load() && pc.inFlight() > 0 {
			continue
		}
		if !slices.ContainsFunc(nodes, func(n NodeInfo) bool { return n.ID == id }) {
			stale = append(stale, pc)
			delete(c.conns, id)
		}
	}
	return stale
}

// errNotSent marks a request that was never written to the provider.
var errNotSent = errors.New("core: request not sent")

// notRun reports errors after which the request certainly did not run.
func notRun(err error) bool {
	var re *RemoteError
	return errors.Is(err, errNotSent) || (errors.As(err, &re) && re.Code == CodeUnavailable)
}

// retryPause is how long a call waits before looking again when every
// provider is unreachable.
const retryPause = 25 * time.Millisecond

func (c *client) call(ctx context.Context, deadline time.Time, service string, body []byte, o callOptions) ([]byte, error) {
	fresh := false
	var lastErr error
	for {
		v, err := c.current(ctx, fresh)
		if err != nil {
			return nil, err
		}
		cands := v.candidates(service, o.node)
		if len(cands) == 0 && !fresh {
			fresh = true
			continue
		}
		if len(cands) == 0 {
			return nil, noProvider(service, o.node, lastErr)
		}
		pc, err := c.pick(cands, v.next(service))
		if err != nil {
			return nil, err
		}
		if pc != nil {
			reply, err := pc.call(ctx, deadline, service, body)
			if err != nil && notRun(err) && ctx.Err() == nil && time.Now().Before(deadline) {
				lastErr, fresh = err, true
				continue // the provider did not run it: safe to try another
			}
			return reply, err
		}
		lastErr = c.unreachableReason(cands)
		if c.allRefused(cands) {
			return nil, noProvider(service, o.node, lastErr) // waiting would not change a refusal
		}
		if !sleepUntil(ctx, deadline, retryPause) {
			return nil, noProvider(service, o.node, lastErr)
		}
		fresh = true
	}
}

func noProvider(service, node string, cause error) error {
	where := ""
	if node != "" {
		where = " on node " + node
	}
	if cause != nil {
		return fmt.Errorf("%w for %q%s: %w", ErrNoProvider, service, where, cause)
	}
	return fmt.Errorf("%w for %q%s", ErrNoProvider, service, where)
}

// pick chooses the next provider round-robin, skipping those whose
// connection is known to be down. It returns nil when all are down.
func (c *client) pick(cands []NodeInfo, start uint64) (*providerConn, error) {
	if c.done.Load() {
		return nil, ErrClosed
	}
	for i := range cands {
		pc, err := c.conn(cands[(start+uint64(i))%uint64(len(cands))])
		if err != nil {
			return nil, err
		}
		if pc != nil && !pc.down() {
			return pc, nil
		}
	}
	return nil, nil
}

// conn returns the connection to n, made on first use, or nil when n
// has left the registry since the caller's view was read.
func (c *client) conn(n NodeInfo) (*providerConn, error) {
	c.mu.RLock()
	pc, ok := c.conns[n.ID]
	c.mu.RUnlock()
	if ok && pc.info.RPC == n.RPC {
		return pc, nil
	}
	c.mu.Lock()
	if c.done.Load() {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	old, ok := c.conns[n.ID]
	if ok && old.info.RPC == n.RPC {
		c.mu.Unlock()
		return old, nil
	}
	if v := c.view.Load(); v != nil && !v.ids[n.ID] {
		// n comes from an older view and has left the registry since
		// (its connection was dropped): do not dial it again.
		c.mu.Unlock()
		return nil, nil
	}
	pc = newProviderConn(&c.p.cfg, c.p.name, n, connHooks{retireOnGoodbye: true})
	c.conns[n.ID] = pc
	c.mu.Unlock()
	if ok {
		old.close() // the node moved to another endpoint
	}
	return pc, nil
}

func (c *client) unreachableReason(cands []NodeInfo) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range cands {
		if pc := c.conns[n.ID]; pc != nil {
			if err := pc.sess.LastError(); err != nil {
				return fmt.Errorf("%d provider(s) unreachable, last error: %w", len(cands), securityError(err))
			}
		}
	}
	return nil
}

// allRefused reports whether every candidate's last handshake failed
// on security grounds.
func (c *client) allRefused(cands []NodeInfo) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range cands {
		pc := c.conns[n.ID]
		if pc == nil || !isSecurityError(pc.sess.LastError()) {
			return false
		}
	}
	return true
}

// sweepEvery is how often the client looks for calls past their
// deadline: the precision of deadlines that come from WithCallTimeout.
// Deadlines of the caller's context are exact.
const sweepEvery = 10 * time.Millisecond

// sweepLoop ends calls whose deadline has passed.
func (c *client) sweepLoop() {
	defer c.p.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-c.p.ctx.Done():
			return
		case now := <-t.C:
			c.mu.RLock()
			conns := make([]*providerConn, 0, len(c.conns))
			for _, pc := range c.conns {
				conns = append(conns, pc)
			}
			c.mu.RUnlock()
			for _, pc := range conns {
				pc.expire(now)
			}
		}
	}
}

func (c *client) close() {
	c.mu.Lock()
	c.done.Store(true)
	conns := c.conns
	c.conns = map[string]*providerConn{}
	c.mu.Unlock()
	for _, pc := range conns {
		pc.close()
	}
}

// sleepUntil sleeps d, or until deadline or the end of ctx; it reports
// whether the whole d passed before the deadline.
func sleepUntil(ctx context.Context, deadline time.Time, d time.Duration) bool {
	if time.Until(deadline) < d {
		sleepCtx(ctx, time.Until(deadline))
		return false
	}
	return sleepCtx(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// providerConn is one DEALER session to one provider node, carrying any
// number of concurrent calls told apart by request id.
type providerConn struct {
	info    NodeInfo
	sess    *sock.Session
	mu      sync.Mutex
	pending map[uint64]pendingCall
	nextID  uint64
	wasUp   atomic.Bool
	goodbye atomic.Bool // the provider is shutting down
	hooks   connHooks
	retired bool // under mu: the session is being closed after GOODBYE
	retire  sync.WaitGroup
}

// connHooks adapts a providerConn to its owner.
type connHooks struct {
	// reconnected, when set, runs on the session goroutine after every
	// connect but the first; it must not wait for the connection.
	reconnected func()
	// retireOnGoodbye closes the connection for good once the provider
	// said GOODBYE and every call in flight on it has its answer: the
	// provider waits for its callers to leave before it closes.
	retireOnGoodbye bool
}

// newProviderConn starts dialling n's RPC endpoint; self is the
// caller's node name, announced to the provider.
func newProviderConn(cfg *config, self string, n NodeInfo, hooks connHooks) *providerConn {
	pc := &providerConn{info: n, pending: map[uint64]pendingCall{}, hooks: hooks}
	sec, dial := cfg.clientDial(n.Key)
	pc.sess = sock.StartSession(sock.SessionConfig{
		Endpoint:         n.RPC,
		Dial:             dial,
		ZMTP:             zmtp.Config{Type: zmtp.Dealer, MaxMessageSize: cfg.maxMessageSize, Metadata: zmtp.Metadata{"X-Zmp-Node": self}, Security: sec},
		HandshakeTimeout: cfg.handshakeTimeout,
		Link: sock.LinkConfig{
			OnMessage:        pc.onMessage,
			Heartbeat:        cfg.heartbeat,
			HeartbeatTimeout: cfg.heartbeatTimeout,
		},
		OnUp: func(*sock.Link) {
			if pc.wasUp.Swap(true) && hooks.reconnected != nil {
				hooks.reconnected()
			}
		},
		OnDown: pc.onDown,
	})
	return pc
}

// down reports a provider that was reachable and is not now, or whose
// dials fail: calls go elsewhere until it is back.
func (pc *providerConn) down() bool {
	if pc.goodbye.Load() {
		return true
	}
	if pc.sess.Current() != nil {
		return false
	}
	return pc.wasUp.Load() || pc.sess.LastError() != nil
}

func (pc *providerConn) onMessage(_ *sock.Link, frames [][]byte) {
	m, err := parseRPC(frames)
	if err == nil && m.typ == typeGoodbye {
		pc.goodbye.Store(true)
		pc.maybeRetire()
		return
	}
	if err != nil || (m.typ != typeReply && m.typ != typeError) {
		return // not a reply: ignore, the caller's deadline still holds
	}
	if m.typ == typeError && m.code == CodeUnavailable {
		pc.goodbye.Store(true)
	}
	pc.mu.Lock()
	call, ok := pc.pending[m.id]
	delete(pc.pending, m.id)
	pc.mu.Unlock()
	if ok {
		call.ch <- m
	}
	pc.maybeRetire()
}

// pendingCall is a call waiting for its answer.
type pendingCall struct {
	ch       chan rpcMessage // capacity 1; closed when the connection is lost
	deadline time.Time
}

// typeExpired marks, inside this process only, a call whose deadline
// the sweeper saw pass.
const typeExpired msgType = 0xff

// expire ends the calls whose deadline has passed.
func (pc *providerConn) expire(now time.Time) {
	pc.mu.Lock()
	n := 0
	for id, call := range pc.pending {
		if !now.Before(call.deadline) {
			delete(pc.pending, id)
			call.ch <- rpcMessage{header: header{typ: typeExpired, id: id}}
			n++
		}
	}
	pc.mu.Unlock()
	if n > 0 {
		pc.maybeRetire()
	}
}

// maybeRetire closes the session once the provider said GOODBYE and no
// call waits for an answer on it. It runs on the link's own goroutine,
// which the close waits for, so the close runs on a goroutine of its own.
func (pc *providerConn) maybeRetire() {
	if !pc.hooks.retireOnGoodbye || !pc.goodbye.Load() {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.retired || len(pc.pending) > 0 {
		return
	}
	pc.retired = true
	pc.retire.Add(1)
	go func() {
		defer pc.retire.Done()
		pc.sess.Close()
	}()
}

// onDown fails every call in flight on the lost connection.
func (pc *providerConn) onDown(*sock.Link, error) {
	pc.mu.Lock()
	pending := pc.pending
	pc.pending = map[uint64]pendingCall{}
	pc.mu.Unlock()
	for _, call := range pending {
		close(call.ch)
	}
}

// call runs one call on this connection. ctx may carry no deadline:
// deadline always holds, enforced by ctx or by the client's sweeper.
func (pc *providerConn) call(ctx context.Context, deadline time.Time, service string, body []byte) ([]byte, error) {
	if pc.goodbye.Load() && pc.hooks.retireOnGoodbye {
		return nil, errNotSent
	}
	link, err := pc.link(ctx, deadline)
	if err != nil {
		return nil, err
	}
	ch := make(chan rpcMessage, 1)
	pc.mu.Lock()
	if pc.retired {
		// GOODBYE came after the check above and the connection is
		// being closed: the request was not sent, try another provider.
		pc.mu.Unlock()
		return nil, fmt.Errorf("%w: connection retired", errNotSent)
	}
	pc.nextID++
	id := pc.nextID
	pc.pending[id] = pendingCall{ch: ch, deadline: deadline}
	alone := len(pc.pending) == 1
	pc.mu.Unlock()
	req := requestFrames(id, timeoutMS(deadline), service, body)
	if err := pc.send(ctx, deadline, link, req, alone); err != nil {
		pc.forget(id)
		return nil, err
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("%w: %s on %s", ErrConnectionLost, service, pc.info.Name)
		}
		if m.typ == typeExpired {
			link.TrySend(cancelFrames(id), sock.DropNewest)
			return nil, errExpired
		}
		return pc.result(service, m)
	case <-ctx.Done():
		pc.forget(id)
		link.TrySend(cancelFrames(id), sock.DropNewest)
		return nil, ctx.Err()
	}
}

// link returns the live link, waiting for a connection until deadline.
// It gives up early when the provider refuses us (or we refuse it) at
// the security handshake: waiting would not change that.
func (pc *providerConn) link(ctx context.Context, deadline time.Time) (*sock.Link, error) {
	if l := pc.sess.Current(); l != nil {
		return l, nil
	}
	for {
		if err := pc.sess.LastError(); isSecurityError(err) {
			return nil, fmt.Errorf("%w: %w", errNotSent, securityError(err))
		}
		wctx, cancel := context.WithDeadline(ctx, earliest(deadline, time.Now().Add(securityPoll)))
		l, err := pc.sess.Link(wctx)
		cancel()
		switch {
		case err == nil:
			return l, nil
		case errors.Is(err, sock.ErrClosed):
			return nil, fmt.Errorf("%w: connection retired", errNotSent)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !time.Now().Before(deadline):
			return nil, errExpired
		}
	}
}

// securityPoll is how often a call waiting for a connection looks
// whether the handshake was refused.
const securityPoll = 50 * time.Millisecond

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// send queues req (written at once for a lone call), waiting for queue
// room at most until deadline.
func (pc *providerConn) send(ctx context.Context, deadline time.Time, link *sock.Link, req [][]byte, alone bool) error {
	var err error
	switch {
	case alone:
		err = link.SendNow(ctx, req, sock.Block) // latency: no hand-off; under load the writer batches
	case link.QueueFull(0):
		wctx, cancel := context.WithDeadline(ctx, deadline)
		err = link.Send(wctx, req)
		cancel()
	default:
		err = link.Send(ctx, req)
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return errExpired
	}
	return fmt.Errorf("%w: %v", errNotSent, err)
}

func (pc *providerConn) forget(id uint64) {
	pc.mu.Lock()
	delete(pc.pending, id)
	pc.mu.Unlock()
	pc.maybeRetire()
}

func (pc *providerConn) result(service string, m rpcMessage) ([]byte, error) {
	if m.typ == typeReply {
		return m.body, nil
	}
	return nil, &RemoteError{Code: m.code, Message: string(m.body), Detail: string(m.detail), Node: pc.info.Name, Service: service}
}

// inFlight counts the calls waiting for an answer.
func (pc *providerConn) inFlight() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.pending)
}

func (pc *providerConn) close() {
	pc.sess.Close()
	pc.retire.Wait()
}
