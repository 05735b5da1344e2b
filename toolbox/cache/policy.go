package cache

import (
	"fmt"
	"math"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Policy chooses which entry a full cache evicts.
type Policy int

// The policies. Each keeps golang-lru's algorithm (its Cache,
// TwoQueueCache and ARCCache); zmp builds them from golang-lru's
// simplelru lists so that a cache can evict for bytes as well as for
// entries, and report every eviction.
const (
	// LRU evicts the entry used least recently.
	LRU Policy = iota + 1
	// TwoQueue (2Q) keeps entries used once apart from entries used
	// again, so a scan of one-time keys does not flush the frequent
	// ones. It remembers recently evicted keys (ghosts) to promote them
	// when they return.
	TwoQueue
	// ARC adapts between recency and frequency by watching which ghost
	// list misses come from. ARC is patented by IBM (see golang-lru's
	// arc package).
	ARC
)

func (p Policy) String() string {
	switch p {
	case LRU:
		return "lru"
	case TwoQueue:
		return "2q"
	case ARC:
		return "arc"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ParsePolicy reads a policy's name: "lru", "2q" or "arc".
func ParsePolicy(s string) (Policy, error) {
	for _, p := range []Policy{LRU, TwoQueue, ARC} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: policy %q (want lru, 2q or arc)", ErrBadOption, s)
}

// policy orders a cache's entries. The cache decides when to evict (it
// bounds entries and bytes) and asks the policy for a victim; the
// policy never drops a live entry on its own.
type policy[V any] interface {
	// get finds a live entry and records the access.
	get(key string) (*entry[V], bool)
	// touch records an update of a present entry, as golang-lru's Add
	// of a present key does.
	touch(e *entry[V])
	// admit prepares for inserting incoming, a key not in the cache,
	// before any victim is chosen for it (ARC adapts here).
	admit(incoming string)
	// victim removes and returns the entry to evict to make room for
	// incoming, a key not in the cache.
	victim(incoming string) (*entry[V], bool)
	// insert adds an entry whose key is not in the cache.
	insert(e *entry[V])
	// remove drops a key, and any ghost of it.
	remove(key string)
	// setCap tells the policy the cache's entry bound.
	setCap(n int)
}

// unbounded is the size given to simplelru lists the cache bounds itself.
const unbounded = math.MaxInt32

func newPolicy[V any](p Policy, n int) policy[V] {
	switch p {
	case TwoQueue:
		return newTwoQueue[V](n)
	case ARC:
		return newARC[V](n)
	}
	return newLRU[V]()
}

func mustLRU[K comparable, V any](size int) *simplelru.LRU[K, V] {
	l, err := simplelru.NewLRU[K, V](max(size, 1), nil)
	if err != nil { // only for size <= 0, excluded above
		panic(err)
	}
	return l
}

// lruPolicy is golang-lru's LRU.
type lruPolicy[V any] struct {
	l *simplelru.LRU[string, *entry[V]]
}

func newLRU[V any]() *lruPolicy[V] { return &lruPolicy[V]{l: mustLRU[string, *entry[V]](unbounded)} }

func (p *lruPolicy[V]) get(key string) (*entry[V], bool) { return p.l.Get(key) }
func (p *lruPolicy[V]) touch(e *entry[V])                { p.l.Get(e.key) }
func (p *lruPolicy[V]) insert(e *entry[V])               { p.l.Add(e.key, e) }
func (p *lruPolicy[V]) remove(key string)                { p.l.Remove(key) }
func (p *lruPolicy[V]) setCap(int)                       {}
func (p *lruPolicy[V]) admit(string)                     {}
func (p *lruPolicy[V]) victim(string) (*entry[V], bool) {
	_, e, ok := p.l.RemoveOldest()
	return e, ok
}
