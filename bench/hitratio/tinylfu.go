package hitratio

import (
	"fmt"
	"runtime"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/maypok86/otter/v2"
)

// NewOtter is otter v2, a W-TinyLFU cache (Caffeine's design: a window
// LRU, a segmented main LRU, admission by a count-min frequency sketch).
// Capacity is in entries: MaximumSize, which weighs each entry 1.
//
// Otter records reads in lossy buffers and applies writes and evictions
// in a maintenance pass that its default executor runs on another
// goroutine, so a cache could for a while hold more than its capacity.
// Here the executor is synchronous: maintenance runs inside the Add that
// needs it, so the cache is within capacity when Add returns, as
// golang-lru's are. Reads are still buffered as otter does in
// production (a full read buffer triggers a drain; a read dropped by a
// full stripe is lost to the sketch). Otter's hash seed is random per
// cache, so its figures vary slightly from run to run.
func NewOtter(capacity int) (Policy, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("%w: otter capacity %d", ErrParam, capacity)
	}
	c, err := otter.New(&otter.Options[uint64, struct{}]{
		MaximumSize: capacity,
		Executor:    func(fn func()) { fn() },
	})
	if err != nil {
		return nil, fmt.Errorf("%w: otter: %v", ErrParam, err)
	}
	return otterPolicy{c}, nil
}

type otterPolicy struct {
	c *otter.Cache[uint64, struct{}]
}

func (o otterPolicy) Get(key uint64) bool {
	_, ok := o.c.GetIfPresent(key)
	return ok
}

func (o otterPolicy) Add(key uint64) { o.c.Set(key, struct{}{}) }

func (o otterPolicy) Close() { o.c.StopAllGoroutines() }

// NewRistretto is ristretto v2: TinyLFU admission (a count-min sketch
// with a doorkeeper bloom filter) in front of sampled-LFU eviction (5
// random entries), without Caffeine's window LRU; it stands in the
// W-TinyLFU family as the other widely used Go TinyLFU cache.
//
// Capacity is in cost units, so every entry costs 1 (IgnoreInternalCost,
// MaxCost = capacity), with NumCounters 10 × capacity as ristretto
// recommends. Ristretto applies a Set on its own goroutine from a
// buffer that drops Sets under contention; Add calls Wait after Set, so
// the Set has been admitted or rejected before the next Get and none is
// dropped. Ristretto also hands Get accesses to its sketch in batches of
// 64 through a channel of 3 batches, and drops a batch when the channel
// is full. A replay loop calls Get far faster than a server would, and on
// a loaded machine ristretto's goroutine then misses most batches (35 to
// 78% of accesses dropped in our first full run), which starves its
// sketch. So Get yields (runtime.Gosched) once per 64 calls, letting
// that goroutine drain the channel, as the pauses between a server's
// requests would; the drops that remain are reported in Note (Metrics is
// on for that). Its sketch seeds are random, so figures vary slightly.
func NewRistretto(capacity int) (Policy, error) {
	if capacity < 1 {
		return nil, fmt.Errorf("%w: ristretto capacity %d", ErrParam, capacity)
	}
	c, err := ristretto.NewCache(&ristretto.Config[uint64, struct{}]{
		NumCounters:        10 * int64(capacity),
		MaxCost:            int64(capacity),
		BufferItems:        64,
		IgnoreInternalCost: true,
		Metrics:            true,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: ristretto: %v", ErrParam, err)
	}
	return &ristrettoPolicy{c: c}, nil
}

type ristrettoPolicy struct {
	c    *ristretto.Cache[uint64, struct{}]
	gets int
}

// yieldEvery is how many Gets the ristretto adapter makes between two
// yields to its goroutines (one batch of BufferItems accesses).
const yieldEvery = 64

func (r *ristrettoPolicy) Get(key uint64) bool {
	_, ok := r.c.Get(key)
	if r.gets++; r.gets%yieldEvery == 0 {
		runtime.Gosched()
	}
	return ok
}

func (r *ristrettoPolicy) Add(key uint64) {
	r.c.Set(key, struct{}{}, 1)
	r.c.Wait()
}

func (r *ristrettoPolicy) Close() { r.c.Close() }

func (r *ristrettoPolicy) Note() string {
	m := r.c.Metrics
	return fmt.Sprintf("gets dropped %d of %d, sets dropped %d, sets rejected %d",
		m.GetsDropped(), m.GetsDropped()+m.GetsKept(), m.SetsDropped(), m.SetsRejected())
}
