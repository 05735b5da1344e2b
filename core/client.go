package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client holds a peer's connections to providers, one DEALER session
// per provider node (never one DEALER to many: zmq4 defect 1), and
// spreads calls over them with its balancer. It takes providers from
// the peer's registry watcher and never waits for the registry once it
// has a view that lists the service.
type client struct {
	p    *Peer
	bal  *balancer
	done atomic.Bool

	upCh atomic.Pointer[chan struct{}] // closed and replaced when a connection comes up

	mu    sync.RWMutex
	conns map[string]*providerConn // by node ID
}

func newClient(p *Peer) *client {
	c := &client{p: p, bal: newBalancer(p.cfg.heartbeat), conns: map[string]*providerConn{}}
	up := make(chan struct{})
	c.upCh.Store(&up)
	return c
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

// redialAfter is how long a connection closed after GOODBYE stays
// closed before a call may dial the same node again, in case it comes
// back at the same endpoint while the registry cannot tell.
const redialAfter = 250 * time.Millisecond

func (c *client) call(ctx context.Context, start, deadline time.Time, service string, body []byte, o callOptions) ([]byte, error) {
	w := c.p.watch
	w.touch()
	v := w.cur.Load()
	var (
		lastErr error
		skip    []*providerConn // answered "unknown service" to this call
	)
	for refreshed := false; ; {
		if v == nil || len(v.candidates(service, o.node)) == 0 {
			if refreshed {
				return nil, noProvider(service, o.node, lastErr)
			}
			var err error
			if v, err = w.fresh(ctx, deadline); err != nil {
				return nil, c.readFailed(ctx, service, o.node, err)
			}
			refreshed = true
			continue
		}
		cands := v.candidates(service, o.node)
		pc, wait, connecting, err := c.choose(service, cands, skip)
		if err != nil {
			return nil, err
		}
		if pc != nil {
			reply, err := pc.call(ctx, start, deadline, service, body)
			if errors.Is(err, ErrUnknownService) && len(skip)+1 < len(cands) && ctx.Err() == nil {
				// The view is stale for this node (it withdrew the service,
				// or another instance now answers at its endpoint and is
				// still setting up): the handler did not run, another
				// provider may serve it.
				lastErr, skip = err, append(skip, pc)
				w.request()
				continue
			}
			if err != nil && notRun(err) && ctx.Err() == nil && time.Now().Before(deadline) {
				lastErr = err // the provider did not run it: safe to try another
				w.request()
				v = w.cur.Load()
				continue
			}
			return reply, err
		}
		reason, refused := c.unreachable(cands)
		if reason != nil {
			lastErr = reason
		}
		if refused {
			return nil, noProvider(service, o.node, lastErr) // waiting would not change a refusal
		}
		if !c.waitUp(ctx, deadline, wait) {
			return nil, noProvider(service, o.node, lastErr)
		}
		if !connecting { // every candidate is down: the registry may know others
			w.request()
		}
		v = w.cur.Load()
	}
}

// readFailed turns a failed wait for a registry reading into the
// call's error.
func (c *client) readFailed(ctx context.Context, service, node string, err error) error {
	if ctx.Err() != nil && !errors.Is(err, errExpired) {
		return err
	}
	if errors.Is(err, errExpired) {
		return noProvider(service, node, fmt.Errorf("no registry reading before the deadline: %w", err))
	}
	return noProvider(service, node, err)
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

// choose returns the provider connection for the next call, or nil
// with a channel closed when a connection comes up, when none is
// connected now; connecting reports candidates still being dialled.
// It opens connections to every candidate, so that a call that must
// wait goes to the first provider that answers.
func (c *client) choose(service string, cands []NodeInfo, skip []*providerConn) (pc *providerConn, wait <-chan struct{}, connecting bool, err error) {
	if c.done.Load() {
		return nil, nil, false, ErrClosed
	}
	wait = *c.upCh.Load()
	var buf [8]*providerConn
	up := buf[:0]
	for _, n := range cands {
		pc, err := c.conn(n)
		if err != nil {
			return nil, nil, false, err
		}
		switch {
		case pc == nil || slices.Contains(skip, pc):
		case pc.isUp():
			up = append(up, pc)
		case !pc.down():
			connecting = true
		}
	}
	return c.bal.pick(service, up), wait, connecting, nil
}

// waitUp waits until a connection comes up or retryPause passes; it
// reports false once deadline or ctx ends first.
func (c *client) waitUp(ctx context.Context, deadline time.Time, up <-chan struct{}) bool {
	d := min(time.Until(deadline), retryPause)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-up:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return ctx.Err() == nil && time.Now().Before(deadline)
}

// connUp wakes the calls waiting for a connection.
func (c *client) connUp(bool) {
	next := make(chan struct{})
	close(*c.upCh.Swap(&next))
}

// conn returns the connection to n, made on first use, or nil when n
// has left the registry since the caller's view was read.
func (c *client) conn(n NodeInfo) (*providerConn, error) {
	c.mu.RLock()
	pc, ok := c.conns[n.ID]
	c.mu.RUnlock()
	if ok && pc.info.RPC == n.RPC && !pc.isRetired(redialAfter) {
		return pc, nil
	}
	c.mu.Lock()
	if c.done.Load() {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	old, ok := c.conns[n.ID]
	if ok && old.info.RPC == n.RPC && !old.isRetired(redialAfter) {
		c.mu.Unlock()
		return old, nil
	}
	if v := c.p.watch.cur.Load(); v != nil && !v.ids[n.ID] {
		// n comes from an older view and has left the registry since
		// (its connection was dropped): do not dial it again.
		c.mu.Unlock()
		return nil, nil
	}
	pc = newProviderConn(&c.p.cfg, c.p.name, n, connHooks{retireOnGoodbye: true, up: c.connUp})
	c.conns[n.ID] = pc
	c.mu.Unlock()
	if ok {
		old.close() // the node moved to another endpoint, or said GOODBYE
	}
	return pc, nil
}

// keepLive adds to a reading of the registry the nodes it lacks that
// this client is connected to, whose connection is up and did not say
// GOODBYE, for up to grace after they vanished: a registry that forgot
// a node (it restarted empty, a lease lapsed during its outage) is not
// believed over a live connection. A node that crashed or hangs loses
// its connection or its heartbeats, and one that stops says GOODBYE,
// so neither is kept.
func (c *client) keepLive(nodes []NodeInfo, grace time.Duration) []NodeInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	listed := make(map[string]bool, 2*len(nodes))
	for _, n := range nodes {
		listed[n.ID], listed["name:"+n.Name] = true, true
	}
	now := time.Now().UnixNano()
	for id, pc := range c.conns {
		if listed[id] {
			pc.vanished.Store(0)
			continue
		}
		if !pc.isUp() || listed["name:"+pc.info.Name] {
			continue
		}
		since := pc.vanished.Load()
		if since == 0 {
			pc.vanished.Store(now)
		} else if time.Duration(now-since) > grace {
			continue
		}
		nodes = append(nodes, pc.info)
	}
	return nodes
}

// viewChanged forgets connections to nodes no longer in the view. A
// connection with calls in flight stays until they are answered: a
// node that said GOODBYE leaves the registry before it stops serving
// (its connection retires itself then), and no reading of the registry
// cuts a call short. It is dropped at a later reading.
func (c *client) viewChanged(v *view) {
	c.mu.Lock()
	var stale []*providerConn
	for id, pc := range c.conns {
		if pc.inFlight() > 0 {
			continue
		}
		if !slices.ContainsFunc(v.nodes, func(n NodeInfo) bool { return n.ID == id }) {
			stale = append(stale, pc)
			delete(c.conns, id)
		}
	}
	c.mu.Unlock()
	for _, pc := range stale {
		pc.close()
	}
}

// unreachable returns why the candidates cannot be reached, from their
// last dial or link errors, and whether every one of them refused us
// (or we them) at the security handshake: waiting would not change that.
func (c *client) unreachable(cands []NodeInfo) (reason error, refused bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	refused = len(cands) > 0
	for _, n := range cands {
		var err error
		if pc := c.conns[n.ID]; pc != nil {
			err = pc.sess.LastError()
		}
		if err != nil && reason == nil {
			reason = fmt.Errorf("%d provider(s) unreachable, last error: %w", len(cands), securityError(err))
		}
		refused = refused && isSecurityError(err)
	}
	return reason, refused
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
