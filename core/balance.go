package core

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// load is what a caller knows of one provider connection's load and
// health: the signals the balancer weighs.
type load struct {
	outstanding atomic.Int64 // calls sent and not answered
	latency     atomic.Int64 // moving average of answered calls' latency, ns
	errors      atomic.Uint64
	progress    atomic.Int64 // unix ns: last answer, or when calls began to wait
}

// latencyWeight is the weight of a new sample in the moving average.
const latencyWeight = 8 // 1/8

// sent records a call sent at now.
func (l *load) sent(now time.Time) {
	if l.outstanding.Add(1) == 1 {
		l.progress.Store(now.UnixNano()) // the wait for an answer starts now
	}
}

// answered records the answer to a call sent at start; failed says
// whether the provider answered with an error.
func (l *load) answered(start, now time.Time, failed bool) {
	l.outstanding.Add(-1)
	l.progress.Store(now.UnixNano())
	if failed {
		l.errors.Add(1)
	}
	sample := int64(now.Sub(start))
	old := l.latency.Load()
	if old == 0 {
		l.latency.Store(sample)
	} else {
		l.latency.Store(old + (sample-old)/latencyWeight)
	}
}

// abandoned records a call that ended without an answer.
func (l *load) abandoned() { l.outstanding.Add(-1) }

// stallFloor is the shortest wait for an answer after which a provider
// with calls outstanding counts as stalled; stallFactor scales its
// usual latency to the same end.
const (
	stallFloor  = 100 * time.Millisecond
	stallFactor = 10
)

// stalled reports a provider that owes answers and has answered none
// for much longer than it usually takes: it hangs, or is overwhelmed.
func (l *load) stalled(now time.Time) bool {
	if l.outstanding.Load() <= 0 {
		return false
	}
	wait := now.Sub(time.Unix(0, l.progress.Load()))
	return wait > max(stallFloor, stallFactor*time.Duration(l.latency.Load()))
}

// balancer chooses among a service's providers. It sends a call to the
// connected, healthy provider with the fewest calls outstanding
// (among many providers, the better of two chosen at random: power of
// two choices), taking turns among equals so that light traffic is
// spread evenly. A provider that owes answers and has stalled, or
// whose connection went silent (no answer to heartbeats), gets calls
// only when every provider is in that state.
type balancer struct {
	heartbeat time.Duration // 0: silence is not watched
	mu        sync.Mutex
	turns     map[string]*atomic.Uint64 // by service, kept across readings of the registry
}

func newBalancer(heartbeat time.Duration) *balancer {
	return &balancer{heartbeat: heartbeat, turns: map[string]*atomic.Uint64{}}
}

// p2cAbove is the number of candidates above which two are sampled
// instead of all being compared.
const p2cAbove = 4

// turn returns the next turn of service.
func (b *balancer) turn(service string) uint64 {
	b.mu.Lock()
	t := b.turns[service]
	if t == nil {
		t = new(atomic.Uint64)
		b.turns[service] = t
	}
	b.mu.Unlock()
	return t.Add(1) - 1
}

// healthy reports whether pc, which is connected, may take calls ahead
// of those that are not healthy.
func (b *balancer) healthy(pc *providerConn, now time.Time) bool {
	if pc.load.stalled(now) {
		return false
	}
	if b.heartbeat > 0 {
		if l := pc.sess.Current(); l != nil && l.Silence() > b.heartbeat*3/2 {
			return false
		}
	}
	return true
}

// pick chooses among up, the connected candidates; nil when up is empty.
func (b *balancer) pick(service string, up []*providerConn) *providerConn {
	if len(up) == 0 {
		return nil
	}
	now := time.Now()
	good := up[:0:0]
	for _, pc := range up {
		if b.healthy(pc, now) {
			good = append(good, pc)
		}
	}
	if len(good) == 0 {
		good = up
	}
	turn := b.turn(service)
	if len(good) > p2cAbove {
		i := rand.IntN(len(good))
		j := (i + 1 + rand.IntN(len(good)-1)) % len(good)
		good = []*providerConn{good[i], good[j]}
	}
	var best *providerConn
	for k := range good {
		pc := good[(turn+uint64(k))%uint64(len(good))]
		if best == nil || pc.load.outstanding.Load() < best.load.outstanding.Load() {
			best = pc
		}
	}
	return best
}
