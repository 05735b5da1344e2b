package cache

import (
	"fmt"
	"time"
)

// Defaults of a Cache.
const (
	DefaultMaxEntries = 10_000
	DefaultMaxBytes   = 64 << 20
)

// NoExpiry, given to Set as the ttl, keeps the entry until it is
// evicted or deleted, whatever the cache's default TTL.
const NoExpiry time.Duration = -1

// Option configures a Cache made by New.
type Option func(*config) error

type config struct {
	maxEntries int
	maxBytes   int64
	policy     Policy
	ttl        time.Duration
	onEvict    any // func(string, V, Reason), checked by New
	sizer      any // func(V) int, checked by New
	now        func() time.Time
}

func defaultConfig() config {
	return config{maxEntries: DefaultMaxEntries, maxBytes: DefaultMaxBytes, policy: LRU, now: time.Now}
}

// WithMaxEntries bounds the number of entries (default
// DefaultMaxEntries). n must be at least 1.
func WithMaxEntries(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max entries %d", ErrBadOption, n)
		}
		c.maxEntries = n
		return nil
	}
}

// WithMaxBytes bounds the bytes the entries hold, as the cache counts
// them (see WithSizer), default DefaultMaxBytes. The bound is exact:
// the cache evicts before it stores, so its bytes never exceed n, and
// an entry larger than n is refused with ErrTooLarge.
func WithMaxBytes(n int64) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max bytes %d", ErrBadOption, n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithPolicy chooses the eviction policy (default LRU).
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		if p != LRU && p != TwoQueue && p != ARC {
			return fmt.Errorf("%w: %v", ErrBadOption, p)
		}
		c.policy = p
		return nil
	}
}

// WithTTL sets the time an entry lives when Set is given a ttl of 0
// (default: no expiry). d must be positive.
func WithTTL(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: ttl %v", ErrBadOption, d)
		}
		c.ttl = d
		return nil
	}
}

// WithOnEvict calls f for every entry that leaves the cache other than
// by being replaced: evicted for room, expired, or deleted, with the
// reason. f runs after the cache's lock is released, on the goroutine
// that caused the removal (the cache's expiry goroutine for expiries);
// it may call the cache. V must be the cache's value type, or New fails.
// Default: none.
func WithOnEvict[V any](f func(key string, value V, why Reason)) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: nil eviction callback", ErrBadOption)
		}
		c.onEvict = f
		return nil
	}
}

// WithSizer tells the cache how many bytes a value holds. An entry
// counts its key's length, the sizer's figure and EntryOverhead. The
// default sizer counts len of []byte and string values, and 0 for any
// other type. V must be the cache's value type, or New fails.
func WithSizer[V any](f func(V) int) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: nil sizer", ErrBadOption)
		}
		c.sizer = f
		return nil
	}
}

// WithClock replaces time.Now, for tests of expiry (default time.Now).
// Expiries still fire on real timers; a fake clock that runs ahead is
// seen at the next Get or expiry check.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: nil clock", ErrBadOption)
		}
		c.now = now
		return nil
	}
}
