package systems

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder counts completed calls, and keeps their latencies when asked,
// while it is on. It is safe for concurrent use.
type Recorder struct {
	on    atomic.Bool
	calls atomic.Uint64
	keep  bool

	mu  sync.Mutex
	lat []time.Duration
}

// NewRecorder returns a recorder, off; keepLatency keeps every latency.
func NewRecorder(keepLatency bool) *Recorder { return &Recorder{keep: keepLatency} }

// Done records one completed call that took d.
func (r *Recorder) Done(d time.Duration) {
	if !r.on.Load() {
		return
	}
	r.calls.Add(1)
	if r.keep {
		r.mu.Lock()
		r.lat = append(r.lat, d)
		r.mu.Unlock()
	}
}

// SetOn starts or stops recording.
func (r *Recorder) SetOn(on bool) { r.on.Store(on) }

// Calls returns the calls recorded.
func (r *Recorder) Calls() uint64 { return r.calls.Load() }

// Percentiles returns the latencies at the given quantiles (0..1) in
// microseconds, or nil if none were kept.
func (r *Recorder) Percentiles(qs ...float64) []float64 {
	r.mu.Lock()
	lat := slices.Clone(r.lat)
	r.mu.Unlock()
	if len(lat) == 0 {
		return nil
	}
	slices.Sort(lat)
	out := make([]float64, len(qs))
	for i, q := range qs {
		out[i] = float64(lat[int(float64(len(lat)-1)*q)].Nanoseconds()) / 1e3
	}
	return out
}

// counter is padded to its own cache line: each subscriber goroutine
// increments only its own.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// Counters counts messages per subscriber.
type Counters struct{ c []counter }

// NewCounters returns n zeroed counters.
func NewCounters(n int) *Counters { return &Counters{c: make([]counter, n)} }

// Add counts one message for subscriber i.
func (c *Counters) Add(i int) { c.c[i].n.Add(1) }

// Sum returns the messages counted over every subscriber.
func (c *Counters) Sum() uint64 {
	var s uint64
	for i := range c.c {
		s += c.c[i].n.Load()
	}
	return s
}

// Min returns the smallest count of any subscriber.
func (c *Counters) Min() uint64 {
	m := ^uint64(0)
	for i := range c.c {
		m = min(m, c.c[i].n.Load())
	}
	return m
}
