package cache

import "time"

// keyedItem is a live entry with its key, as liveItems returns it.
type keyedItem[V any] struct {
	key string
	Item[V]
}

// liveItems returns every live entry at one instant, under the cache's
// lock, in no order, without counting accesses or telling the policy.
// A cache server builds its snapshots with it.
func (c *Cache[V]) liveItems() []keyedItem[V] {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.now()
	out := make([]keyedItem[V], 0, len(c.entries))
	for k, e := range c.entries {
		if !c.expired(e, now) {
			out = append(out, keyedItem[V]{key: k, Item: Item[V]{Value: e.val, Stored: e.stored, Expires: e.expires}})
		}
	}
	return out
}

// untilExpiry returns the time an item has left, at least 1 ms, or 0
// when it does not expire.
func untilExpiry(expires time.Time) time.Duration {
	if expires.IsZero() {
		return 0
	}
	return max(time.Until(expires), time.Millisecond)
}
