package cache

import (
	"fmt"
	"time"
)

// Defaults of a Replica.
const (
	// DefaultReplicaQueue is the subscription queue of a replica's
	// updates (WithSubscriptionQueue).
	DefaultReplicaQueue = 4096
	// DefaultReplicaMaxValue bounds the values a replica accepts
	// (WithMaxValue): core's default maximum message size, so that by
	// default every value a server can publish is accepted.
	DefaultReplicaMaxValue = 16 << 20
	// DefaultReplicaMaxSnapshot bounds the bytes of one snapshot
	// (WithMaxSnapshot).
	DefaultReplicaMaxSnapshot = 1 << 30
	// DefaultReplicaMaxEntries and DefaultReplicaMaxBytes bound the
	// replica's local store (WithStore): generous, as a replica is
	// meant to hold all of its server's contents.
	DefaultReplicaMaxEntries = 1 << 20
	DefaultReplicaMaxBytes   = 1 << 30
	// DefaultReplicaSyncBuffer and DefaultReplicaSyncBufferBytes bound
	// the updates held while a snapshot downloads (WithSyncBuffer).
	DefaultReplicaSyncBuffer      = 1 << 16
	DefaultReplicaSyncBufferBytes = 64 << 20
	// DefaultSnapshotTimeout bounds one snapshot's download
	// (WithSnapshotTimeout).
	DefaultSnapshotTimeout = 30 * time.Second
	// DefaultResyncMin and DefaultResyncMax are the bounds of the pause
	// between synchronisations (WithResyncBackoff).
	DefaultResyncMin = 50 * time.Millisecond
	DefaultResyncMax = 5 * time.Second
	// defaultDeadHeartbeats is how many heartbeat intervals of silence
	// make a server dead when WithDeadAfter is not given.
	defaultDeadHeartbeats = 3
	// defaultDeadAfter applies before any heartbeat told the interval.
	defaultDeadAfter = 3 * time.Second
)

// ReplicaOption configures a Replica made by NewReplica. Each may be
// given once; a later one replaces an earlier one.
type ReplicaOption func(*replicaConfig) error

type replicaConfig struct {
	queue        int
	deadAfter    time.Duration // 0: 3 × the server's heartbeat interval
	maxValue     int
	maxSnapshot  int64
	bufCount     int
	bufBytes     int64
	snapTimeout  time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	storeOpts    []Option
	onChange     func(key string, deleted bool)
	hooks        replicaHooks
	tickInterval time.Duration
}

// replicaHooks are test seams: drop sees every decoded update before
// it is used and may drop it; beforeApply runs before a live update is
// applied (a slow replica).
type replicaHooks struct {
	drop        func(update) bool
	beforeApply func(update)
}

func defaultReplicaConfig() replicaConfig {
	return replicaConfig{
		queue: DefaultReplicaQueue, maxValue: DefaultReplicaMaxValue,
		maxSnapshot: DefaultReplicaMaxSnapshot,
		bufCount:    DefaultReplicaSyncBuffer, bufBytes: DefaultReplicaSyncBufferBytes,
		snapTimeout: DefaultSnapshotTimeout,
		backoffMin:  DefaultResyncMin, backoffMax: DefaultResyncMax,
		tickInterval: 20 * time.Millisecond,
	}
}

// WithSubscriptionQueue bounds the queue of updates received and not
// yet applied (default DefaultReplicaQueue). When it is full, updates
// are dropped, counted, and the replica resynchronises. n must be at
// least 1.
func WithSubscriptionQueue(n int) ReplicaOption {
	return func(c *replicaConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: subscription queue %d", ErrBadOption, n)
		}
		c.queue = n
		return nil
	}
}

// WithDeadAfter sets how long the server may be silent (no update, no
// heartbeat) before the replica's state turns ReplicaStale. Default: 3
// times the heartbeat interval the server announces, 3 s until a
// heartbeat has been heard. d must be positive.
func WithDeadAfter(d time.Duration) ReplicaOption {
	return func(c *replicaConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: dead after %v", ErrBadOption, d)
		}
		c.deadAfter = d
		return nil
	}
}

// WithMaxValue bounds the size of a value the replica accepts, in an
// update or a snapshot (default DefaultReplicaMaxValue). A larger
// value is a malformed update or snapshot: counted, and followed by a
// resynchronisation, so keep it at least the server's own bound. n must
// be at least 1.
func WithMaxValue(n int) ReplicaOption {
	return func(c *replicaConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: max value %d", ErrBadOption, n)
		}
		c.maxValue = n
		return nil
	}
}

// WithMaxSnapshot bounds the bytes of one snapshot (default
// DefaultReplicaMaxSnapshot); a larger one is abandoned and counted
// as malformed. n must be at least 28 (a snapshot's header).
func WithMaxSnapshot(n int64) ReplicaOption {
	return func(c *replicaConfig) error {
		if n < 28 {
			return fmt.Errorf("%w: max snapshot %d", ErrBadOption, n)
		}
		c.maxSnapshot = n
		return nil
	}
}

// WithSyncBuffer bounds the updates held, by count and by bytes, while
// a snapshot downloads (defaults DefaultReplicaSyncBuffer and
// DefaultReplicaSyncBufferBytes). When either is exceeded the
// synchronisation starts again. Both must be at least 1.
func WithSyncBuffer(n int, bytes int64) ReplicaOption {
	return func(c *replicaConfig) error {
		if n < 1 || bytes < 1 {
			return fmt.Errorf("%w: sync buffer %d updates, %d bytes", ErrBadOption, n, bytes)
		}
		c.bufCount, c.bufBytes = n, bytes
		return nil
	}
}

// WithSnapshotTimeout bounds one snapshot's download, from the open to
// its last byte (default DefaultSnapshotTimeout): a server that never
// ends its snapshot cannot hold the replica. d must be positive.
func WithSnapshotTimeout(d time.Duration) ReplicaOption {
	return func(c *replicaConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: snapshot timeout %v", ErrBadOption, d)
		}
		c.snapTimeout = d
		return nil
	}
}

// WithResyncBackoff bounds the pause between two synchronisations
// (defaults DefaultResyncMin, DefaultResyncMax). The pause doubles after
// each failed one and halves after each success, so that a server that
// fails or a replica that keeps losing updates is not asked for a
// snapshot in a loop. 0 < min <= max.
func WithResyncBackoff(min, max time.Duration) ReplicaOption {
	return func(c *replicaConfig) error {
		if min <= 0 || max < min {
			return fmt.Errorf("%w: resync backoff %v..%v", ErrBadOption, min, max)
		}
		c.backoffMin, c.backoffMax = min, max
		return nil
	}
}

// WithStore configures the replica's local store, a Cache: only
// WithMaxEntries, WithMaxBytes, WithPolicy and WithClock apply
// (defaults DefaultReplicaMaxEntries, DefaultReplicaMaxBytes, LRU,
// time.Now); WithTTL, WithOnEvict and WithSizer are refused. A store too small for the server's contents evicts, as its
// policy chooses: the replica then holds a part of them (a miss no
// longer means the server lacks the key), and Status counts the
// evictions. Repeating WithStore replaces the earlier options.
func WithStore(opts ...Option) ReplicaOption {
	return func(c *replicaConfig) error {
		probe := defaultConfig()
		for _, o := range opts {
			if o == nil {
				return fmt.Errorf("%w: nil store option", ErrBadOption)
			}
			if err := o(&probe); err != nil {
				return err
			}
		}
		if probe.ttl != 0 || probe.onEvict != nil || probe.sizer != nil {
			return fmt.Errorf("%w: WithTTL, WithOnEvict and WithSizer do not apply to a replica's store", ErrBadOption)
		}
		c.storeOpts = append([]Option(nil), opts...)
		return nil
	}
}

// WithOnChange calls f after each change of the replica's contents:
// key was set (deleted false), or deleted, expired or evicted (deleted
// true); after a resynchronisation, for each key that differs from
// the copy held before. f runs outside the replica's locks, never
// concurrently with itself, on the goroutine that applies updates or
// the store's expiry goroutine; it may read the replica. It must be
// quick: while it runs no update is applied, and a backlog beyond the
// subscription queue is dropped and repaired by a resynchronisation.
// Default: none.
func WithOnChange(f func(key string, deleted bool)) ReplicaOption {
	return func(c *replicaConfig) error {
		if f == nil {
			return fmt.Errorf("%w: nil change callback", ErrBadOption)
		}
		c.onChange = f
		return nil
	}
}

// withHooks installs test seams.
func withHooks(h replicaHooks) ReplicaOption {
	return func(c *replicaConfig) error { c.hooks = h; return nil }
}
