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

// Balancer chooses which provider a call goes to, among the connected
// providers of its service (after OnNode and Where have narrowed them).
// Pick returns an index into providers, which is never empty; an index
// out of range counts as 0. It runs on every call: it must be fast,
// must not block, and must be safe for concurrent use. Providers carry
// the load signals a balancer weighs (Provider.Load); a feedback loop
// can steer calls by plugging its own Balancer (WithBalancer, Balance).
type Balancer interface {
	Pick(service string, providers []Provider) int
}

// Provider is one connected provider of a service, as a Balancer sees it.
type Provider struct {
	pc *providerConn
	hb time.Duration // the caller's heartbeat interval; 0: off
}

// Node returns the provider's registry entry (or, for a call made with
// At, its endpoint and key). Its maps and slices must not be modified.
func (p Provider) Node() NodeInfo { return p.pc.info }

// Load returns what the caller knows now of the provider's load.
func (p Provider) Load() ProviderLoad {
	l := &p.pc.load
	pl := ProviderLoad{
		Outstanding: int(l.outstanding.Load()),
		Latency:     time.Duration(l.latency.Load()),
		Errors:      l.errors.Load(),
		Healthy:     p.healthy(),
	}
	if link := p.pc.live.Load(); link != nil {
		pl.LastHeard = link.Silence()
	}
	return pl
}

// ProviderLoad is a caller's view of one provider's load and health.
type ProviderLoad struct {
	// Outstanding counts this caller's calls sent to it and not answered.
	Outstanding int
	// Latency is a moving average of its answered calls' latency (each
	// new call weighs 1/8), zero before the first answer.
	Latency time.Duration
	// Errors counts its error replies to this caller.
	Errors uint64
	// LastHeard is the time since anything (an answer, a heartbeat)
	// last came from it.
	LastHeard time.Duration
	// Healthy is false while it owes answers and has sent none for much
	// longer than it usually takes (it hangs, or is swamped), or while
	// its connection is silent past 1.5 heartbeat intervals.
	Healthy bool
}

// healthy reports whether the provider may take calls ahead of those
// that are not healthy.
func (p Provider) healthy() bool {
	if p.pc.load.stalled() {
		return false
	}
	if p.hb > 0 {
		if l := p.pc.live.Load(); l != nil && l.Silence() > p.hb*3/2 {
			return false
		}
	}
	return true
}

// turns counts calls per service for the balancers that take turns.
// The count is kept across readings of the registry.
type turns struct{ m sync.Map } // service -> *atomic.Uint64

// next returns the next turn of service.
func (t *turns) next(service string) uint64 {
	c, ok := t.m.Load(service)
	if !ok {
		c, _ = t.m.LoadOrStore(service, new(atomic.Uint64))
	}
	return c.(*atomic.Uint64).Add(1) - 1
}

// LeastOutstanding returns the default balancer. It sends a call to the
// healthy provider with the fewest calls outstanding (among more than
// four providers, the better of two chosen at random: power of two
// choices), taking turns among equals so that light traffic is spread
// evenly. Unhealthy providers (see ProviderLoad.Healthy) get calls only
// when every provider is unhealthy.
func LeastOutstanding() Balancer { return &leastOutstanding{} }

type leastOutstanding struct{ turns turns }

// p2cAbove is the number of candidates above which two are sampled
// instead of all being compared.
const p2cAbove = 4

func (b *leastOutstanding) Pick(service string, ps []Provider) int {
	n := len(ps)
	if n == 0 {
		return -1
	}
	// Whom to weigh: the healthy, or all when none is. (Past 64
	// candidates, the rest count as unhealthy.)
	healthy := healthySet(ps)
	eligible := func(i int) bool { return healthy == 0 || (i < 64 && healthy&(1<<i) != 0) }
	if n > p2cAbove {
		if i := pickTwo(ps, eligible); i >= 0 {
			return i
		}
	}
	turn := b.turns.next(service)
	best := -1
	for k := range n {
		i := int((turn + uint64(k)) % uint64(n))
		if eligible(i) && (best < 0 || ps[i].pc.load.outstanding.Load() < ps[best].pc.load.outstanding.Load()) {
			best = i
		}
	}
	return best
}

// healthySet returns a bit per healthy provider among the first 64.
func healthySet(ps []Provider) uint64 {
	var healthy uint64
	for i, p := range ps[:min(len(ps), 64)] {
		if p.healthy() {
			healthy |= 1 << i
		}
	}
	return healthy
}

// pickTwo samples two distinct eligible candidates and returns the less
// loaded, or -1 when a few draws found fewer than two.
func pickTwo(ps []Provider, eligible func(int) bool) int {
	a, c := -1, -1
	for range 8 {
		i := rand.IntN(len(ps))
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
		return -1
	}
	if ps[c].pc.load.outstanding.Load() < ps[a].pc.load.outstanding.Load() {
		return c
	}
	return a
}

// RoundRobin returns a balancer that sends each call to the next
// healthy provider in turn, whatever their load. Its turns are kept per
// service across readings of the registry, so that refreshing the view
// does not send every caller back to the first provider.
func RoundRobin() Balancer { return &roundRobin{} }

type roundRobin struct{ turns turns }

func (b *roundRobin) Pick(service string, ps []Provider) int {
	n := uint64(len(ps))
	turn := b.turns.next(service)
	for k := range n {
		if i := int((turn + k) % n); ps[i].healthy() {
			return i
		}
	}
	return int(turn % n)
}

// Prefer returns a balancer that chooses with then among the providers
// whose labels include every key=value of sel, and among all of them
// when none does: a soft preference (same zone, same host), where the
// Where call option is a strict selection.
func Prefer(sel map[string]string, then Balancer) Balancer {
	return &prefer{sel: sel, then: then}
}

type prefer struct {
	sel  map[string]string
	then Balancer
}

func (b *prefer) Pick(service string, ps []Provider) int {
	var buf [8]int
	idx := buf[:0]
	for i, p := range ps {
		if p.pc.info.HasLabels(b.sel) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 || len(idx) == len(ps) {
		return b.then.Pick(service, ps)
	}
	sub := make([]Provider, len(idx))
	for k, i := range idx {
		sub[k] = ps[i]
	}
	if k := b.then.Pick(service, sub); k >= 0 && k < len(sub) {
		return idx[k]
	}
	return idx[0]
}
