package core

import "fmt"

// ServiceLimits gives one service a handler pool of its own, instead of
// a share of the peer's shared pool (WithConcurrency). A service that
// is saturated in its own pool does not delay the peer's other
// services, and a limit can be moved at run time, many times a second,
// by a feedback loop such as an adaptive concurrency limiter.
//
// Inside the pool, requests wait in their caller's connection's queue
// and connections are served in turn, as in the shared pool: a caller
// that floods the service delays another caller of it by at most one
// request per busy connection. A request that finds its connection's
// or the pool's queue full is answered with CodeOverloaded, counted in
// the service's Refused and the server's Overloaded stats.
//
// The zero value means no pool of its own: the service runs in the
// shared pool.
type ServiceLimits struct {
	// Concurrency is how many of the service's handlers run at once; a
	// handler's place is free as soon as it returns, while its reply is
	// still being written. It must be positive unless every field is
	// zero.
	Concurrency int `json:"concurrency"`
	// Queue is how many of its requests may wait while every handler is
	// busy; beyond that they are refused. Zero: none wait, a request
	// that finds no free handler is refused at once.
	Queue int `json:"queue"`
	// ConnConcurrency is how many requests of one caller's connection
	// run at once. Zero: three quarters of Concurrency (at least one),
	// so that one caller never holds every handler while others wait.
	ConnConcurrency int `json:"conn_concurrency,omitempty"`
	// ConnQueue is how many requests of one caller's connection may
	// wait beyond its free share of handlers. Zero: half of Queue (at
	// least one if Queue is positive).
	ConnQueue int `json:"conn_queue,omitempty"`
}

// validate checks that l is the zero value or a usable pool.
func (l ServiceLimits) validate() error {
	if l.Concurrency < 0 || l.Queue < 0 || l.ConnConcurrency < 0 || l.ConnQueue < 0 {
		return fmt.Errorf("core: service limits must not be negative, got %+v", l)
	}
	if l != (ServiceLimits{}) && l.Concurrency == 0 {
		return fmt.Errorf("core: service limits need a positive concurrency, got %+v", l)
	}
	return nil
}

// pool converts l to a pool's limits; byteBound is the peer's
// WithQueueBytes, which bounds one connection's waiting bodies (and
// eight times it the pool's), as in the shared pool.
func (l ServiceLimits) pool(byteBound int64) poolLimits {
	pl := poolLimits{
		workers: l.Concurrency, queue: l.Queue, queueBytes: 8 * byteBound,
		connRun: l.ConnConcurrency, connQueue: l.ConnQueue, connBytes: byteBound,
	}
	if pl.connRun == 0 {
		pl.connRun = max(1, l.Concurrency-l.Concurrency/4)
	}
	if pl.connQueue == 0 && l.Queue > 0 {
		pl.connQueue = max(1, l.Queue/2)
	}
	return pl
}

// SetServiceLimits gives service a handler pool of its own with limits
// l, or, with the zero ServiceLimits, returns it to the shared pool. It
// may be called before or after Handle, and at any time: limits belong
// to the name, so they outlast Withdraw and apply to a later Handle. A
// call takes two locks and allocates nothing (about 65 ns); workers
// start only when requests are waiting for them, and stay while the
// limit allows, so a feedback loop may call it many times a second.
//
// A larger limit takes effect at once: waiting requests start as soon
// as handlers are free. A smaller one never cancels a handler: running
// handlers finish, and no more start until fewer than the new limit
// run; requests already waiting beyond a smaller queue stay queued and
// run in turn, while new ones are refused until the queue is under the
// bound. When a service returns to the shared pool, the requests
// waiting in its own pool still run there, at its last limits; new
// ones go to the shared pool.
//
// zmp's introspection services (the "zmp." prefix) keep their reserved
// pool and cannot be given limits (ErrBadName). After Close it returns
// ErrClosed.
func (p *Peer) SetServiceLimits(service string, l ServiceLimits) error {
	if err := checkName(service); err != nil {
		return err
	}
	if isReserved(service) {
		return fmt.Errorf("%w: %q: the %q services keep their reserved pool", ErrBadName, service, reservedPrefix)
	}
	if err := l.validate(); err != nil {
		return err
	}
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	return p.srv.setLimits(service, l)
}

// ServiceLimits returns the limits of service's own pool, and false if
// it has none (it runs in the shared pool).
func (p *Peer) ServiceLimits(service string) (ServiceLimits, bool) {
	s := p.srv
	s.limMu.Lock()
	defer s.limMu.Unlock()
	pl := s.pools[service]
	if pl == nil || pl.detached {
		return ServiceLimits{}, false
	}
	return pl.spec, true
}

// setLimits resizes, creates, or detaches the pool of name.
func (s *server) setLimits(name string, l ServiceLimits) error {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if s.stopped {
		return ErrClosed
	}
	pl := s.pools[name]
	if l == (ServiceLimits{}) {
		if pl != nil && pl.detach() {
			s.feedLocked(name, nil)
		}
		return nil
	}
	if pl == nil {
		pl = newPool(poolLimits{}, s.run)
		pl.conns = map[*connQueue]struct{}{}
		pl.detached = true
		s.pools[name] = pl
	}
	if pl.resize(l, l.pool(s.p.cfg.queueBytes)) {
		s.feedLocked(name, pl)
	}
	return nil
}

// feedLocked sends name's new requests to pl (nil: the shared pool).
// The caller holds limMu.
func (s *server) feedLocked(name string, pl *pool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if svc := s.services[name]; svc != nil {
		svc.pool.Store(pl)
	}
}

// ownPoolLocked returns the pool new requests of name go to, nil for
// the shared pool. The caller holds limMu.
func (s *server) ownPoolLocked(name string) *pool {
	if pl := s.pools[name]; pl != nil && !pl.detached {
		return pl
	}
	return nil
}

// stopPools closes every service pool; none is made afterwards.
func (s *server) stopPools() {
	s.limMu.Lock()
	s.stopped = true
	pools := make([]*pool, 0, len(s.pools))
	for _, pl := range s.pools {
		pools = append(pools, pl)
	}
	s.limMu.Unlock()
	for _, pl := range pools {
		pl.close()
	}
}

// queueFor returns the connection's queue in pool pl, making it on the
// first request; nil once the connection closed (its queues are being
// dropped).
func (cs *connState) queueFor(pl *pool) *connQueue {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return nil
	}
	cq := cs.pools[pl]
	if cq == nil {
		cq = &connQueue{}
		if !pl.attach(cq) {
			return nil
		}
		if cs.pools == nil {
			cs.pools = map[*pool]*connQueue{}
		}
		cs.pools[pl] = cq
	}
	return cq
}

// poolQueue is a connection's queue in a service pool.
type poolQueue struct {
	pool *pool
	cq   *connQueue
}

// servicePools lists the connection's queues in service pools; none
// for a connection that never called a service with limits.
func (cs *connState) servicePools() []poolQueue {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.pools) == 0 {
		return nil
	}
	qs := make([]poolQueue, 0, len(cs.pools))
	for pl, cq := range cs.pools {
		qs = append(qs, poolQueue{pl, cq})
	}
	return qs
}

// resize sets a service pool's limits, and feeds it again if it was
// detached; it reports whether it was. Growth starts workers for the
// connections in line at once; a shrink lets the surplus workers leave
// as they finish.
func (p *pool) resize(spec ServiceLimits, l poolLimits) (wasDetached bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasDetached, p.detached = p.detached, false
	old := p.limits
	p.limits, p.spec = l, spec
	if p.closed {
		return wasDetached
	}
	if l.connRun > old.connRun { // connections held at their old share may run more
		for cq := range p.conns {
			p.readyLocked(cq)
		}
	}
	for n := p.ready.len(); n > 0 && p.idle == 0 && p.live < l.workers; n-- {
		p.wakeLocked()
	}
	for n := min(p.idle, p.live-l.workers); n > 0; n-- { // idle surplus leaves now
		p.idle--
		p.cond.Signal()
	}
	return wasDetached
}

// detach stops feeding the pool: its workers run what waits and leave.
// It reports whether the pool was fed.
func (p *pool) detach() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.detached {
		return false
	}
	p.detached = true
	p.idle = 0
	p.cond.Broadcast()
	return true
}

// attach registers a connection's queue with a service pool, so that a
// larger share reaches it; false once the pool is closed.
func (p *pool) attach(cq *connQueue) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[cq] = struct{}{}
	return true
}

// poolLoad is what a pool holds now.
type poolLoad struct {
	queued, running int
	spec            ServiceLimits
}

func (p *pool) load() poolLoad {
	p.mu.Lock()
	defer p.mu.Unlock()
	return poolLoad{queued: p.queued, running: p.running, spec: p.spec}
}
