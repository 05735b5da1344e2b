package proxy

import (
	"container/list"
	"context"
	"encoding/binary"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
)

// codec frames the messages a pool sends; the Queue (Paranoid Pirate)
// and the Broker (Majordomo) differ only here and in parsing.
type codec interface {
	toWorker(r *request) [][]byte
	toClient(r *request, body [][]byte) [][]byte
	heartbeat() [][]byte
	disconnect() [][]byte // nil: the protocol has no DISCONNECT
}

// request is one client request, from arrival to its reply.
type request struct {
	id       uint64
	client   *client // nil once the client is gone
	name     string  // of the service, also when service is nil
	service  *service
	env      [][]byte // the client's frames the reply must carry back
	body     [][]byte
	attempts int
	worker   *worker
	elem     *list.Element // in service.pending while queued

	queuedAt, sentAt time.Time // for WaitStats
}

func (r *request) idFrame() []byte { return binary.BigEndian.AppendUint64(nil, r.id) }

// parseID decodes the request id a worker echoes back.
func parseID(b []byte) (uint64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

type client struct {
	outbox
	queued map[*request]struct{} // requests waiting or in flight
}

type worker struct {
	outbox
	service  *service
	lastSeen time.Time
	cur      *request
	elem     *list.Element // in service.idle while idle
}

type service struct {
	name    string
	workers int
	idle    *list.List // of *worker, least recently used at the front
	pending *list.List // of *request, oldest at the front
}

// pool tracks workers, services and requests and dispatches each
// request to the least recently used idle worker of its service.
type pool struct {
	cfg   *config
	codec codec
	fe    *sideCounters // clients' side
	be    *sideCounters // workers' side

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	services map[string]*service
	workers  map[*sock.Link]*worker
	clients  map[*sock.Link]*client
	inflight map[uint64]*request
	nextID   uint64
	queued   int
	paused   bool
	draining bool
	waits    waitRecorder

	retried, failed, refused, lost atomic.Uint64
}

func newPool(cfg *config, c codec, fe, be *sideCounters) *pool {
	p := &pool{
		cfg: cfg, codec: c, fe: fe, be: be,
		services: map[string]*service{}, workers: map[*sock.Link]*worker{},
		clients: map[*sock.Link]*client{}, inflight: map[uint64]*request{},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.heartbeatLoop()
	return p
}

// serviceLocked returns the named service, creating it when there is
// room; nil when the service limit is reached.
func (p *pool) serviceLocked(name string) *service {
	if s, ok := p.services[name]; ok {
		return s
	}
	if len(p.services) >= p.cfg.maxServices {
		return nil
	}
	s := &service{name: name, idle: list.New(), pending: list.New()}
	p.services[name] = s
	return s
}

// forgetLocked drops a service that has neither workers nor requests.
func (p *pool) forgetLocked(s *service) {
	if s.workers == 0 && s.pending.Len() == 0 {
		delete(p.services, s.name)
	}
}

// submit queues a request from a client link for service.
func (p *pool) submit(l *sock.Link, serviceName string, env, body [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[l]
	if c == nil {
		c = &client{outbox: outbox{link: l}, queued: map[*request]struct{}{}}
		p.clients[l] = c
	}
	p.nextID++
	r := &request{id: p.nextID, client: c, name: serviceName, env: env, body: body}
	s := p.serviceLocked(serviceName)
	if s == nil || p.draining || s.pending.Len() >= p.cfg.pendingLimit {
		p.refused.Add(1)
		p.failLocked(r)
		if s != nil {
			p.forgetLocked(s)
		}
		return
	}
	r.service = s
	c.queued[r] = struct{}{}
	r.elem = s.pending.PushBack(r)
	p.waits.queued(r, true)
	p.queued++
	p.dispatchLocked(s)
}

// failLocked gives up on r, answering with the failure reply if set.
func (p *pool) failLocked(r *request) {
	if r.client == nil {
		return
	}
	delete(r.client.queued, r)
	if p.cfg.failureReply != nil {
		r.client.send(p.codec.toClient(r, p.cfg.failureReply), p.fe)
	}
}

// dispatchLocked pairs the service's oldest requests with its least
// recently used idle workers.
func (p *pool) dispatchLocked(s *service) {
	for !p.paused && s.pending.Len() > 0 && s.idle.Len() > 0 {
		w := s.idle.Remove(s.idle.Front()).(*worker)
		w.elem = nil
		r := s.pending.Remove(s.pending.Front()).(*request)
		r.elem = nil
		p.queued--
		p.waits.dispatched(r)
		r.attempts++
		r.worker, w.cur = w, r
		p.inflight[r.id] = r
		if !w.send(p.codec.toWorker(r), p.be) {
			// The worker is not reading: give it up; its link's close
			// brings the request back through workerGone.
			p.closeAsync(w.link)
		}
	}
}

// closeAsync closes l on a goroutine the pool waits for: l's own
// callbacks take p.mu, so it cannot be closed under it.
func (p *pool) closeAsync(l *sock.Link) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		l.Close()
	}()
}

// ready registers l as an idle worker of serviceName (again). A worker
// that says READY while it holds a request gives the request back: it
// is retried like the request of a dead worker.
func (p *pool) ready(l *sock.Link, serviceName string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[l]
	if w != nil && w.service.name != serviceName {
		p.unregisterLocked(w)
		w = nil
	}
	if w == nil {
		s := p.serviceLocked(serviceName)
		if s == nil {
			return false
		}
		w = &worker{outbox: outbox{link: l}, service: s}
		p.workers[l] = w
		s.workers++
	}
	w.lastSeen = time.Now()
	if w.cur != nil {
		p.retryLocked(w.cur)
	}
	if w.elem == nil {
		w.elem = w.service.idle.PushBack(w)
	}
	p.dispatchLocked(w.service)
	return true
}

// touch records that a registered worker is alive; false when l is
// not a registered worker.
func (p *pool) touch(l *sock.Link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[l]
	if w != nil {
		w.lastSeen = time.Now()
	}
	return w != nil
}

// reply delivers a worker's reply to request id and makes the worker
// idle again. It reports false for a reply that is not the one the
// worker was given.
func (p *pool) reply(l *sock.Link, id uint64, body [][]byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[l]
	if w == nil || w.cur == nil || w.cur.id != id {
		return false
	}
	w.lastSeen = time.Now()
	r := w.cur
	p.waits.replied(r)
	w.cur, r.worker = nil, nil
	delete(p.inflight, id)
	if r.client != nil {
		delete(r.client.queued, r)
		r.client.send(p.codec.toClient(r, body), p.fe)
	} else {
		p.fe.dropped.Add(1) // the client left
	}
	w.elem = w.service.idle.PushBack(w)
	p.dispatchLocked(w.service)
	return true
}

// retryLocked takes r back from its worker and queues it first in
// line, or fails it when its attempts are used up.
func (p *pool) retryLocked(r *request) {
	delete(p.inflight, r.id)
	if r.worker != nil {
		r.worker.cur = nil
		r.worker = nil
	}
	if r.client == nil {
		return // nobody waits for it
	}
	if r.attempts > p.cfg.maxRetries {
		p.failed.Add(1)
		p.failLocked(r)
		return
	}
	p.retried.Add(1)
	r.elem = r.service.pending.PushFront(r)
	p.waits.queued(r, false)
	p.queued++
	p.dispatchLocked(r.service)
}

// unregisterLocked removes a worker, retrying its request.
func (p *pool) unregisterLocked(w *worker) {
	delete(p.workers, w.link)
	if w.elem != nil {
		w.service.idle.Remove(w.elem)
		w.elem = nil
	}
	w.service.workers--
	if w.cur != nil {
		p.retryLocked(w.cur)
	}
	p.forgetLocked(w.service)
}

// workerGone handles a worker link that closed or said DISCONNECT.
func (p *pool) workerGone(l *sock.Link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w := p.workers[l]; w != nil {
		p.lost.Add(1)
		p.unregisterLocked(w)
	}
}

// clientGone forgets a client link: its queued requests are dropped,
// replies to its requests in flight will be.
func (p *pool) clientGone(l *sock.Link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.clients[l]
	if c == nil {
		return
	}
	delete(p.clients, l)
	for r := range c.queued {
		r.client = nil
		if r.elem != nil {
			r.service.pending.Remove(r.elem)
			r.elem = nil
			p.queued--
			p.forgetLocked(r.service)
		}
	}
}

// available reports whether service has at least one worker.
func (p *pool) available(service string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.services[service]
	return s != nil && s.workers > 0
}

// peerGone is the OnPeerClose of a socket carrying both roles.
func (p *pool) peerGone(l *sock.Link) {
	p.workerGone(l)
	p.clientGone(l)
}

// heartbeatLoop sends heartbeats to every worker and drops workers
// silent for longer than the liveness allows.
func (p *pool) heartbeatLoop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		for _, l := range p.heartbeat(time.Now()) {
			l.Close() // OnPeerClose → workerGone retries its request
		}
	}
}

// heartbeat sends a heartbeat to each live worker and returns the
// links of the expired ones.
func (p *pool) heartbeat(now time.Time) []*sock.Link {
	p.mu.Lock()
	defer p.mu.Unlock()
	var dead []*sock.Link
	hb := p.codec.heartbeat()
	for l, w := range p.workers {
		if now.Sub(w.lastSeen) > p.cfg.expiry() {
			dead = append(dead, l)
			continue
		}
		w.send(hb, p.be)
	}
	return dead
}

func (p *pool) pause(paused bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = paused
	if !paused {
		for _, s := range p.services {
			p.dispatchLocked(s)
		}
	}
}

// drain refuses new requests from now on and waits until none is
// queued or in flight and every reply is written, or ctx ends.
func (p *pool) drain(ctx context.Context) error {
	p.mu.Lock()
	p.draining = true
	p.mu.Unlock()
	p.pause(false)
	return waitFor(ctx, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.queued > 0 || len(p.inflight) > 0 {
			return false
		}
		for _, c := range p.clients {
			if !c.flushed() {
				return false
			}
		}
		return true
	})
}

// disconnectWorkers tells every worker the proxy is going away, when
// the protocol can say it, and waits for it to be written.
func (p *pool) disconnectWorkers(ctx context.Context) {
	msg := p.codec.disconnect()
	if msg == nil {
		return
	}
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		w.send(msg, p.be)
		ws = append(ws, w)
	}
	p.mu.Unlock()
	waitFor(ctx, func() bool {
		for _, w := range ws {
			if !w.flushed() {
				return false
			}
		}
		return true
	})
}

func (p *pool) close() {
	p.cancel()
	p.wg.Wait()
}

// fill adds the pool's part to a Stats.
func (p *pool) fill(st *Stats, perService bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st.Paused, st.Draining = p.paused, p.draining
	st.Queued, st.InFlight, st.Workers = p.queued, len(p.inflight), len(p.workers)
	for _, s := range p.services {
		st.Idle += s.idle.Len()
		if perService {
			st.Services = append(st.Services, ServiceStats{Name: s.name, Workers: s.workers, Idle: s.idle.Len(), Queued: s.pending.Len()})
		}
	}
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].Name < st.Services[j].Name })
	st.Retried, st.Failed, st.Refused, st.Lost = p.retried.Load(), p.failed.Load(), p.refused.Load(), p.lost.Load()
}
