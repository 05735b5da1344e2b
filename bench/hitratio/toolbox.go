package hitratio

import (
	"fmt"

	"github.com/gozmp/zmp/toolbox/cache"
)

// NewToolbox returns the constructor of a toolbox/cache Cache with
// policy p, bounded by entries (WithMaxEntries). The byte bound is set
// far above what the entries can hold (an entry counts its key and
// cache.EntryOverhead), so only the entry bound evicts. Keys go through
// StringKeys, as toolbox/cache is keyed by string.
func NewToolbox(p cache.Policy) func(capacity int) (Policy, error) {
	return func(capacity int) (Policy, error) {
		c, err := cache.New[struct{}](cache.WithPolicy(p), cache.WithMaxEntries(capacity),
			cache.WithMaxBytes(int64(max(capacity, 1))*1024))
		if err != nil {
			return nil, fmt.Errorf("%w: toolbox/cache %v: %v", ErrParam, p, err)
		}
		return StringKeys(toolboxCache{c}), nil
	}
}

// toolboxCache is the StringCache view of a toolbox/cache Cache.
type toolboxCache struct{ c *cache.Cache[struct{}] }

func (t toolboxCache) Get(key string) bool {
	_, ok := t.c.Get(key)
	return ok
}

// Add stores key without expiry; Set fails only once the cache is
// closed, or for an entry larger than the byte bound, neither of which
// happens in a replay.
func (t toolboxCache) Add(key string) { _ = t.c.Set(key, struct{}{}, cache.NoExpiry) }

func (t toolboxCache) Close() { _ = t.c.Close() }
