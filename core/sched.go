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
	cond     sync.Cond        // signalled when ready gains a connection, or at close
	ready    fifo[*connQueue] // connections waiting for a worker, in turn
	queued   int              // requests waiting, all connections
	bytes    int64            // their bodies' bytes
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
	jobs    fifo[job] // waiting
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
	waiting := cq.jobs.len()
	l := p.limits
	if p.closed || cq.closed || p.queued >= l.queue || waiting >= l.connQueue ||
		(waiting > 0 && cq.bytes+size > l.connBytes) || (p.queued > 0 && p.bytes+size > l.queueBytes) {
		p.refusals++
		return false
	}
	cq.jobs.push(j)
	cq.bytes += size
	p.queued++
	p.bytes += size
	p.readyLocked(cq)
	return true
}

// readyLocked puts cq in line for a worker if it may run one more.
func (p *pool) readyLocked(cq *connQueue) {
	if cq.inReady || cq.closed || cq.paused || cq.jobs.len() == 0 || cq.running >= p.limits.connRun {
		return
	}
	cq.inReady = true
	p.ready.push(cq)
	p.cond.Signal()
}

// next waits for the next request to run: the oldest of the connection
// whose turn it is. A connection whose requests were dropped meanwhile
// (it closed) is passed over.
func (p *pool) next() (job, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.ready.len() == 0 && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			return job{}, false
		}
		cq := p.ready.pop()
		cq.inReady = false
		if cq.jobs.len() == 0 || cq.paused {
			continue
		}
		j := cq.jobs.pop()
		cq.bytes -= int64(len(j.msg.body))
		p.queued--
		p.bytes -= int64(len(j.msg.body))
		cq.running++
		p.readyLocked(cq) // to the back of the line
		return j, true
	}
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
	jobs := cq.jobs.drain()
	p.queued -= len(jobs)
	p.bytes -= cq.bytes
	cq.bytes = 0
	return jobs
}

// close stops the workers once their requests return. Requests still
// waiting are left to their connections' drop.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.ready = fifo[*connQueue]{}
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

// fifo is a queue on a slice that reuses its space: steady state
// allocates nothing.
type fifo[T any] struct {
	items []T
	head  int // items[head:] are queued
}

func (f *fifo[T]) len() int { return len(f.items) - f.head }

func (f *fifo[T]) push(v T) { f.items = append(f.items, v) }

// pop takes the oldest item; the fifo must not be empty.
func (f *fifo[T]) pop() T {
	var zero T
	v := f.items[f.head]
	f.items[f.head] = zero
	f.head++
	if f.head == len(f.items) { // empty: start again at the front
		f.items, f.head = f.items[:0], 0
	} else if f.head > 64 && f.head*2 > len(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items, f.head = f.items[:n], 0
	}
	return v
}

// drain takes every item.
func (f *fifo[T]) drain() []T {
	items := f.items[f.head:]
	*f = fifo[T]{}
	return items
}
