package cache

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// EntryOverhead is what the cache counts for each entry beyond its key
// and value: its bookkeeping, roughly.
const EntryOverhead = 96

// Reason says why an entry left the cache.
type Reason int

// Reasons, as WithOnEvict reports them.
const (
	Evicted Reason = iota + 1 // for room: the entry or byte bound
	Expired                   // its TTL passed
	Deleted                   // Delete, DeletePrefix, Purge or an invalidation
)

func (r Reason) String() string {
	switch r {
	case Evicted:
		return "evicted"
	case Expired:
		return "expired"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Item is an entry as Lookup returns it.
type Item[V any] struct {
	Value   V
	Stored  time.Time // when it was set
	Expires time.Time // zero if it does not expire
}

type entry[V any] struct {
	key     string
	val     V
	size    int64
	stored  time.Time
	expires time.Time // zero: never
	hidx    int       // index in the expiry heap; -1 when not in it
}

// Cache is a local in-memory cache of values by string key, bounded by
// entries and by bytes, with an eviction policy (LRU, 2Q or ARC) and
// per-entry TTLs. It is safe for concurrent use. Values are stored as
// given: a cache of []byte keeps the caller's slice, which must not be
// modified afterwards, and Get returns that same slice.
//
// Close stops its expiry goroutine.
type Cache[V any] struct {
	cfg     config
	onEvict func(string, V, Reason)
	sizer   func(V) int

	mu         sync.Mutex
	entries    map[string]*entry[V]
	pol        policy[V]
	exp        expiryHeap[V]
	bytes      int64
	maxEntries int
	maxBytes   int64
	closed     bool
	st         counters

	kick chan struct{} // wakes the expiry goroutine: an earlier expiry
	done chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// New makes a cache. See the With options for the defaults.
func New[V any](opts ...Option) (*Cache[V], error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	c := &Cache[V]{
		cfg: cfg, entries: map[string]*entry[V]{}, pol: newPolicy[V](cfg.policy, cfg.maxEntries),
		maxEntries: cfg.maxEntries, maxBytes: cfg.maxBytes,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if cfg.onEvict != nil {
		f, ok := cfg.onEvict.(func(string, V, Reason))
		if !ok {
			return nil, fmt.Errorf("%w: WithOnEvict's value type is not the cache's", ErrBadOption)
		}
		c.onEvict = f
	}
	c.sizer = defaultSizer[V]
	if cfg.sizer != nil {
		f, ok := cfg.sizer.(func(V) int)
		if !ok {
			return nil, fmt.Errorf("%w: WithSizer's value type is not the cache's", ErrBadOption)
		}
		c.sizer = f
	}
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.expireLoop() }()
	return c, nil
}

func defaultSizer[V any](v V) int {
	switch x := any(v).(type) {
	case []byte:
		return len(x)
	case string:
		return len(x)
	}
	return 0
}

// gone is an entry that left, for the eviction callback.
type gone[V any] struct {
	key string
	val V
	why Reason
}

// notify runs the eviction callback, outside the lock.
func (c *Cache[V]) notify(out []gone[V]) {
	if c.onEvict == nil {
		return
	}
	for _, g := range out {
		c.onEvict(g.key, g.val, g.why)
	}
}

// Get returns the value of a live entry, and counts a hit or a miss.
func (c *Cache[V]) Get(key string) (V, bool) {
	it, ok := c.Lookup(key)
	return it.Value, ok
}

// Lookup is Get with the entry's times.
func (c *Cache[V]) Lookup(key string) (Item[V], bool) {
	c.mu.Lock()
	e, ok := c.pol.get(key)
	if ok && c.expired(e, c.cfg.now()) {
		out := []gone[V]{c.drop(e, Expired)}
		c.st.misses++
		c.mu.Unlock()
		c.notify(out)
		return Item[V]{}, false
	}
	if !ok {
		c.st.misses++
		c.mu.Unlock()
		return Item[V]{}, false
	}
	c.st.hits++
	it := Item[V]{Value: e.val, Stored: e.stored, Expires: e.expires}
	c.mu.Unlock()
	return it, true
}

// hitBytes is Lookup of a live entry by a key held in bytes, without
// making a string of it (a map index by string(kb) does not allocate).
// It counts hits only: a caller that misses goes on to Lookup.
func (c *Cache[V]) hitBytes(kb []byte) (Item[V], bool) {
	c.mu.Lock()
	e, ok := c.entries[string(kb)]
	if !ok || c.expired(e, c.cfg.now()) {
		c.mu.Unlock()
		return Item[V]{}, false
	}
	c.pol.touch(e)
	c.st.hits++
	it := Item[V]{Value: e.val, Stored: e.stored, Expires: e.expires}
	c.mu.Unlock()
	return it, true
}

// Peek is Lookup without counting, or telling the policy of, the access.
func (c *Cache[V]) Peek(key string) (Item[V], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || c.expired(e, c.cfg.now()) {
		return Item[V]{}, false
	}
	return Item[V]{Value: e.val, Stored: e.stored, Expires: e.expires}, true
}

func (c *Cache[V]) expired(e *entry[V], now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// Set stores value under key for ttl: ttl > 0 is the entry's time to
// live, 0 takes the cache's (WithTTL; none by default), NoExpiry none.
// It evicts entries, as the policy chooses, until the new one fits.
// It returns ErrTooLarge for an entry above the byte bound, and
// ErrClosed after Close.
func (c *Cache[V]) Set(key string, value V, ttl time.Duration) error {
	out, err := c.setQuiet(key, value, ttl)
	c.notify(out)
	return err
}

// set stores an entry; the caller holds the lock and has checked size.
func (c *Cache[V]) set(key string, value V, size int64, now, expires time.Time) []gone[V] {
	var out []gone[V]
	e, ok := c.entries[key]
	if ok {
		c.bytes += size - e.size
		e.val, e.size, e.stored = value, size, now
		c.pol.touch(e)
		c.setExpiry(e, expires)
		return c.shrink(out, key)
	}
	e = &entry[V]{key: key, val: value, size: size, stored: now, hidx: -1}
	c.pol.admit(key)
	for len(c.entries) >= c.maxEntries || c.bytes+size > c.maxBytes {
		v, ok := c.pol.victim(key)
		if !ok {
			break
		}
		out = append(out, c.forget(v, Evicted))
	}
	c.entries[key] = e
	c.bytes += size
	c.pol.insert(e)
	c.setExpiry(e, expires)
	return out
}

// shrink evicts until the bounds hold, after an update or a resize.
func (c *Cache[V]) shrink(out []gone[V], incoming string) []gone[V] {
	for len(c.entries) > c.maxEntries || c.bytes > c.maxBytes {
		v, ok := c.pol.victim(incoming)
		if !ok {
			break
		}
		out = append(out, c.forget(v, Evicted))
	}
	return out
}

// drop removes a live entry from the policy and the cache.
func (c *Cache[V]) drop(e *entry[V], why Reason) gone[V] {
	c.pol.remove(e.key)
	return c.forget(e, why)
}

// forget removes an entry the policy no longer holds.
func (c *Cache[V]) forget(e *entry[V], why Reason) gone[V] {
	delete(c.entries, e.key)
	c.bytes -= e.size
	c.exp.remove(e)
	switch why {
	case Evicted:
		c.st.evictions++
	case Expired:
		c.st.expirations++
	case Deleted:
		c.st.deletes++
	}
	return gone[V]{key: e.key, val: e.val, why: why}
}

// Delete removes key, reporting whether it was there (expired or not).
func (c *Cache[V]) Delete(key string) bool {
	c.mu.Lock()
	e, ok := c.entries[key]
	var out []gone[V]
	if ok {
		out = append(out, c.drop(e, Deleted))
	}
	c.mu.Unlock()
	c.notify(out)
	return ok
}

// DeletePrefix removes every key that begins with prefix and returns
// how many there were. It reads every key: O(entries).
func (c *Cache[V]) DeletePrefix(prefix string) int {
	c.mu.Lock()
	var out []gone[V]
	for k, e := range c.entries {
		if strings.HasPrefix(k, prefix) {
			out = append(out, c.drop(e, Deleted))
		}
	}
	c.mu.Unlock()
	c.notify(out)
	return len(out)
}

// Purge removes every entry.
func (c *Cache[V]) Purge() { c.DeletePrefix("") }

// Keys returns the keys of the live entries, in no order.
func (c *Cache[V]) Keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.now()
	keys := make([]string, 0, len(c.entries))
	for k, e := range c.entries {
		if !c.expired(e, now) {
			keys = append(keys, k)
		}
	}
	return keys
}

// Len returns the number of entries, counting expired ones not yet
// removed.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Bytes returns the bytes the entries hold, as the cache counts them.
func (c *Cache[V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Resize changes the bounds at run time, as a feedback loop may: 0
// leaves a bound as it is. Shrinking evicts at once, as the policy
// chooses.
func (c *Cache[V]) Resize(maxEntries int, maxBytes int64) error {
	if maxEntries < 0 || maxBytes < 0 {
		return fmt.Errorf("%w: resize to %d entries, %d bytes", ErrBadOption, maxEntries, maxBytes)
	}
	c.mu.Lock()
	if maxEntries > 0 {
		c.maxEntries = maxEntries
		c.pol.setCap(maxEntries)
	}
	if maxBytes > 0 {
		c.maxBytes = maxBytes
	}
	out := c.shrink(nil, "")
	c.mu.Unlock()
	c.notify(out)
	return nil
}

// Close stops the expiry goroutine and waits for it. The entries stay
// readable; Set fails with ErrClosed. Close is idempotent.
func (c *Cache[V]) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// setQuiet is Set that returns the eviction notices instead of
// delivering them, for a caller that holds a lock of its own: it must
// call notify with them once it has let go.
func (c *Cache[V]) setQuiet(key string, value V, ttl time.Duration) ([]gone[V], error) {
	size := int64(len(key)+c.sizer(value)) + EntryOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if size > c.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, the bound is %d", ErrTooLarge, size, c.maxBytes)
	}
	now := c.cfg.now()
	var expires time.Time
	switch {
	case ttl > 0:
		expires = now.Add(ttl)
	case ttl == 0 && c.cfg.ttl > 0:
		expires = now.Add(c.cfg.ttl)
	}
	c.st.sets++
	return c.set(key, value, size, now, expires), nil
}
