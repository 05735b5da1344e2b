package feedback

import (
	"container/heap"
	"errors"
	"math"
	"math/rand/v2"
	"time"
)

// ErrSimConfig is returned by the simulator's constructors when a
// configuration value is out of range; the wrapped message names the field.
var ErrSimConfig = errors.New("feedback: invalid simulator config")

// Sim is a deterministic discrete-event simulator with a virtual clock.
// Nothing in it reads the real clock or starts a goroutine: time moves only
// when RunUntil is called, and events run one at a time in the calling
// goroutine, ordered by due time and, for equal times, by the order they
// were scheduled. All randomness comes from one PCG generator seeded by
// NewSim, so the same seed and the same calls give the same run.
//
// A Sim is not safe for concurrent use. Plants (QueueServer, WorkerPool,
// CachePlant) share the Sim they are built on; their Step methods advance it.
type Sim struct {
	now    time.Duration
	seq    uint64
	rng    *rand.Rand
	events simEventHeap
}

// NewSim returns a simulator at virtual time zero whose random source is a
// PCG generator seeded with seed.
func NewSim(seed uint64) *Sim {
	return &Sim{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Now returns the virtual time elapsed since the simulator was created.
func (s *Sim) Now() time.Duration { return s.now }

// Rand returns the simulator's random source. Draw from it only inside the
// simulation (event functions, plant set-up) so that runs stay repeatable.
func (s *Sim) Rand() *rand.Rand { return s.rng }

// At schedules fn to run at virtual time at. A time in the past runs at the
// next RunUntil, before later events.
func (s *Sim) At(at time.Duration, fn func()) {
	if at < s.now {
		at = s.now
	}
	s.seq++
	heap.Push(&s.events, simEvent{at: at, seq: s.seq, fn: fn})
}

// After schedules fn to run d after the current virtual time.
func (s *Sim) After(d time.Duration, fn func()) { s.At(s.now+d, fn) }

// RunUntil runs every event due at or before t, in order, then sets the
// clock to t. Events scheduled by running events are run too when due by t.
// A t before Now leaves the clock unchanged.
func (s *Sim) RunUntil(t time.Duration) {
	for len(s.events) > 0 && s.events[0].at <= t {
		ev := heap.Pop(&s.events).(simEvent)
		s.now = ev.at
		ev.fn()
	}
	if t > s.now {
		s.now = t
	}
}

// Pending returns the number of scheduled events not yet run.
func (s *Sim) Pending() int { return len(s.events) }

type simEvent struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type simEventHeap []simEvent

func (h simEventHeap) Len() int { return len(h) }
func (h simEventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h simEventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *simEventHeap) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *simEventHeap) Pop() any {
	old := *h
	n := len(old) - 1
	ev := old[n]
	old[n] = simEvent{}
	*h = old[:n]
	return ev
}

// Distribution draws a duration (a service time) from r.
type Distribution func(r *rand.Rand) time.Duration

// Exponential returns a Distribution of exponentially distributed
// durations with the given mean (the service of an M/M/c queue).
func Exponential(mean time.Duration) Distribution {
	return func(r *rand.Rand) time.Duration {
		return time.Duration(r.ExpFloat64() * float64(mean))
	}
}

// Lognormal returns a Distribution of log-normally distributed durations
// with the given mean and shape sigma (the standard deviation of the
// logarithm; 0.5 is a moderate tail, 1 a heavy one).
func Lognormal(mean time.Duration, sigma float64) Distribution {
	mu := math.Log(float64(mean)) - sigma*sigma/2
	return func(r *rand.Rand) time.Duration {
		return time.Duration(math.Exp(mu + sigma*r.NormFloat64()))
	}
}
