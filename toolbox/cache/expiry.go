package cache

import (
	"container/heap"
	"time"
)

// expiryHeap orders the entries that expire, soonest first.
type expiryHeap[V any] []*entry[V]

func (h expiryHeap[V]) Len() int           { return len(h) }
func (h expiryHeap[V]) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap[V]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}
func (h *expiryHeap[V]) Push(x any) {
	e := x.(*entry[V])
	e.hidx = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap[V]) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.hidx = -1
	return e
}

func (h *expiryHeap[V]) remove(e *entry[V]) {
	if e.hidx >= 0 {
		heap.Remove(h, e.hidx)
	}
}

// setExpiry (re)places an entry in the heap; the caller holds the lock.
// It wakes the expiry goroutine when the entry is now the soonest.
func (c *Cache[V]) setExpiry(e *entry[V], expires time.Time) {
	e.expires = expires
	switch {
	case expires.IsZero():
		c.exp.remove(e)
		return
	case e.hidx >= 0:
		heap.Fix(&c.exp, e.hidx)
	default:
		heap.Push(&c.exp, e)
	}
	if c.exp[0] == e {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// expireLoop removes entries as their TTLs pass, so that the eviction
// callback reports expiries without waiting for a Get.
func (c *Cache[V]) expireLoop() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		wait := c.expire()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
		select {
		case <-c.done:
			return
		case <-c.kick:
		case <-t.C:
		}
	}
}

// maxExpiryBatch bounds the entries one pass removes under the lock, so
// that a mass expiry does not stall the cache's users.
const maxExpiryBatch = 1024

// expire removes the entries whose TTL passed and returns how long to
// wait for the next one.
func (c *Cache[V]) expire() time.Duration {
	c.mu.Lock()
	now := c.cfg.now()
	var out []gone[V]
	for len(c.exp) > 0 && !now.Before(c.exp[0].expires) && len(out) < maxExpiryBatch {
		out = append(out, c.drop(c.exp[0], Expired))
	}
	wait := time.Hour
	switch {
	case len(out) == maxExpiryBatch:
		wait = 0
	case len(c.exp) > 0:
		wait = max(c.exp[0].expires.Sub(now), time.Millisecond)
	}
	c.mu.Unlock()
	c.notify(out)
	return wait
}
