package feedback

import (
	"math"
	"slices"
	"time"
)

// simStation is the event-driven core shared by QueueServer and WorkerPool:
// Poisson arrivals, a FIFO queue, a number of servers drawing service times
// from a Distribution, and an optional cap on requests in flight (queued
// plus in service). It collects per-window accumulators that the plants
// turn into their stats.
type simStation struct {
	sim      *Sim
	service  Distribution
	rate     float64 // arrivals per second
	gen      uint64  // bumped on a rate change; stale arrival events ignore themselves
	servers  int
	busy     int
	limit    int // 0: no cap
	deadline time.Duration
	// onComplete, when set, sees each completion: its latency and the
	// requests in flight when it was admitted, itself included.
	onComplete func(latency time.Duration, inflight int)

	queue []simRequest // waiting requests, FIFO from qhead
	qhead int

	// per-window accumulators, reset by collect
	winStart   time.Duration
	arrivals   int
	rejected   int
	completed  int
	good       int
	latencies  []time.Duration
	waits      []time.Duration
	busyArea   float64 // server-nanoseconds busy in the window
	lastChange time.Duration
}

// simRequest is one admitted request.
type simRequest struct {
	arrived  time.Duration
	inflight int // in flight when admitted, itself included
}

func newSimStation(sim *Sim, servers int, service Distribution, rate float64) *simStation {
	st := &simStation{sim: sim, service: service, servers: servers, winStart: sim.Now(), lastChange: sim.Now()}
	st.setRate(rate)
	return st
}

func (st *simStation) queued() int   { return len(st.queue) - st.qhead }
func (st *simStation) inFlight() int { return st.busy + st.queued() }

// setRate changes the arrival rate from now on. Arrivals are memoryless, so
// dropping the pending arrival and drawing a fresh gap at the new rate keeps
// the process Poisson.
func (st *simStation) setRate(rate float64) {
	st.rate = rate
	st.gen++
	st.scheduleArrival(st.gen)
}

func (st *simStation) scheduleArrival(gen uint64) {
	if st.rate <= 0 {
		return
	}
	gap := time.Duration(st.sim.Rand().ExpFloat64() / st.rate * float64(time.Second))
	st.sim.After(gap, func() { st.arrive(gen) })
}

func (st *simStation) arrive(gen uint64) {
	if gen != st.gen {
		return
	}
	st.arrivals++
	st.admit(st.sim.Now())
	st.scheduleArrival(gen)
}

func (st *simStation) admit(arrived time.Duration) {
	if st.limit > 0 && st.inFlight() >= st.limit {
		st.rejected++
		return
	}
	r := simRequest{arrived: arrived, inflight: st.inFlight() + 1}
	if st.busy < st.servers {
		st.start(r)
		return
	}
	st.queue = append(st.queue, r)
}

func (st *simStation) markBusy(delta int) {
	now := st.sim.Now()
	st.busyArea += float64(st.busy) * float64(now-st.lastChange)
	st.lastChange = now
	st.busy += delta
}

func (st *simStation) start(r simRequest) {
	st.markBusy(+1)
	st.waits = append(st.waits, st.sim.Now()-r.arrived)
	st.sim.After(st.service(st.sim.Rand()), func() { st.complete(r) })
}

func (st *simStation) complete(r simRequest) {
	st.markBusy(-1)
	lat := st.sim.Now() - r.arrived
	st.latencies = append(st.latencies, lat)
	st.completed++
	if st.deadline == 0 || lat <= st.deadline {
		st.good++
	}
	st.fill()
	if st.onComplete != nil {
		st.onComplete(lat, r.inflight)
	}
}

// fill starts queued requests while servers are free.
func (st *simStation) fill() {
	for st.busy < st.servers && st.queued() > 0 {
		r := st.queue[st.qhead]
		st.qhead++
		st.start(r)
	}
	if st.qhead > 1024 && st.qhead*2 > len(st.queue) {
		st.queue = append(st.queue[:0], st.queue[st.qhead:]...)
		st.qhead = 0
	}
}

func (st *simStation) setServers(n int) {
	st.servers = n
	st.fill()
}

// stationWindow is what one window of a station measured.
type stationWindow struct {
	span                                time.Duration
	arrivals, rejected, completed, good int
	latP50, latP90, latP99, latMean     time.Duration
	waitP50, waitP90, waitP99, waitMean time.Duration
	utilisation                         float64
	oldestWait                          time.Duration
}

// collect advances the simulation by window and returns the window's stats,
// then resets the accumulators.
func (st *simStation) collect(window time.Duration) stationWindow {
	st.sim.RunUntil(st.sim.Now() + window)
	st.markBusy(0)
	ws := stationWindow{
		span:      st.sim.Now() - st.winStart,
		arrivals:  st.arrivals,
		rejected:  st.rejected,
		completed: st.completed,
		good:      st.good,
	}
	ws.latP50, ws.latP90, ws.latP99, ws.latMean = summarizeDurations(st.latencies)
	ws.waitP50, ws.waitP90, ws.waitP99, ws.waitMean = summarizeDurations(st.waits)
	if ws.span > 0 && st.servers > 0 {
		ws.utilisation = st.busyArea / (float64(ws.span) * float64(st.servers))
	}
	if st.queued() > 0 {
		ws.oldestWait = st.sim.Now() - st.queue[st.qhead].arrived
	}
	st.winStart = st.sim.Now()
	st.arrivals, st.rejected, st.completed, st.good = 0, 0, 0, 0
	st.latencies, st.waits = st.latencies[:0], st.waits[:0]
	st.busyArea = 0
	return ws
}

// summarizeDurations sorts ds in place and returns its nearest-rank p50, p90, p99
// and its mean; all zero when ds is empty.
func summarizeDurations(ds []time.Duration) (p50, p90, p99, mean time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ds)
	var sum float64
	for _, d := range ds {
		sum += float64(d)
	}
	return nearestRank(ds, 0.50), nearestRank(ds, 0.90), nearestRank(ds, 0.99), time.Duration(sum / float64(len(ds)))
}

func nearestRank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}
