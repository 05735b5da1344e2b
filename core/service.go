package core

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
)

// Request is one call as a handler sees it.
type Request struct {
	Service string
	// Body is the request's body. It belongs to the handler: it may be
	// kept and modified after the handler returns, and shares no memory
	// with other messages, so keeping a small body keeps only its bytes.
	Body []byte
	// Deadline is when the caller stops waiting; zero if it gave none.
	Deadline time.Time
	// Received is when the node read the request, before it waited for
	// a handler in the service's queue: time.Since(Received) is the time
	// the caller has been waiting on this node, which a server-side
	// concurrency limiter or latency loop measures (the handler's start
	// would leave the queue's wait out).
	Received time.Time
	// From is the caller's network address.
	From string
	// User is who the caller's node authenticated as, on a secured
	// peer: the PLAIN username, or for CURVE the name its key has in
	// the Authenticator's key directory (the key in Z85 when allowed by
	// AllowKeys). Empty without security.
	User string
	// ClientKey is the caller's CURVE public key (zero otherwise).
	ClientKey Key
	// Meta is the request's metadata (see Metadata); nil when the
	// caller sent none. It belongs to the handler.
	Meta Metadata
	// ReplyMeta, set by the handler or an interceptor, is sent with the
	// reply or error reply when the caller sent metadata (a caller that
	// sent none is not sent any: it may not expect it). It must follow
	// Metadata's rules, or the caller gets a CodeHandler error instead.
	ReplyMeta Metadata

	conn *sock.Link // the caller's connection, for session-bound state
}

// Handler serves calls to one service. Its context is cancelled when
// the caller's deadline passes, the caller cancels or disconnects, or
// the node stops. The reply body it returns is the node's from then
// on: the handler must not modify it afterwards.
type Handler interface {
	ServeRPC(ctx context.Context, req *Request) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) ([]byte, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, req *Request) ([]byte, error) { return f(ctx, req) }

type service struct {
	name     string
	handler  Handler
	reserved bool                 // zmp's introspection: served from reserved capacity
	pool     atomic.Pointer[pool] // its own pool (SetServiceLimits); nil: the shared one
	stats    serviceStats
}

type serviceStats struct {
	calls, errors, bytesIn, bytesOut atomic.Uint64
	refused                          atomic.Uint64 // answered CodeOverloaded
}

type job struct {
	link *sock.Link
	conn *connState
	pool *pool
	cq   *connQueue  // where it waited, in pool
	w    *poolWorker // the worker running it
	msg  rpcMessage
	svc  *service
	ctx  *callCtx // the handler's, from the request's arrival
	recv time.Time
}

// server runs a peer's handlers. Requests wait in their connection's
// queue and are run by a pool of workers that serves connections in
// turn: the shared pool, or the service's own pool when it has limits
// (limits.go). zmp's introspection services have a small pool of their
// own, so that they answer when user services are saturated.
type server struct {
	p        *Peer
	life     *scope // ends with the peer: the parent of handler contexts
	mu       sync.RWMutex
	services map[string]*service
	main     *pool
	reserved *pool

	limMu   sync.Mutex       // taken before mu
	pools   map[string]*pool // under limMu: service pools by service name, fed or detached
	stopped bool             // under limMu: the pools are closed

	malformed, overloaded, unknown, expired atomic.Uint64

	draining atomic.Bool  // new requests are refused with CodeUnavailable
	active   atomic.Int64 // requests accepted and not yet answered

	watchMu  sync.Mutex
	watchers []func(*sock.Link) // told when a caller's connection closes
}

// connState is what the server keeps of one caller's connection.
type connState struct {
	mu       sync.Mutex
	inflight map[uint64]*callCtx // accepted and not answered: for CANCEL and disconnects
	closed   bool
	main     connQueue
	reserved connQueue
	pools    map[*pool]*connQueue // its queues in service pools, made on first use
}

func newConnState() any { return &connState{inflight: map[uint64]*callCtx{}} }

// track records a request's context; false once the connection closed.
func (cs *connState) track(id uint64, ctx *callCtx) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return false
	}
	cs.inflight[id] = ctx
	return true
}

// untrack forgets a request and releases its context.
func (cs *connState) untrack(id uint64, ctx *callCtx) {
	cs.mu.Lock()
	if cs.inflight[id] == ctx {
		delete(cs.inflight, id)
	}
	cs.mu.Unlock()
	ctx.cancel(context.Canceled)
}

func (cs *connState) isClosed() bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.closed
}

// cancel ends the context of request id, if it is still in flight.
func (cs *connState) cancel(id uint64) {
	cs.mu.Lock()
	ctx := cs.inflight[id]
	cs.mu.Unlock()
	if ctx != nil {
		ctx.cancel(context.Canceled)
	}
}

// close cancels every request of the connection, running or waiting.
func (cs *connState) close() {
	cs.mu.Lock()
	cs.closed = true
	ctxs := cs.inflight
	cs.inflight = map[uint64]*callCtx{}
	cs.mu.Unlock()
	for _, ctx := range ctxs {
		ctx.cancel(context.Canceled)
	}
}

// watchPeers registers f to run when a caller's connection closes.
func (s *server) watchPeers(f func(*sock.Link)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchers = append(s.watchers, f)
}

// peerClosed cancels the closed connection's requests (their caller has
// gone), drops those that wait, and tells the watchers.
func (s *server) peerClosed(l *sock.Link) {
	cs := l.Value().(*connState)
	cs.close()
	dropped := len(s.main.drop(&cs.main)) + len(s.reserved.drop(&cs.reserved))
	for _, q := range cs.servicePools() { // none are added once cs is closed
		dropped += len(q.pool.drop(q.cq))
	}
	s.active.Add(-int64(dropped))
	s.watchMu.Lock()
	ws := s.watchers
	s.watchMu.Unlock()
	for _, f := range ws {
		f(l)
	}
}

// Capacity reserved for introspection.
const (
	reservedWorkers   = 2
	reservedQueue     = 256
	reservedConnQueue = 16
)

func newServer(p *Peer) *server {
	s := &server{p: p, life: newScope(p.ctx), services: map[string]*service{}, pools: map[string]*pool{}}
	c := &p.cfg
	s.main = newPool(poolLimits{
		workers: c.concurrency, queue: c.requestQueue, queueBytes: 8 * c.queueBytes,
		connRun: c.connHandlers, connQueue: c.connQueue, connBytes: c.queueBytes,
	}, s.run)
	s.reserved = newPool(poolLimits{
		workers: reservedWorkers, queue: reservedQueue, queueBytes: c.queueBytes,
		connRun: 1, connQueue: reservedConnQueue, connBytes: c.queueBytes,
	}, s.run)
	return s
}

// start starts the reserved pool's two workers, so that introspection
// finds them waiting. The shared pool's workers start with the first
// requests that find none idle, one at a time (wakeLocked), and then
// stay: a peer that serves little, or only calls, keeps no idle
// workers (a process of a thousand peers kept 64 each, and half its
// memory in their stacks).
func (s *server) start() {
	s.reserved.start()
}

func (s *server) stop() {
	s.main.close()
	s.reserved.close()
	s.stopPools()
}

// Handle provides service on this peer, replacing an earlier handler of
// the same name, and lists it in the registry.
func (p *Peer) Handle(service string, h Handler) error {
	if err := checkName(service); err != nil {
		return err
	}
	if isReserved(service) {
		return fmt.Errorf("%w: %q: the %q prefix is reserved", ErrBadName, service, reservedPrefix)
	}
	if h == nil {
		return errors.New("core: Handle with a nil handler")
	}
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	p.srv.add(service, h)
	return p.reregister()
}

// HandleFunc provides service with a function handler.
func (p *Peer) HandleFunc(service string, f func(ctx context.Context, req *Request) ([]byte, error)) error {
	return p.Handle(service, HandlerFunc(f))
}

// Withdraw stops providing service. Calls already running finish; new
// ones are answered with CodeUnknownService.
func (p *Peer) Withdraw(service string) error {
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	if !p.srv.remove(service) {
		return fmt.Errorf("%w: %q", ErrUnknownService, service)
	}
	return p.reregister()
}

// add serves name with h, in name's own pool if it has limits.
func (s *server) add(name string, h Handler) {
	h = Intercept(h, s.p.cfg.serverIntercept...)
	s.limMu.Lock()
	defer s.limMu.Unlock()
	svc := &service{name: name, handler: h}
	svc.pool.Store(s.ownPoolLocked(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[name] = svc
}

// addReserved adds one of zmp's introspection services.
func (s *server) addReserved(name string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[name] = &service{name: name, handler: h, reserved: true}
}

func (s *server) remove(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.services[name]
	delete(s.services, name)
	return ok
}

func (s *server) lookup(name string) *service {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.services[name]
}

// names lists the user services (not the reserved ones), sorted.
func (s *server) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.services))
	for n := range s.services {
		if !isReserved(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// onMessage runs on a connection's reader goroutine. It waits, before
// taking on more work from the connection, while the replies queued to
// it are over their bounds: a caller that does not read its replies is
// not read either, so it cannot make the node queue replies without end.
func (s *server) onMessage(l *sock.Link, frames [][]byte) {
	if l.WaitRoom(s.life.ctx) != nil {
		return // the connection or the peer is closing
	}
	m, err := parseRPC(frames)
	if err != nil {
		s.malformed.Add(1)
		s.p.cfg.logger.Debug("zmp: malformed request", "node", s.p.name, "from", l.Conn().RemoteAddr(), "err", err)
		if errors.Is(err, errBadService) {
			s.replyError(l, m.id, NewError(CodeBadRequest, "%v", err))
		}
		return
	}
	cs := l.Value().(*connState)
	switch m.typ {
	case typeCancel:
		cs.cancel(m.id)
		return
	case typeRequest:
	default:
		s.malformed.Add(1)
		return
	}
	svc := s.lookup(m.service)
	m.service = "" // a view of the frame: not kept while the request waits
	switch {
	case svc == nil:
		s.unknown.Add(1)
		s.replyError(l, m.id, NewError(CodeUnknownService, "no service %q on node %q", string(frames[2]), s.p.name))
	case s.draining.Load() || s.p.ctx.Err() != nil:
		s.replyError(l, m.id, errStopping(s.p.name))
	default:
		s.admit(l, cs, svc, m)
	}
}

// admit queues a request for a worker, or refuses it as overloaded.
// Its context starts, and CANCEL can reach it, when it arrives, not
// when a worker picks it up.
func (s *server) admit(l *sock.Link, cs *connState, svc *service, m rpcMessage) {
	recv := time.Now()
	ctx := newCallCtxAt(s.life, m.timeout, recv)
	if !cs.track(m.id, ctx) {
		return // the connection closed meanwhile
	}
	pl, cq := s.main, &cs.main
	if svc.reserved {
		pl, cq = s.reserved, &cs.reserved
	} else if own := svc.pool.Load(); own != nil {
		if pl, cq = own, cs.queueFor(own); cq == nil {
			cs.untrack(m.id, ctx)
			return // the connection or the peer closed meanwhile
		}
	}
	s.active.Add(1)
	if !pl.submit(cq, job{link: l, conn: cs, pool: pl, cq: cq, msg: m, svc: svc, ctx: ctx, recv: recv}) {
		s.active.Add(-1)
		cs.untrack(m.id, ctx)
		s.overloaded.Add(1)
		svc.stats.refused.Add(1)
		s.replyError(l, m.id, s.refusal(pl, svc))
	}
}

// refusal is the reply to a request that pool pl had no room for.
func (s *server) refusal(pl *pool, svc *service) *RemoteError {
	if pl == s.main || pl == s.reserved {
		return NewError(CodeOverloaded, "node %q: no room for another request of this connection", s.p.name)
	}
	return NewError(CodeOverloaded, "node %q: service %q has no room for another request of this connection", s.p.name, svc.name)
}

// replyError queues an error reply; the reader has waited for room.
func (s *server) replyError(l *sock.Link, id uint64, e *RemoteError) {
	l.TrySend(errorFrames(id, nil, e), sock.Force)
}

func (s *server) run(j job) {
	ctx := j.ctx
	defer s.active.Add(-1)
	defer j.conn.untrack(j.msg.id, ctx)
	if s.skip(j) {
		return
	}
	st := &j.svc.stats
	st.calls.Add(1)
	st.bytesIn.Add(uint64(len(j.msg.body)))
	auth := j.link.Conn().PeerAuth()
	req := &Request{Service: j.svc.name, Body: j.msg.body, From: j.link.Conn().RemoteAddrString(), User: auth.UserID, ClientKey: Key(auth.ClientKey), Received: j.recv, conn: j.link}
	req.Deadline, _ = ctx.Deadline()
	var (
		body []byte
		err  error
	)
	if j.msg.meta != nil {
		req.Meta, err = decodeMeta(j.msg.meta)
		if err != nil {
			err = NewError(CodeBadRequest, "%v", err)
		}
	}
	if err == nil {
		body, err = invoke(ctx, j.svc.handler, req)
	}
	j.pool.handlerReturned(j)
	frames, failed := s.answer(ctx, j, req, body, err)
	if failed {
		st.errors.Add(1)
	} else {
		st.bytesOut.Add(uint64(len(body)))
	}
	// A worker never waits for a connection: the reply is queued
	// whatever the queue's bounds (the reader admits no more requests
	// while they are exceeded), or, for a lone request, written on this
	// goroutine as far as the socket takes it at once.
	if s.active.Load() == 1 {
		j.link.SendNow(ctx, frames, sock.Force)
	} else {
		j.link.TrySend(frames, sock.Force)
	}
	s.holdBack(j)
}

// answer builds the reply to j from what its handler returned.
// failed reports an error reply.
func (s *server) answer(ctx context.Context, j job, req *Request, body []byte, err error) (frames [][]byte, failed bool) {
	var meta []byte
	if j.msg.meta != nil && req.ReplyMeta != nil {
		if verr := req.ReplyMeta.Validate(); verr != nil {
			err, body = NewError(CodeHandler, "reply metadata: %v", verr), nil
		} else {
			meta = encodeMeta(req.ReplyMeta)
		}
	}
	if err == nil && int64(len(body)+len(meta)) > s.p.cfg.maxMessageSize-replyOverhead {
		err = NewError(CodeTooLarge, "reply of %d bytes exceeds the %d-byte limit", len(body)+len(meta), s.p.cfg.maxMessageSize)
	}
	if err != nil {
		return errorFrames(j.msg.id, meta, toRemoteError(ctx, err)), true
	}
	return replyFrames(j.msg.id, meta, body), false
}

// holdBack stops running the connection's waiting requests while the
// replies queued to it are over their bounds: a caller that does not
// read gets no more replies made for it. Its link's OnRoom resumes it.
func (s *server) holdBack(j job) {
	if !j.link.Backlogged() {
		return
	}
	j.pool.pause(j.cq)
	if !j.link.Backlogged() { // the writer made room meanwhile
		j.pool.resume(j.cq)
	}
}

// onRoom resumes a connection whose replies have drained.
func (s *server) onRoom(l *sock.Link) {
	cs := l.Value().(*connState)
	s.main.resume(&cs.main)
	s.reserved.resume(&cs.reserved)
	for _, q := range cs.servicePools() {
		q.pool.resume(q.cq)
	}
}

// skip reports a request that must not run, and answers it: its
// caller's deadline passed while it waited (counted as expired), or the
// caller cancelled it, or the node is stopping. A request whose caller
// left is dropped: there is nobody to answer.
func (s *server) skip(j job) bool {
	err := j.ctx.Err()
	switch {
	case err == nil:
		return false
	case errors.Is(err, context.DeadlineExceeded):
		s.expired.Add(1)
		s.replyError(j.link, j.msg.id, NewError(CodeDeadlineExceeded, "the caller's deadline passed before the request ran; it was not run"))
	case s.life.ctx.Err() != nil:
		s.replyError(j.link, j.msg.id, errStopping(s.p.name))
	case !j.conn.isClosed():
		s.replyError(j.link, j.msg.id, NewError(CodeCanceled, "cancelled before it ran; it was not run"))
	}
	return true
}

// errStopping is the reply to requests a stopping node will not run;
// CodeUnavailable tells the caller the request was not processed.
func errStopping(node string) *RemoteError {
	return NewError(CodeUnavailable, "node %q is stopping; the request was not run", node)
}

// beginDrain refuses new requests and tells connected callers to send
// no more.
func (s *server) beginDrain() {
	if !s.draining.Swap(true) {
		s.p.router.Broadcast(goodbyeFrames())
	}
}

// replyOverhead is what a reply envelope adds to its body on the wire.
const replyOverhead = 4*32 + headerLen

// invoke calls h, turning a panic into a CodePanic error with its stack.
func invoke(ctx context.Context, h Handler, req *Request) (body []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &RemoteError{Code: CodePanic, Message: fmt.Sprint(r), Detail: string(debug.Stack())}
		}
	}()
	return h.ServeRPC(ctx, req)
}

func toRemoteError(ctx context.Context, err error) *RemoteError {
	var re *RemoteError
	if errors.As(err, &re) {
		return re
	}
	switch cause := ctx.Err(); {
	case cause == context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded):
		return NewError(CodeDeadlineExceeded, "%v", err)
	case cause == context.Canceled && errors.Is(err, context.Canceled):
		return NewError(CodeCanceled, "%v", err)
	}
	return &RemoteError{Code: CodeHandler, Message: err.Error()}
}
