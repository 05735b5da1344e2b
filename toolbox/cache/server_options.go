package cache

import (
	"fmt"
	"time"
)

// Defaults of a Server.
const (
	DefaultServerHeartbeat    = time.Second
	DefaultServerMaxValueSize = 1 << 20 // 1 MiB
)

// maxServerValueSize bounds WithServerMaxValueSize: a value and its
// update must fit in one message of a peer's default maximum size.
const maxServerValueSize = 16<<20 - 64<<10

// ServerOption configures a Server made by NewServer. Giving an option
// twice keeps the last value.
type ServerOption func(*serverConfig) error

type serverConfig struct {
	maxEntries int
	maxBytes   int64
	policy     Policy
	defaultTTL time.Duration // 0: none
	maxTTL     time.Duration // 0: no cap
	heartbeat  time.Duration
	maxValue   int
}

func defaultServerConfig() serverConfig {
	return serverConfig{
		maxEntries: DefaultMaxEntries, maxBytes: DefaultMaxBytes, policy: LRU,
		heartbeat: DefaultServerHeartbeat, maxValue: DefaultServerMaxValueSize,
	}
}

// WithServerMaxEntries bounds the entries the server holds (default
// DefaultMaxEntries); past it the policy evicts, and each eviction is
// published as a delete with reason Evicted. n must be at least 1.
func WithServerMaxEntries(n int) ServerOption {
	return func(c *serverConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: server max entries %d", ErrBadOption, n)
		}
		c.maxEntries = n
		return nil
	}
}

// WithServerMaxBytes bounds the bytes the entries hold, counted as a
// Cache counts them (key, value, 8 bytes of version and EntryOverhead
// per entry); default DefaultMaxBytes. n must be at least 1.
func WithServerMaxBytes(n int64) ServerOption {
	return func(c *serverConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: server max bytes %d", ErrBadOption, n)
		}
		c.maxBytes = n
		return nil
	}
}

// WithServerPolicy chooses the eviction policy (default LRU).
func WithServerPolicy(p Policy) ServerOption {
	return func(c *serverConfig) error {
		if p != LRU && p != TwoQueue && p != ARC {
			return fmt.Errorf("%w: %v", ErrBadOption, p)
		}
		c.policy = p
		return nil
	}
}

// WithServerDefaultTTL sets the TTL of entries set with a ttl of 0
// (default: none, they live until evicted or deleted). d must be
// positive.
func WithServerDefaultTTL(d time.Duration) ServerOption {
	return func(c *serverConfig) error {
		if d <= 0 || d > maxWireTTL {
			return fmt.Errorf("%w: server default ttl %v", ErrBadOption, d)
		}
		c.defaultTTL = d
		return nil
	}
}

// WithServerMaxTTL caps every entry's TTL at d, entries set without
// expiry included (default: no cap). d must be positive.
func WithServerMaxTTL(d time.Duration) ServerOption {
	return func(c *serverConfig) error {
		if d <= 0 || d > maxWireTTL {
			return fmt.Errorf("%w: server max ttl %v", ErrBadOption, d)
		}
		c.maxTTL = d
		return nil
	}
}

// WithServerHeartbeat sets how often the server publishes a heartbeat
// on its update topic, which lets replicas see that it lives and that
// they missed nothing (default DefaultServerHeartbeat, 1 s). d must be
// at least 1 ms.
func WithServerHeartbeat(d time.Duration) ServerOption {
	return func(c *serverConfig) error {
		if d < time.Millisecond {
			return fmt.Errorf("%w: server heartbeat %v", ErrBadOption, d)
		}
		c.heartbeat = d
		return nil
	}
}

// WithServerMaxValueSize refuses values larger than n bytes with
// CodeValueTooLarge (default DefaultServerMaxValueSize, 1 MiB). n must
// be between 1 and 16 MiB less 64 KiB, so that a value's update fits in
// one message of a peer's default maximum message size; a peer with a
// smaller WithMaxMessageSize needs a smaller bound.
func WithServerMaxValueSize(n int) ServerOption {
	return func(c *serverConfig) error {
		if n < 1 || n > maxServerValueSize {
			return fmt.Errorf("%w: server max value size %d", ErrBadOption, n)
		}
		c.maxValue = n
		return nil
	}
}

// effectiveTTL is the TTL an entry gets for a request's ttl: 0 takes the
// default, NoExpiry none, and the cap applies. It returns 0 for none.
func (c serverConfig) effectiveTTL(ttl time.Duration) time.Duration {
	switch {
	case ttl == 0:
		ttl = c.defaultTTL
	case ttl < 0:
		ttl = 0
	}
	if c.maxTTL > 0 && (ttl == 0 || ttl > c.maxTTL) {
		ttl = c.maxTTL
	}
	return ttl
}
