package cache

import (
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// Defaults of a Memo.
const (
	DefaultMemoTTL        = time.Minute
	DefaultMemoMaxEntries = 10_000
	DefaultMemoMaxBytes   = 32 << 20
)

// KeyInfo is what a memo's key function sees of a call.
type KeyInfo struct {
	Service string
	Body    []byte        // the request's body: read it, do not keep or modify it
	Meta    core.Metadata // the request's metadata; nil for none
	// User is who the caller authenticated as (core.Request.User), on
	// the server side of a secured peer; "" on the calling side.
	User string
}

// MemoOption configures a Memo made by NewMemo.
type MemoOption func(*memoConfig) error

type memoConfig struct {
	name       string
	ttl        time.Duration
	maxEntries int
	maxBytes   int64
	policy     Policy
	services   map[string]bool // nil: every service
	key        func(KeyInfo) (string, bool)
	defaultKey bool // key is DefaultKey: hits may look up without a string
	errCodes   map[core.Code]bool
	errTTL     time.Duration
	refresh    float64 // refresh ahead once an entry is this far into its TTL; 0 never
	onEvict    func(key string, why Reason)
	topic      string
}

func defaultMemoConfig() memoConfig {
	return memoConfig{
		name: "memo", ttl: DefaultMemoTTL, maxEntries: DefaultMemoMaxEntries, maxBytes: DefaultMemoMaxBytes,
		policy: LRU, key: DefaultKey, defaultKey: true, topic: DefaultInvalidationTopic,
	}
}

// DefaultKey is a memo's default key: the service and the body, as
// ServiceKey makes it. It ignores metadata and the caller's identity:
// on a server whose replies depend on who calls, give MemoKey a key
// that includes KeyInfo.User.
func DefaultKey(k KeyInfo) (string, bool) { return ServiceKey(k.Service, k.Body), true }

// ServiceKey is the key DefaultKey gives a call of service with body:
// the service's name, a zero byte, the body.
func ServiceKey(service string, body []byte) string {
	var b strings.Builder
	b.Grow(len(service) + 1 + len(body))
	b.WriteString(service)
	b.WriteByte(0)
	b.Write(body)
	return b.String()
}

// ServicePrefix begins every key DefaultKey gives the calls of
// service: invalidate it to drop them all.
func ServicePrefix(service string) string { return service + "\x00" }

// MemoName names the memo in zmp.stats, as "cache.memo.<name>"
// (default "memo").
func MemoName(name string) MemoOption {
	return func(c *memoConfig) error {
		if name == "" {
			return fmt.Errorf("%w: empty memo name", ErrBadOption)
		}
		c.name = name
		return nil
	}
}

// MemoTTL is how long a reply is served from the cache (default
// DefaultMemoTTL). A reply's own cache-control max-age, when shorter,
// wins (see Memo).
func MemoTTL(d time.Duration) MemoOption {
	return func(c *memoConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: memo ttl %v", ErrBadOption, d)
		}
		c.ttl = d
		return nil
	}
}

// MemoBounds bounds the cached replies by count and by bytes (defaults
// DefaultMemoMaxEntries, DefaultMemoMaxBytes); the byte bound is exact,
// as WithMaxBytes's.
func MemoBounds(entries int, bytes int64) MemoOption {
	return func(c *memoConfig) error {
		if entries < 1 || bytes < 1 {
			return fmt.Errorf("%w: memo bounds %d entries, %d bytes", ErrBadOption, entries, bytes)
		}
		c.maxEntries, c.maxBytes = entries, bytes
		return nil
	}
}

// MemoPolicy chooses the eviction policy (default LRU).
func MemoPolicy(p Policy) MemoOption {
	return func(c *memoConfig) error {
		if p != LRU && p != TwoQueue && p != ARC {
			return fmt.Errorf("%w: %v", ErrBadOption, p)
		}
		c.policy = p
		return nil
	}
}

// MemoServices limits memoization to the services named; repeating it
// adds to them. Default: every service the memo's interceptor sees
// (zmp.* introspection is never intercepted). Only memoize services
// whose replies depend on nothing but the request.
func MemoServices(names ...string) MemoOption {
	return func(c *memoConfig) error {
		if len(names) == 0 {
			return fmt.Errorf("%w: MemoServices without a name", ErrBadOption)
		}
		if c.services == nil {
			c.services = map[string]bool{}
		}
		for _, n := range names {
			c.services[n] = true
		}
		return nil
	}
}

// MemoKey replaces DefaultKey: f returns a call's key, or false to
// leave the call alone.
func MemoKey(f func(KeyInfo) (key string, ok bool)) MemoOption {
	return func(c *memoConfig) error {
		if f == nil {
			return fmt.Errorf("%w: nil key function", ErrBadOption)
		}
		c.key, c.defaultKey = f, false
		return nil
	}
}

// MemoErrors caches remote errors with the codes given, for ttl
// (default: errors are not cached). Repeating it adds codes; the last
// ttl applies.
func MemoErrors(ttl time.Duration, codes ...core.Code) MemoOption {
	return func(c *memoConfig) error {
		if ttl <= 0 || len(codes) == 0 {
			return fmt.Errorf("%w: MemoErrors(%v, %v)", ErrBadOption, ttl, codes)
		}
		if c.errCodes == nil {
			c.errCodes = map[core.Code]bool{}
		}
		for _, code := range codes {
			c.errCodes[code] = true
		}
		c.errTTL = ttl
		return nil
	}
}

// MemoRefreshAhead refreshes a reply in the background once a hit finds
// it past fraction of its TTL (0 < fraction < 1), so that hot keys do
// not all miss at once when they expire: the hit is served from the
// cache, and one refresh per key runs (default: no refresh ahead).
func MemoRefreshAhead(fraction float64) MemoOption {
	return func(c *memoConfig) error {
		if !(fraction > 0 && fraction < 1) {
			return fmt.Errorf("%w: refresh-ahead fraction %v", ErrBadOption, fraction)
		}
		c.refresh = fraction
		return nil
	}
}

// MemoOnEvict calls f for each reply that leaves the cache other than
// by replacement: evicted, expired or invalidated (see WithOnEvict).
func MemoOnEvict(f func(key string, why Reason)) MemoOption {
	return func(c *memoConfig) error {
		if f == nil {
			return fmt.Errorf("%w: nil eviction callback", ErrBadOption)
		}
		c.onEvict = f
		return nil
	}
}

// MemoInvalidations sets the topic Attach subscribes to for
// invalidations (default DefaultInvalidationTopic); "" subscribes to
// none.
func MemoInvalidations(topic string) MemoOption {
	return func(c *memoConfig) error {
		c.topic = topic
		return nil
	}
}
