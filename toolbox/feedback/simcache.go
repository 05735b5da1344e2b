package feedback

import (
	"container/list"
	"fmt"
	"math/rand/v2"
	"time"
)

// CacheConfig describes a simulated LRU cache read with Zipf-distributed
// keys.
type CacheConfig struct {
	// Capacity is the initial number of entries the cache holds; ≥ 0.
	Capacity int
	// Keys is the size of the working set: keys are drawn from
	// [Offset, Offset+Keys); ≥ 1.
	Keys uint64
	// Skew is the Zipf exponent s (> 1); key k is read with probability
	// proportional to (1+k)^-s. 0 means the default 1.1.
	Skew float64
	// Rate is the number of reads per second; > 0.
	Rate float64
}

// CacheStats is what a CachePlant measured over one window.
type CacheStats struct {
	Window   time.Duration
	Requests int
	Hits     int
	HitRate  float64 // Hits / Requests; 0 when there were no requests
	Entries  int     // entries held at the end of the window
	Capacity int     // capacity at the end of the window
}

// CachePlant is a simulated cache: actuate its size with SetCapacity,
// change its working set with SetWorkingSet, and measure its hit rate with
// Step. A miss inserts the key, evicting the least recently used entry.
type CachePlant struct {
	sim      *Sim
	skew     float64
	rate     float64
	keys     uint64
	offset   uint64
	zipf     *rand.Zipf
	capacity int
	carry    float64 // fractional reads carried into the next window
	lru      *list.List
	index    map[uint64]*list.Element
}

// NewCachePlant builds a CachePlant on sim, empty.
func NewCachePlant(sim *Sim, cfg CacheConfig) (*CachePlant, error) {
	if cfg.Skew == 0 {
		cfg.Skew = 1.1
	}
	switch {
	case sim == nil:
		return nil, fmt.Errorf("%w: nil Sim", ErrSimConfig)
	case cfg.Capacity < 0:
		return nil, fmt.Errorf("%w: Capacity %d < 0", ErrSimConfig, cfg.Capacity)
	case cfg.Keys < 1:
		return nil, fmt.Errorf("%w: Keys 0", ErrSimConfig)
	case cfg.Skew <= 1:
		return nil, fmt.Errorf("%w: Skew %v ≤ 1", ErrSimConfig, cfg.Skew)
	case cfg.Rate <= 0:
		return nil, fmt.Errorf("%w: Rate %v ≤ 0", ErrSimConfig, cfg.Rate)
	}
	c := &CachePlant{
		sim:      sim,
		skew:     cfg.Skew,
		rate:     cfg.Rate,
		capacity: cfg.Capacity,
		lru:      list.New(),
		index:    make(map[uint64]*list.Element),
	}
	c.SetWorkingSet(cfg.Keys, 0)
	return c, nil
}

// SetCapacity sets the number of entries the cache may hold, evicting the
// least recently used entries beyond it; less than 0 is taken as 0.
func (c *CachePlant) SetCapacity(n int) {
	c.capacity = max(n, 0)
	c.evict()
}

// SetWorkingSet makes reads draw from keys [offset, offset+keys) from now
// on, keeping the Zipf skew: doubling keys widens the working set, a new
// offset moves it to keys the cache has not seen. keys 0 is taken as 1.
func (c *CachePlant) SetWorkingSet(keys, offset uint64) {
	c.keys, c.offset = max(keys, 1), offset
	c.zipf = rand.NewZipf(c.sim.Rand(), c.skew, 1, c.keys-1)
}

// Step advances the simulation by window, performing Rate×window reads
// (fractions carried over), and returns what the window measured.
func (c *CachePlant) Step(window time.Duration) CacheStats {
	start := c.sim.Now()
	c.sim.RunUntil(start + window)
	want := c.rate*window.Seconds() + c.carry
	n := int(want)
	c.carry = want - float64(n)
	s := CacheStats{Window: c.sim.Now() - start, Requests: n}
	for range n {
		if c.read(c.offset + c.zipf.Uint64()) {
			s.Hits++
		}
	}
	if n > 0 {
		s.HitRate = float64(s.Hits) / float64(n)
	}
	s.Entries, s.Capacity = c.lru.Len(), c.capacity
	return s
}

// read looks key up, inserting it on a miss, and reports a hit.
func (c *CachePlant) read(key uint64) bool {
	if el, ok := c.index[key]; ok {
		c.lru.MoveToFront(el)
		return true
	}
	if c.capacity > 0 {
		c.index[key] = c.lru.PushFront(key)
		c.evict()
	}
	return false
}

func (c *CachePlant) evict() {
	for c.lru.Len() > c.capacity {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.index, el.Value.(uint64))
	}
}
