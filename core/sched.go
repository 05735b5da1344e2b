package core

import (
	"sync"
)

// pool runs requests on a fixed set of workers. Requests wait in their
// connection's own queue, and workers serve the connections that have
// requests in turn (round robin), so that however many requests one
// connection sends, a request of another waits for at most one request
// per busy connection, and no connection holds more than its share of
// the workers or of the waiting room.
type pool struct {
	workers  int
	limits   poolLimits
	run      func(job)
	wg       sync.WaitGroup
	mu       sync.Mutex
	cond     sync.Cond    // signalled when ready gains a connection, or at close
	ready    []*connQueue // ready[head:] wait for a worker, in turn
	head     int
	queued   int   // requests waiting, all connections
	bytes    int64 // their bodies' bytes
	closed   bool
	refusals uint64 // under mu
}

// poolLimits bounds what waits in a pool.
type poolLimits struct {
	queue      int   // requests waiting, all connections
	queueBytes int64 // their bodies' bytes, all connections
	connRun    int   // requests of one connection running at once
	connQueue  int   // requests of one connection waiting
	connBytes  int64 // their bodies' bytes; one request is always let in
}

// connQueue is one connection's requests in one pool.
type connQueue struct {
	jobs    []job
	head    int // jobs[head:] wait
	bytes   int64
	running int
	inReady bool
	paused  bool // its replies are backlogged: run none until they drain
	closed  bool
}

func newPool(workers int, limits poolLimits, run func(job)) *pool {
	p := &pool{workers: workers, limits: limits, run: run}
	p.cond.L = &p.mu
	return p
}

func (p *pool) start() {
	p.wg.Add(p.workers)
	for range p.workers {
		go p.worker()
	}
}

func (p *pool) worker() {
	defer p.wg.Done()
	for {
		j, ok := p.next()
		if !ok {
			return
		}
		p.run(j)
		p.finish(j.cq)
	}
}

// submit queues j on its connection; it reports false when a limit
// refuses it (or the pool is closed).
func (p *pool) submit(cq *connQueue, j job) bool {
	size := int64(len(j.msg.body))
	p.mu.Lock()
	defer p.mu.Unlock()
	waiting := len(cq.jobs) - cq.head
	l := p.limits
	if p.closed || cq.closed || p.queued >= l.queue || waiting >= l.connQueue ||
		(waiting > 0 && cq.bytes+size > l.connBytes) || (p.queued > 0 && p.bytes+size > l.queueBytes) {
		p.refusals++
		return false
	}
	cq.jobs = append(cq.jobs, j)
	cq.bytes += size
	p.queued++
	p.bytes += size
	p.readyLocked(cq)
	return true
}

// readyLocked puts cq in line for a worker if it may run one more.
func (p *pool) readyLocked(cq *connQueue) {
	if cq.inReady || cq.closed || cq.paused || cq.head == len(cq.jobs) || cq.running >= p.limits.connRun {
		return
	}
	cq.inReady = true
	p.ready = append(p.ready, cq)
	p.cond.Signal()
}

// next waits for the next request to run: the oldest of the connection
// whose turn it is. A connection whose requests were dropped meanwhile
// (it closed) is passed over.
func (p *pool) next() (job, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.head == len(p.ready) && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			return job{}, false
		}
		cq := p.popReadyLocked()
		cq.inReady = false
		if cq.head == len(cq.jobs) || cq.paused {
			continue
		}
		j := cq.pop()
		p.queued--
		p.bytes -= int64(len(j.msg.body))
		cq.running++
		p.readyLocked(cq) // to the back of the line
		return j, true
	}
}

// popReadyLocked takes the connection whose turn it is, reusing the
// slice's space so that steady state allocates nothing.
func (p *pool) popReadyLocked() *connQueue {
	cq := p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
	} else if p.head > 64 && p.head*2 > len(p.ready) {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	return cq
}

// finish records that one of cq's requests is done.
func (p *pool) finish(cq *connQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cq.running--
	p.readyLocked(cq)
}

// pause stops running cq's requests until resume.
func (p *pool) pause(cq *connQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cq.paused = true
}

// resume lets cq's requests run again.
func (p *pool) resume(cq *connQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cq.paused {
		cq.paused = false
		p.readyLocked(cq)
	}
}

// drop takes every waiting request of cq out of the pool (its
// connection closed) and returns them.
func (p *pool) drop(cq *connQueue) []job {
	p.mu.Lock()
	defer p.mu.Unlock()
	cq.closed = true
	jobs := cq.jobs[cq.head:]
	p.queued -= len(jobs)
	p.bytes -= cq.bytes
	cq.jobs, cq.head, cq.bytes = nil, 0, 0
	return jobs
}

// close stops the workers once their requests return. Requests still
// waiting are left to their connections' drop.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.ready, p.head = nil, 0
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

// stats returns the requests waiting and the requests refused.
func (p *pool) stats() (queued int, refused uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued, p.refusals
}

func (cq *connQueue) pop() job {
	j := cq.jobs[cq.head]
	cq.jobs[cq.head] = job{}
	cq.head++
	cq.bytes -= int64(len(j.msg.body))
	if cq.head == len(cq.jobs) { // empty: reuse the slice from its start
		cq.jobs, cq.head = cq.jobs[:0], 0
	} else if cq.head > 64 && cq.head*2 > len(cq.jobs) {
		n := copy(cq.jobs, cq.jobs[cq.head:])
		clear(cq.jobs[n:])
		cq.jobs, cq.head = cq.jobs[:n], 0
	}
	return j
}
