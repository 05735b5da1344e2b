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
	bal  Balancer
	done atomic.Bool

	retries, hedges, hedgeWins atomic.Uint64

	upCh atomic.Pointer[chan struct{}] // closed and replaced when a connection comes up

	// The deadline sweeper rests while no call waits for an answer:
	// sweepIdle is set while it does, and the call that clears it sends
	// the one kick that wakes it (kick has room for it).
	sweepIdle atomic.Bool
	kick      chan struct{}

	mu    sync.RWMutex
	conns map[string]*providerConn // by node ID
}

func newClient(p *Peer) *client {
	c := &client{p: p, bal: p.cfg.balancer, conns: map[string]*providerConn{}, kick: make(chan struct{}, 1)}
	up := make(chan struct{})
	c.upCh.Store(&up)
	return c
}

// notRun reports errors after which the request certainly did not run.
func notRun(err error) bool {
	var re *RemoteError
	return errors.Is(err, ErrNotSent) || (errors.As(err, &re) && re.Code == CodeUnavailable)
}

// retryPause is how long a call waits before looking again when every
// provider is unreachable.
const retryPause = 25 * time.Millisecond

// redialAfter is how long a connection closed after GOODBYE stays
// closed before a call may dial the same node again, in case it comes
// back at the same endpoint while the registry cannot tell.
const redialAfter = 250 * time.Millisecond

// outCall is one call on its way out, after its interceptors.
type outCall struct {
	start, deadline time.Time
	service         string
	body, meta      []byte      // meta: the encoded metadata frame, nil for none
	o               callOptions // a copy: outCall stays on the caller's stack
}

// call sends oc to a provider (and, hedged, to a second one), and
// writes the reply's metadata to oc.o.replyMeta when asked.
func (c *client) call(ctx context.Context, oc *outCall) ([]byte, error) {
	var r result
	if oc.o.hedge > 0 {
		hc := *oc // the attempts run on goroutines: they get a copy, so that oc stays on the stack
		r = c.hedged(ctx, &hc)
	} else {
		r = c.attempt(ctx, oc, nil, nil)
	}
	if oc.o.replyMeta != nil && r.meta != nil {
		md, err := decodeMeta(r.meta)
		if err != nil {
			return nil, fmt.Errorf("%w: in the reply from %q: %w", errBadEnvelope, oc.service, err)
		}
		*oc.o.replyMeta = md
	}
	return r.body, r.err
}

// result is how one attempt at a call ended.
type result struct {
	body, meta []byte
	err        error
	pc         *providerConn // where it went last; nil if nowhere
}

// attempt sends oc to one provider after another until one answers,
// the call's deadline passes, or it fails in a way that must not be
// retried. Every call moves on from a provider that did not run it
// (its connection was not up, it said it was stopping) or does not know
// the service; an idempotent call also from one that lost the
// connection or was overloaded, with backoff (WithRetry). avoid, when
// set, is a provider to leave to others while any other is up; picked,
// when set, is told the first provider chosen.
func (c *client) attempt(ctx context.Context, oc *outCall, avoid *providerConn, picked chan<- *providerConn) result {
	w := c.p.watch
	w.touch()
	v := w.cur.Load()
	var (
		lastErr error
		skip    []*providerConn // not to be tried again by this call
		tries   int
	)
	if avoid != nil {
		skip = append(skip, avoid)
	}
	for refreshed := false; ; {
		cands := c.candidates(v, oc)
		if len(cands) == 0 {
			if refreshed || oc.o.target != nil {
				return result{err: noProvider(oc.service, oc.o.pinned(), lastErr)}
			}
			var err error
			if v, err = w.fresh(ctx, oc.deadline); err != nil {
				return result{err: c.readFailed(ctx, oc.service, oc.o.pinned(), err)}
			}
			refreshed = true
			continue
		}
		if avoid != nil && len(cands) == 1 && cands[0].ID == avoid.info.ID {
			return result{err: errNoHedge} // a hedge goes elsewhere or nowhere
		}
		pc, wait, connecting, err := c.choose(oc, cands, skip)
		if err != nil {
			return result{err: err}
		}
		if pc != nil {
			if picked != nil {
				picked <- pc // capacity 1, sent once
				picked = nil
			}
			tries++
			reply, meta, err := pc.callOut(ctx, oc)
			if err == nil {
				return result{body: reply, meta: meta, pc: pc}
			}
			switch c.retry(ctx, oc, err, tries, len(skip)+1 < len(cands)) {
			case retryElsewhere:
				lastErr, skip = err, append(skip, pc)
				w.request()
				v = w.cur.Load()
				continue
			case retryNow:
				lastErr = err
				w.request()
				v = w.cur.Load()
				continue
			case retryLater:
				lastErr, skip = err, append(skip, pc)
				if len(skip) >= len(cands) {
					skip = skip[:0] // every provider failed once: try them again
				}
				c.retries.Add(1)
				if !c.backoff(ctx, oc, tries) {
					return result{meta: meta, err: err, pc: pc}
				}
				w.request()
				v = w.cur.Load()
				continue
			}
			return result{meta: meta, err: err, pc: pc}
		}
		reason, refused := c.unreachable(cands)
		if reason != nil {
			lastErr = reason
		}
		if refused {
			return result{err: noProvider(oc.service, oc.o.pinned(), lastErr)} // waiting would not change a refusal
		}
		if !c.waitUp(ctx, oc.deadline, wait) {
			return result{err: noProvider(oc.service, oc.o.pinned(), lastErr)}
		}
		if !connecting { // every candidate is down: the registry may know others
			w.request()
		}
		v = w.cur.Load()
	}
}

// candidates returns the nodes oc may go to: its At target, or the
// providers in v narrowed by OnNode and Where.
func (c *client) candidates(v *view, oc *outCall) []NodeInfo {
	if oc.o.target != nil {
		return []NodeInfo{*oc.o.target}
	}
	if v == nil {
		return nil
	}
	cands := v.candidates(oc.service, oc.o.node)
	if len(oc.o.labels) == 0 && oc.o.nodeID == "" {
		return cands
	}
	if oc.o.nodeID != "" && oc.o.node == "" && isReserved(oc.service) {
		cands = v.nodes // zmp's services are not listed
	}
	var out []NodeInfo
	for _, n := range cands {
		if n.HasLabels(oc.o.labels) && (oc.o.nodeID == "" || n.ID == oc.o.nodeID && n.RPC != "") {
			out = append(out, n)
		}
	}
	return out
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
func (c *client) choose(oc *outCall, cands []NodeInfo, skip []*providerConn) (pc *providerConn, wait <-chan struct{}, connecting bool, err error) {
	if c.done.Load() {
		return nil, nil, false, ErrClosed
	}
	wait = *c.upCh.Load()
	var buf [8]Provider
	up := buf[:0]
	for _, n := range cands {
		pc, err := c.conn(n, oc.o.target != nil)
		if err != nil {
			return nil, nil, false, err
		}
		switch {
		case pc == nil || slices.Contains(skip, pc):
		case pc.isUp():
			up = append(up, Provider{pc: pc, hb: c.p.cfg.heartbeat})
		case !pc.down():
			connecting = true
		}
	}
	if len(up) == 0 {
		return nil, wait, connecting, nil
	}
	b := c.bal
	if oc.o.balancer != nil {
		b = oc.o.balancer
	}
	var i int
	if lo, ok := b.(*leastOutstanding); ok {
		i = lo.Pick(oc.service, up) // a direct call keeps up on the stack
	} else {
		i = b.Pick(oc.service, slices.Clone(up)) // a plugged balancer may keep its slice
	}
	if i < 0 || i >= len(up) {
		i = 0
	}
	return up[i].pc, wait, connecting, nil
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
// has left the registry since the caller's view was read. A direct
// connection (At) is made whatever the registry says.
func (c *client) conn(n NodeInfo, direct bool) (*providerConn, error) {
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
	if v := c.p.watch.cur.Load(); !direct && v != nil && !v.ids[n.ID] {
		// n comes from an older view and has left the registry since
		// (its connection was dropped): do not dial it again.
		c.mu.Unlock()
		return nil, nil
	}
	pc = newProviderConn(&c.p.cfg, c.p.name, n, connHooks{retireOnGoodbye: true, up: c.connUp, pending: c.wakeSweeper})
	pc.direct = direct
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
		if pc.direct {
			continue
		}
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
		if pc.direct || pc.inFlight() > 0 {
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

// sweepLoop ends calls whose deadline has passed. It rests while no
// call waits for an answer and no direct connection waits to be closed
// as idle, so that an idle peer costs no timer wake-ups (a process with
// a thousand peers spent a sixth of its CPU in their sweepers).
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
			c.closeIdleDirect(conns)
			if c.restSweeper(t) {
				if !c.sleepUntilKicked() {
					return
				}
				t.Reset(sweepEvery)
			}
		}
	}
}

// restSweeper reports that the sweeper may rest, and stops its ticker:
// nothing waits for an answer or to be closed. A call added meanwhile
// either sees sweepIdle and kicks, or is seen here.
func (c *client) restSweeper(t *time.Ticker) bool {
	if c.sweepBusy() {
		return false
	}
	c.sweepIdle.Store(true)
	if c.sweepBusy() {
		if !c.sweepIdle.CompareAndSwap(true, false) {
			<-c.kick // a call cleared it first: take its kick
		}
		return false
	}
	t.Stop()
	return true
}

// sleepUntilKicked waits for a call's kick; false when the peer closes.
func (c *client) sleepUntilKicked() bool {
	select {
	case <-c.p.ctx.Done():
		return false
	case <-c.kick:
		return true
	}
}

// sweepBusy reports a call waiting for an answer, or a direct
// connection (closed after directIdle without calls).
func (c *client) sweepBusy() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, pc := range c.conns {
		if pc.direct || pc.inFlight() > 0 {
			return true
		}
	}
	return false
}

// wakeSweeper wakes the sweeper if it rests; a call runs it after it
// is added to pending.
func (c *client) wakeSweeper() {
	if c.sweepIdle.Load() && c.sweepIdle.CompareAndSwap(true, false) {
		c.kick <- struct{}{}
	}
}

// directIdle is how long a connection made for direct calls (At) stays
// open without a call.
const directIdle = time.Minute

// closeIdleDirect closes the direct connections idle for directIdle.
func (c *client) closeIdleDirect(conns []*providerConn) {
	for _, pc := range conns {
		if !pc.direct || pc.load.outstanding.Load() > 0 || pc.load.now()-time.Duration(pc.load.progress.Load()) < directIdle {
			continue
		}
		c.mu.Lock()
		if c.conns[pc.info.ID] == pc && pc.inFlight() == 0 {
			delete(c.conns, pc.info.ID)
		} else {
			pc = nil
		}
		c.mu.Unlock()
		if pc != nil {
			pc.close()
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
