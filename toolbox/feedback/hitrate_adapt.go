package feedback

import (
	"time"

	"github.com/gozmp/zmp/toolbox/cache"
)

// ResizableCache adapts a toolbox/cache Cache to a HitRateLoop: its Get
// and Lookup hits and misses are counted, and Resize sets its bound on
// entries, leaving its byte bound as it is (a cache the byte bound
// keeps below its entry bound is not full, and the loop does not grow
// it).
func ResizableCache[V any](c *cache.Cache[V]) Resizable { return cacheResizable[V]{c} }

type cacheResizable[V any] struct{ c *cache.Cache[V] }

func (a cacheResizable[V]) HitStats() HitCounts      { return countsOf(a.c.Stats()) }
func (a cacheResizable[V]) Resize(entries int) error { return a.c.Resize(entries, 0) }

func countsOf(s cache.Stats) HitCounts {
	return HitCounts{Hits: s.Hits, Misses: s.Misses, Entries: s.Entries, Capacity: s.MaxEntries}
}

// ResizableMemo adapts a toolbox/cache Memo: the memo's own lookups
// (MemoStats.MemoHits and MemoMisses, not the refreshes) are counted,
// and Resize sets its bound on entries, leaving its byte bound.
func ResizableMemo(m *cache.Memo) Resizable { return memoResizable{m} }

type memoResizable struct{ m *cache.Memo }

func (a memoResizable) HitStats() HitCounts {
	s := a.m.Stats()
	n := countsOf(s.Stats)
	n.Hits, n.Misses = s.MemoHits, s.MemoMisses
	return n
}

func (a memoResizable) Resize(entries int) error { return a.m.Resize(entries, 0) }

// ResizableServer adapts a toolbox/cache Server: its gets' hits and
// misses are counted, and Resize sets its bound on entries, leaving its
// byte bound; the evictions a shrink causes are published to replicas
// before Resize returns, so a loop on a server resizes from its Step.
func ResizableServer(s *cache.Server) Resizable { return serverResizable{s} }

type serverResizable struct{ s *cache.Server }

func (a serverResizable) HitStats() HitCounts {
	s := a.s.Stats()
	return HitCounts{Hits: s.Hits, Misses: s.Misses, Entries: s.Entries, Capacity: s.MaxEntries}
}

func (a serverResizable) Resize(entries int) error { return a.s.Resize(entries, 0) }

// ResizablePlant adapts the simulator's CachePlant: run the plant
// through its Step, which counts the window's reads, and a HitRateLoop
// reads the running counts. Build it with NewResizablePlant. Like the
// plant, it is not safe for concurrent use.
type ResizablePlant struct {
	p            *CachePlant
	hits, misses uint64
}

// NewResizablePlant wraps p, whose reads before now are not counted.
func NewResizablePlant(p *CachePlant) *ResizablePlant { return &ResizablePlant{p: p} }

// Step advances the plant by window (CachePlant.Step) and counts its
// hits and misses.
func (r *ResizablePlant) Step(window time.Duration) CacheStats {
	s := r.p.Step(window)
	r.hits += uint64(s.Hits)
	r.misses += uint64(s.Requests - s.Hits)
	return s
}

// HitStats returns the reads counted so far and the plant's entries and
// capacity now.
func (r *ResizablePlant) HitStats() HitCounts {
	return HitCounts{Hits: r.hits, Misses: r.misses, Entries: r.p.lru.Len(), Capacity: r.p.capacity}
}

// Resize sets the plant's capacity (CachePlant.SetCapacity).
func (r *ResizablePlant) Resize(entries int) error {
	r.p.SetCapacity(entries)
	return nil
}
