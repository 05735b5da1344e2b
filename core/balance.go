package core

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// load is what a caller knows of one provider connection's load and
// health: the signals the balancer weighs. Times are read from the
// monotonic clock only, as durations since epoch: cheaper than
// time.Now on every call.
type load struct {
	epoch       time.Time    // with its monotonic reading
	outstanding atomic.Int64 // calls sent and not answered
	latency     atomic.Int64 // moving average of answered calls' latency, ns
	errors      atomic.Uint64
	progress    atomic.Int64 // since epoch, ns: last answer, or when calls began to wait
}

// latencyWeight is the weight of a new sample in the moving average.
const latencyWeight = 8 // 1/8

// now returns the time since epoch.
func (l *load) now() time.Duration { return time.Since(l.epoch) }

// sent records a call begun at start (a time.Now reading).
func (l *load) sent(start time.Time) {
	if l.outstanding.Add(1) == 1 {
		l.progress.Store(int64(start.Sub(l.epoch))) // the wait for an answer starts now
	}
}

// answered records the answer to a call begun at start; failed says
// whether the provider answered with an error.
func (l *load) answered(start time.Time, failed bool) {
	l.outstanding.Add(-1)
	l.progress.Store(int64(l.now()))
	if failed {
		l.errors.Add(1)
	}
	sample := int64(time.Since(start))
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
func (l *load) stalled() bool {
	if l.outstanding.Load() <= 0 {
		return false
	}
	wait := l.now() - time.Duration(l.progress.Load())
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
	turns     sync.Map      // service -> *atomic.Uint64, kept across readings of the registry
}

func newBalancer(heartbeat time.Duration) *balancer { return &balancer{heartbeat: heartbeat} }

// p2cAbove is the number of candidates above which two are sampled
// instead of all being compared.
const p2cAbove = 4

// turn returns the next turn of service.
func (b *balancer) turn(service string) uint64 {
	t, ok := b.turns.Load(service)
	if !ok {
		t, _ = b.turns.LoadOrStore(service, new(atomic.Uint64))
	}
	return t.(*atomic.Uint64).Add(1) - 1
}

// healthy reports whether pc, which is connected, may take calls ahead
// of those that are not healthy.
func (b *balancer) healthy(pc *providerConn) bool {
	if pc.load.stalled() {
		return false
	}
	if b.heartbeat > 0 {
		if l := pc.live.Load(); l != nil && l.Silence() > b.heartbeat*3/2 {
			return false
		}
	}
	return true
}

// pick chooses among up, the connected candidates; nil when up is empty.
func (b *balancer) pick(service string, up []*providerConn) *providerConn {
	n := len(up)
	if n == 0 {
		return nil
	}
	// Whom to weigh: the healthy, or all when none is. (Past 64
	// candidates, the rest count as unhealthy.)
	var healthy uint64
	for i, pc := range up[:min(n, 64)] {
		if b.healthy(pc) {
			healthy |= 1 << i
		}
	}
	eligible := func(i int) bool { return healthy == 0 || (i < 64 && healthy&(1<<i) != 0) }
	if n > p2cAbove {
		if pc := pickTwo(up, eligible); pc != nil {
			return pc
		}
	}
	turn := b.turn(service)
	var best *providerConn
	for k := range n {
		i := int((turn + uint64(k)) % uint64(n))
		if pc := up[i]; eligible(i) && (best == nil || pc.load.outstanding.Load() < best.load.outstanding.Load()) {
			best = pc
		}
	}
	return best
}

// pickTwo samples two distinct eligible candidates and returns the less
// loaded, or nil when a few draws found fewer than two.
func pickTwo(up []*providerConn, eligible func(int) bool) *providerConn {
	a, c := -1, -1
	for range 8 {
		i := rand.IntN(len(up))
		switch {
		case !eligible(i) || i == a:
		case a < 0:
			a = i
		default:
			c = i
		}
		if c >= 0 {
			break
		}
	}
	if c < 0 {
		return nil
	}
	if up[c].load.outstanding.Load() < up[a].load.outstanding.Load() {
		return up[c]
	}
	return up[a]
}
