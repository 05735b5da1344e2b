package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// providerConn is one DEALER session to one provider node, carrying any
// number of concurrent calls told apart by request id.
type providerConn struct {
	info    NodeInfo
	sess    *sock.Session
	live    atomic.Pointer[sock.Link] // the session's link while it is up
	load    load
	mu      sync.Mutex
	pending map[uint64]pendingCall
	nextID  uint64
	wasUp   atomic.Bool
	goodbye atomic.Bool  // the provider is shutting down
	retAt   atomic.Int64 // unix ns when the session was closed after GOODBYE; 0 while not
	// vanished is when (unix ns) a reading of the registry first lacked
	// the node while its connection was up; 0 while it is listed.
	vanished atomic.Int64
	hooks    connHooks
	direct   bool // made for calls with At: not dropped by registry readings
	retired  bool // under mu: the session is being closed after GOODBYE
	retire   sync.WaitGroup
	waiters  sync.Pool // of *replySlot
}

// connHooks adapts a providerConn to its owner.
type connHooks struct {
	// up, when set, runs on the session goroutine after every connect;
	// first is true for the first. It must not wait for the connection.
	up func(first bool)
	// retireOnGoodbye closes the connection for good once the provider
	// said GOODBYE and every call in flight on it has its answer: the
	// provider waits for its callers to leave before it closes.
	retireOnGoodbye bool
	// maxBackoff bounds the wait between reconnects (0: the default).
	maxBackoff time.Duration
	// handshakeTimeout bounds each dial (0: config.dialTimeout).
	handshakeTimeout time.Duration
	// pending, when set, runs after a call is added to pending: the
	// client wakes its idle deadline sweeper.
	pending func()
}

// dialTimeout bounds a caller's dial and handshake to a provider. With
// heartbeats on it is half the heartbeat timeout, and at least one
// interval (1 s by default): a provider whose handshake takes longer
// hangs (its process is stopped, or swamped) as surely as a connection
// silent for the heartbeat timeout, and calls must not wait on it.
func (c *config) dialTimeout() time.Duration {
	if c.heartbeat <= 0 {
		return c.handshakeTimeout
	}
	return min(c.handshakeTimeout, max(c.heartbeat, c.heartbeatTimeout/2))
}

// newProviderConn starts dialling n's RPC endpoint; self is the
// caller's node name, announced to the provider.
func newProviderConn(cfg *config, self string, n NodeInfo, hooks connHooks) *providerConn {
	pc := &providerConn{info: n, pending: map[uint64]pendingCall{}, hooks: hooks}
	pc.waiters.New = newReplySlot
	pc.load.epoch = time.Now()
	sec, dial := cfg.clientDial(n.Key)
	pc.sess = sock.StartSession(sock.SessionConfig{
		Endpoint:         n.RPC,
		Dial:             dial,
		ZMTP:             zmtp.Config{Type: zmtp.Dealer, MaxMessageSize: cfg.maxMessageSize, Metadata: zmtp.Metadata{"X-Zmp-Node": self}, Security: sec},
		HandshakeTimeout: cmp.Or(hooks.handshakeTimeout, cfg.dialTimeout()),
		MaxBackoff:       hooks.maxBackoff,
		Link: sock.LinkConfig{
			OnMessage:        pc.onMessage,
			Heartbeat:        cfg.heartbeat,
			HeartbeatTimeout: cfg.heartbeatTimeout,
			QueueBytes:       cfg.queueBytes,
		},
		OnUp: func(l *sock.Link) {
			pc.live.Store(l)
			first := !pc.wasUp.Swap(true)
			if hooks.up != nil {
				hooks.up(first)
			}
		},
		OnDown: pc.onDown,
	})
	return pc
}

// down reports a provider that was reachable and is not now, or whose
// dials fail, or that said GOODBYE: calls go elsewhere until it is back.
func (pc *providerConn) down() bool {
	if pc.goodbye.Load() {
		return true
	}
	if pc.live.Load() != nil {
		return false
	}
	return pc.wasUp.Load() || pc.sess.LastError() != nil
}

// isUp reports a live connection that takes new calls.
func (pc *providerConn) isUp() bool { return !pc.goodbye.Load() && pc.live.Load() != nil }

// isRetired reports a connection closed for good after GOODBYE at
// least d ago.
func (pc *providerConn) isRetired(d time.Duration) bool {
	at := pc.retAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) >= d
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
	last := len(pc.pending) == 0
	pc.mu.Unlock()
	if ok {
		pc.load.answered(call.sent, m.typ == typeError)
		call.slot.ch <- m
		if last {
			// The only call in flight: let its caller run before this
			// reader reads on (and parks), so that the reply reaches it
			// without waiting for the reader's next read and the scheduler.
			runtime.Gosched()
		}
	}
	pc.maybeRetire()
}

// pendingCall is a call waiting for its answer.
type pendingCall struct {
	slot     *replySlot
	deadline time.Time
	sent     time.Time
}

// replySlot is where a call's answer is delivered. Whoever takes the
// call out of pending sends exactly one message into ch (the answer,
// typeExpired, or typeLost), so a send never waits. A slot goes back to
// the peer's pool only when its caller received that message, or took
// the call out of pending itself (nothing will be sent): a reused slot
// never holds a stale answer.
type replySlot struct {
	ch chan rpcMessage // capacity 1
}

func newReplySlot() any { return &replySlot{ch: make(chan rpcMessage, 1)} }

// typeLost marks, inside this process only, a call whose connection
// was lost before its answer came.
const typeLost msgType = 0xfe

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
			pc.load.abandoned()
			call.slot.ch <- rpcMessage{header: header{typ: typeExpired, id: id}}
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
	pc.retAt.Store(time.Now().UnixNano())
	pc.retire.Add(1)
	go func() {
		defer pc.retire.Done()
		pc.sess.Close()
	}()
}

// onDown fails every call in flight on the lost connection.
func (pc *providerConn) onDown(*sock.Link, error) {
	pc.live.Store(nil)
	pc.mu.Lock()
	pending := pc.pending
	pc.pending = map[uint64]pendingCall{}
	pc.mu.Unlock()
	for _, call := range pending {
		pc.load.abandoned()
		call.slot.ch <- rpcMessage{header: header{typ: typeLost}}
	}
}

// call runs one call without metadata on this connection. ctx may
// carry no deadline: deadline always holds, enforced by ctx or by the
// client's sweeper.
func (pc *providerConn) call(ctx context.Context, start, deadline time.Time, service string, body []byte) ([]byte, error) {
	body, _, err := pc.callOut(ctx, &outCall{start: start, deadline: deadline, service: service, body: body})
	return body, err
}

// callOut runs oc on this connection and returns the reply's body and
// its metadata frame (nil when it had none), also with an error reply.
func (pc *providerConn) callOut(ctx context.Context, oc *outCall) (body, meta []byte, err error) {
	start, deadline, service := oc.start, oc.deadline, oc.service
	if pc.goodbye.Load() && pc.hooks.retireOnGoodbye {
		return nil, nil, ErrNotSent
	}
	link, err := pc.link(ctx, deadline)
	if err != nil {
		return nil, nil, err
	}
	slot := pc.waiters.Get().(*replySlot)
	pc.mu.Lock()
	if pc.retired {
		// GOODBYE came after the check above and the connection is
		// being closed: the request was not sent, try another provider.
		pc.mu.Unlock()
		pc.waiters.Put(slot)
		return nil, nil, fmt.Errorf("%w: connection retired", ErrNotSent)
	}
	pc.nextID++
	id := pc.nextID
	pc.pending[id] = pendingCall{slot: slot, deadline: deadline, sent: start}
	pc.load.sent(start)
	alone := len(pc.pending) == 1
	pc.mu.Unlock()
	if pc.hooks.pending != nil {
		pc.hooks.pending()
	}
	req := requestFrames(id, timeoutMS(deadline), service, oc.meta, oc.body)
	if err := pc.send(ctx, deadline, link, req, alone); err != nil {
		pc.release(id, slot)
		return nil, nil, err
	}
	m, ok := pc.await(ctx, slot)
	if !ok {
		pc.release(id, slot)
		link.TrySend(cancelFrames(id), sock.DropNewest)
		return nil, nil, ctx.Err()
	}
	pc.waiters.Put(slot) // its one message is taken
	switch m.typ {
	case typeLost:
		return nil, nil, fmt.Errorf("%w: %s on %s", ErrConnectionLost, service, pc.info.Name)
	case typeExpired:
		link.TrySend(cancelFrames(id), sock.DropNewest)
		return nil, nil, errExpired
	}
	body, err = pc.result(service, m)
	return body, m.meta, err
}

// await waits for the call's answer in slot; ok is false when ctx ended
// first. A context that cannot end costs no select.
func (pc *providerConn) await(ctx context.Context, slot *replySlot) (m rpcMessage, ok bool) {
	done := ctx.Done()
	if done == nil {
		return <-slot.ch, true
	}
	select {
	case m = <-slot.ch:
		return m, true
	case <-done:
		return m, false
	}
}

// release forgets call id, whose caller stops waiting, and returns its
// slot to the pool when no answer can reach it any more.
func (pc *providerConn) release(id uint64, slot *replySlot) {
	if pc.forget(id) {
		pc.waiters.Put(slot)
	}
}

// link returns the live link, waiting for a connection until deadline.
// It gives up early when the provider refuses us (or we refuse it) at
// the security handshake: waiting would not change that.
func (pc *providerConn) link(ctx context.Context, deadline time.Time) (*sock.Link, error) {
	if l := pc.live.Load(); l != nil {
		return l, nil
	}
	for {
		if err := pc.sess.LastError(); isSecurityError(err) {
			return nil, fmt.Errorf("%w: %w", ErrNotSent, securityError(err))
		}
		wctx, cancel := context.WithDeadline(ctx, earliest(deadline, time.Now().Add(securityPoll)))
		l, err := pc.sess.Link(wctx)
		cancel()
		switch {
		case err == nil:
			return l, nil
		case errors.Is(err, sock.ErrClosed):
			return nil, fmt.Errorf("%w: connection retired", ErrNotSent)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: waiting for a connection to %s: %w", ErrNotSent, pc.info.Name, ctx.Err())
		case !time.Now().Before(deadline):
			return nil, fmt.Errorf("%w: waiting for a connection to %s: %w", ErrNotSent, pc.info.Name, errExpired)
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
	case link.QueueFull(req):
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
	return fmt.Errorf("%w: %v", ErrNotSent, err)
}

// forget takes call id out of pending; it reports whether it was still
// there (else whoever took it sends, or sent, its one message).
func (pc *providerConn) forget(id uint64) bool {
	pc.mu.Lock()
	_, ok := pc.pending[id]
	if ok {
		delete(pc.pending, id)
		pc.load.abandoned()
	}
	pc.mu.Unlock()
	pc.maybeRetire()
	return ok
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
