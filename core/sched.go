package core

import (
	"sync"
)

// pool runs requests on a bounded set of workers. Requests wait in their
// connection's own queue, and workers serve the connections that have
// requests in turn (round robin), so that however many requests one
// connection sends, a request of another waits for at most one request
// per busy connection, and no connection holds more than its share of
// the workers or of the waiting room.
//
// Workers start when there is work for them and none is idle, up to
// limits.workers, and then stay; lowering the limit lets the surplus
// finish what they run and leave, so no handler is ever cancelled by a
// resize. The shared pool and the reserved pool keep their limits for
// the peer's life; a service's own pool (limits.go) is resized at run
// time.
type pool struct {
	run      func(job)
	wg       sync.WaitGroup
	mu       sync.Mutex
	cond     sync.Cond // signalled when ready gains a connection; broadcast at close and shrink
	limits   poolLimits
	ready    fifo[*connQueue] // connections waiting for a worker, in turn
	queued   int              // requests waiting, all connections
	bytes    int64            // their bodies' bytes
	running  int              // requests running
	live     int              // workers started and not yet left
	idle     int              // workers waiting on cond and not yet signalled
	waking   int              // workers signalled or started that have not yet looked for work
	closed   bool
	detached bool                    // no longer fed: workers leave once nothing waits
	conns    map[*connQueue]struct{} // a service pool's connections, to reconsider when shares grow
	spec     ServiceLimits           // a service pool's limits as set (limits.go)
	refusals uint64
}

// poolLimits bounds what runs and waits in a pool. A request waits
// when every worker, or its connection's share of them, is busy; the
// queue bounds count the requests beyond the free workers, so a burst
// that free workers can take at once is never refused.
type poolLimits struct {
	workers    int   // requests running at once
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

func newPool(limits poolLimits, run func(job)) *pool {
	p := &pool{limits: limits, run: run}
	p.cond.L = &p.mu
	return p
}

// start starts every worker the pool may have, so that the first
// requests find them waiting.
func (p *pool) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.live < p.limits.workers && !p.closed {
		p.live++
		p.waking++
		p.wg.Add(1)
		go p.worker()
	}
}

// worker runs requests until the pool closes, shrinks below the number
// of its workers, or is detached with nothing left to run.
func (p *pool) worker() {
	defer p.wg.Done()
	w := &poolWorker{}
	var done *connQueue
	for {
		j, ok := p.next(done, w)
		if !ok {
			return
		}
		p.run(j)
		done = j.cq
	}
}

// poolWorker is what a pool knows of one of its workers' requests.
type poolWorker struct {
	released bool // its handler returned and its slot was given back
	started  bool // it has looked for work once (arrivedLocked)
}

// handlerReturned gives a service pool's slot back as soon as the
// handler returns, before its reply is written: a caller that sends its
// next request on receiving the reply must find the slot free, or a
// pool with no queue would refuse it. The shared and reserved pools,
// whose queues absorb that moment, count the slot until the worker
// comes back (it costs them no lock).
func (p *pool) handlerReturned(j job) {
	if p.conns != nil && j.w != nil {
		p.releaseEarly(j.w, j.cq)
	}
}

func (p *pool) releaseEarly(w *poolWorker, cq *connQueue) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.released {
		w.released = true
		p.releaseLocked(cq)
	}
}

// releaseLocked records that one of cq's requests is done.
func (p *pool) releaseLocked(cq *connQueue) {
	cq.running--
	p.running--
	p.readyLocked(cq)
}

// submit queues j on its connection; it reports false when a limit
// refuses it (or the pool is closed).
func (p *pool) submit(cq *connQueue, j job) bool {
	size := int64(len(j.msg.body))
	p.mu.Lock()
	defer p.mu.Unlock()
	waiting := cq.jobs.len()
	l := &p.limits
	free := max(0, l.workers-p.running) // workers that can take a request now
	if p.closed || cq.closed ||
		p.queued >= l.queue+free ||
		waiting >= l.connQueue+max(0, min(free, l.connRun-cq.running)) ||
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

// readyLocked puts cq in line for a worker if it may run one more, and
// wakes or starts a worker for it.
func (p *pool) readyLocked(cq *connQueue) {
	if cq.inReady || cq.closed || cq.paused || cq.jobs.len() == 0 || cq.running >= p.limits.connRun {
		return
	}
	cq.inReady = true
	p.ready.push(cq)
	p.wakeLocked()
}

// wakeLocked wakes an idle worker, or starts one if the pool may have
// more; otherwise every worker is busy and the first to finish comes.
// One wake at a time: while a woken worker is on its way, it is left
// to take the work, and to wake the next if more is waiting when it
// does (next). A burst of requests then wakes workers one after another
// as they find work, not one per request, most of which would find the
// requests already taken by workers that were running.
func (p *pool) wakeLocked() {
	if p.waking > 0 {
		return
	}
	switch {
	case p.idle > 0:
		p.idle--
		p.waking++
		p.cond.Signal()
	case p.live < p.limits.workers && !p.closed:
		p.live++
		p.waking++
		p.wg.Add(1)
		go p.worker()
	}
}

// arrivedLocked records that a woken or new worker looks for work now.
// A worker woken by a broadcast may count for one that was signalled:
// waking never exceeds the workers on their way, so it cannot stay
// above zero with none coming.
func (p *pool) arrivedLocked() {
	if p.waking > 0 {
		p.waking--
	}
}

// surplusLocked reports that a worker should leave: the pool has more
// workers than its limit, or is detached with nothing in line.
func (p *pool) surplusLocked() bool {
	return p.live > p.limits.workers || (p.detached && p.ready.len() == 0)
}

// next records that the request of done (if any) returned, unless its
// handler already did (handlerReturned), and waits
// for the next request to run: the oldest of the connection whose turn
// it is. A connection whose requests were dropped meanwhile (it closed)
// is passed over. It reports false when the worker must leave.
func (p *pool) next(done *connQueue, w *poolWorker) (job, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.started {
		w.started = true
		p.arrivedLocked()
	}
	if done != nil && !w.released {
		p.releaseLocked(done)
	}
	w.released = false
	for {
		for p.ready.len() == 0 && !p.closed && !p.surplusLocked() {
			p.idle++ // Wait returns only when signalled (idle--) or broadcast (idle = 0)
			p.cond.Wait()
			p.arrivedLocked()
		}
		if p.closed || p.surplusLocked() {
			p.live--
			if !p.closed && p.ready.len() > 0 {
				p.wakeLocked() // a woken worker leaves: pass the wake on
			}
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
		p.running++
		p.readyLocked(cq) // to the back of the line
		if p.ready.len() > 0 {
			p.wakeLocked() // more waits: the next worker is woken by this one
		}
		j.w = w
		return j, true
	}
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
	delete(p.conns, cq)
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
	p.idle = 0
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
