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
	Body    []byte
	// Deadline is when the caller stops waiting; zero if it gave none.
	Deadline time.Time
	// From is the caller's network address.
	From string
	// User is who the caller's node authenticated as, on a secured
	// peer: the PLAIN username, or for CURVE the name its key has in
	// the Authenticator's key directory (the key in Z85 when allowed by
	// AllowKeys). Empty without security.
	User string
	// ClientKey is the caller's CURVE public key (zero otherwise).
	ClientKey Key

	conn *sock.Link // the caller's connection, for session-bound state
}

// Handler serves calls to one service. Its context is cancelled when
// the caller's deadline passes, the caller gives up, or the node stops.
type Handler interface {
	ServeRPC(ctx context.Context, req *Request) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) ([]byte, error)

// ServeRPC calls f.
func (f HandlerFunc) ServeRPC(ctx context.Context, req *Request) ([]byte, error) { return f(ctx, req) }

type service struct {
	name    string
	handler Handler
	stats   serviceStats
}

type serviceStats struct {
	calls, errors, bytesIn, bytesOut atomic.Uint64
}

type job struct {
	link *sock.Link
	msg  rpcMessage
	svc  *service
	ctx  *callCtx // the handler's, from the request's arrival
}

type inflightKey struct {
	link *sock.Link
	id   uint64
}

// server runs a peer's handlers: a bounded request queue drained by a
// fixed pool of workers.
type server struct {
	p        *Peer
	life     *scope // ends with the peer: the parent of handler contexts
	mu       sync.RWMutex
	services map[string]*service
	jobs     chan job
	wg       sync.WaitGroup

	inflightMu sync.Mutex
	inflight   map[inflightKey]*callCtx // for CANCEL

	malformed, overloaded, unknown atomic.Uint64

	draining atomic.Bool  // new requests are refused with CodeUnavailable
	active   atomic.Int64 // requests accepted and not yet answered

	watchMu  sync.Mutex
	watchers []func(*sock.Link) // told when a caller's connection closes
}

// watchPeers registers f to run when a caller's connection closes.
func (s *server) watchPeers(f func(*sock.Link)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchers = append(s.watchers, f)
}

func (s *server) peerClosed(l *sock.Link) {
	s.watchMu.Lock()
	ws := s.watchers
	s.watchMu.Unlock()
	for _, f := range ws {
		f(l)
	}
}

func newServer(p *Peer) *server {
	return &server{p: p, life: newScope(p.ctx), services: map[string]*service{}, jobs: make(chan job, p.cfg.requestQueue), inflight: map[inflightKey]*callCtx{}}
}

func (s *server) start() {
	s.wg.Add(s.p.cfg.concurrency)
	for range s.p.cfg.concurrency {
		go s.worker()
	}
}

func (s *server) stop() { s.wg.Wait() }

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

func (s *server) add(name string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[name] = &service{name: name, handler: h}
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

// onMessage runs on a connection's reader goroutine: it must not block.
func (s *server) onMessage(l *sock.Link, frames [][]byte) {
	m, err := parseRPC(frames)
	if err != nil {
		s.malformed.Add(1)
		s.p.cfg.logger.Debug("zmp: malformed request", "node", s.p.name, "from", l.Conn().RemoteAddr(), "err", err)
		return
	}
	switch m.typ {
	case typeCancel:
		s.inflightMu.Lock()
		ctx := s.inflight[inflightKey{l, m.id}]
		s.inflightMu.Unlock()
		if ctx != nil {
			ctx.cancel(context.Canceled)
		}
		return
	case typeRequest:
	default:
		s.malformed.Add(1)
		return
	}
	svc := s.lookup(m.service)
	switch {
	case svc == nil:
		s.unknown.Add(1)
		s.replyError(l, m.id, NewError(CodeUnknownService, "no service %q on node %q", m.service, s.p.name))
	case s.draining.Load() || s.p.ctx.Err() != nil:
		s.replyError(l, m.id, errStopping(s.p.name))
	default:
		// The context starts, and CANCEL can reach it, when the request
		// arrives, not when a worker picks it up.
		ctx := newCallCtx(s.life, m.timeout)
		s.track(l, m.id, ctx)
		s.active.Add(1)
		select {
		case s.jobs <- job{link: l, msg: m, svc: svc, ctx: ctx}:
		default:
			s.active.Add(-1)
			s.untrack(l, m.id, ctx)
			s.overloaded.Add(1)
			s.replyError(l, m.id, NewError(CodeOverloaded, "node %q: %d requests queued", s.p.name, cap(s.jobs)))
		}
	}
}

func (s *server) replyError(l *sock.Link, id uint64, e *RemoteError) {
	l.TrySend(errorFrames(id, e), sock.DropNewest)
}

func (s *server) worker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.p.ctx.Done():
			s.drainJobs()
			return
		case j := <-s.jobs:
			s.run(j)
		}
	}
}

// drainJobs answers queued requests once the node is stopping.
func (s *server) drainJobs() {
	for {
		select {
		case j := <-s.jobs:
			s.untrack(j.link, j.msg.id, j.ctx)
			s.replyError(j.link, j.msg.id, errStopping(s.p.name))
			s.active.Add(-1)
		default:
			return
		}
	}
}

func (s *server) track(l *sock.Link, id uint64, ctx *callCtx) {
	s.inflightMu.Lock()
	s.inflight[inflightKey{l, id}] = ctx
	s.inflightMu.Unlock()
}

// untrack forgets a request and releases its context.
func (s *server) untrack(l *sock.Link, id uint64, ctx *callCtx) {
	s.inflightMu.Lock()
	if s.inflight[inflightKey{l, id}] == ctx {
		delete(s.inflight, inflightKey{l, id})
	}
	s.inflightMu.Unlock()
	ctx.cancel(context.Canceled)
}

func (s *server) run(j job) {
	ctx := j.ctx
	defer s.active.Add(-1)
	defer s.untrack(j.link, j.msg.id, ctx)

	st := &j.svc.stats
	st.calls.Add(1)
	st.bytesIn.Add(uint64(len(j.msg.body)))
	auth := j.link.Conn().PeerAuth()
	req := &Request{Service: j.svc.name, Body: j.msg.body, From: j.link.Conn().RemoteAddrString(), User: auth.UserID, ClientKey: Key(auth.ClientKey), conn: j.link}
	req.Deadline, _ = ctx.Deadline()
	body, err := invoke(ctx, j.svc.handler, req)
	if err == nil && int64(len(body)) > s.p.cfg.maxMessageSize-replyOverhead {
		err = NewError(CodeTooLarge, "reply of %d bytes exceeds the %d-byte limit", len(body), s.p.cfg.maxMessageSize)
	}
	frames := replyFrames(j.msg.id, body)
	if err != nil {
		st.errors.Add(1)
		frames = errorFrames(j.msg.id, toRemoteError(ctx, err))
	} else {
		st.bytesOut.Add(uint64(len(body)))
	}
	// The reply waits for queue room at most until the caller's deadline.
	// A lone request is answered on this goroutine; under load the
	// link's writer batches replies.
	if s.active.Load() == 1 {
		j.link.SendNow(ctx, frames)
	} else {
		j.link.Send(ctx, frames)
	}
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
	if ctx.Err() == context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded) {
		return NewError(CodeDeadlineExceeded, "%v", err)
	}
	return &RemoteError{Code: CodeHandler, Message: err.Error()}
}
