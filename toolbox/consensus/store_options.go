package consensus

import (
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// Backend names the engine that holds a Store's raft log and stable
// store. Snapshots are files in both cases.
type Backend int

const (
	// BackendWAL keeps the log in github.com/hashicorp/raft-wal segment
	// files (one fsync per append batch) and the stable store in the
	// WAL's small bbolt metadata file.
	//
	// It is the default, on evidence: in BenchmarkStoreRaft (3 nodes
	// over raft's TCP transport on one loaded 2-core machine, 100-byte
	// applies, every write fsync'd) it did about twice the writes/s of
	// BackendBolt. With 64 clients: median 9.3 k/s against 4.3 k/s
	// (ranges 6.5–12.9 k and 3.3–7.0 k over 12 runs each, with and
	// without the log cache), p99 13–44 ms against 27–58 ms. With 1
	// client: median 0.9 k/s against 0.4 k/s. One fsync per batch,
	// against two fdatasyncs per bbolt commit, is the likely cause.
	// raft-wal calls itself experimental; choose BackendBolt for the
	// older, more widely deployed engine.
	BackendWAL Backend = iota + 1

	// BackendBolt keeps the log and the stable store in one bbolt file
	// through github.com/hashicorp/raft-boltdb/v2 (one fsync'd bbolt
	// transaction per append batch).
	BackendBolt
)

// DefaultBackend is the backend OpenStore uses without WithBackend.
// See BackendWAL for why.
const DefaultBackend = BackendWAL

// String returns "wal", "bolt", or "Backend(n)" for an unknown value.
func (b Backend) String() string {
	switch b {
	case BackendWAL:
		return "wal"
	case BackendBolt:
		return "bolt"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// Defaults of the store options.
const (
	// DefaultSnapshotRetain is how many snapshots a Store keeps.
	DefaultSnapshotRetain = 2
	// DefaultLogCache is how many recent log entries a Store caches in
	// memory in front of the backend: none. See WithLogCache.
	DefaultLogCache = 0
)

// errStoreOption is wrapped by every rejected store option.
var errStoreOption = errors.New("consensus: invalid store option")

// StoreOption configures OpenStore. An option that gets an invalid
// value makes OpenStore fail with an error.
type StoreOption func(*storeConfig) error

type storeConfig struct {
	backend  Backend
	retain   int
	logCache int
	logger   hclog.Logger
}

func defaultStoreConfig() storeConfig {
	return storeConfig{
		backend:  DefaultBackend,
		retain:   DefaultSnapshotRetain,
		logCache: DefaultLogCache,
		logger:   hclog.NewNullLogger(),
	}
}

// WithBackend chooses the log and stable store engine. Default
// DefaultBackend (BackendWAL); repeating it replaces the choice. A
// directory keeps the backend it was created with: opening it with the
// other one fails with ErrBackendMismatch.
func WithBackend(b Backend) StoreOption {
	return func(c *storeConfig) error {
		if b != BackendWAL && b != BackendBolt {
			return fmt.Errorf("%w: unknown backend %v", errStoreOption, b)
		}
		c.backend = b
		return nil
	}
}

// WithSnapshotRetain sets how many snapshots are kept on disk; older
// ones are deleted when a new one is written. Default
// DefaultSnapshotRetain (2); n must be at least 1; repeating it replaces
// the value.
func WithSnapshotRetain(n int) StoreOption {
	return func(c *storeConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: snapshot retain %d < 1", errStoreOption, n)
		}
		c.retain = n
		return nil
	}
}

// WithLogCache sets how many of the most recently stored log entries
// Log() keeps in memory (raft.NewLogCache), so that a leader sending
// fresh entries to followers does not read them back from the backend.
// Default DefaultLogCache (0: off); negative values are rejected;
// repeating it replaces the value.
//
// It is off by default because it did not pay in measurements: a cached
// read takes 16 ns against 3–5 µs from either backend
// (BenchmarkStoreGetLog), but with 512 entries BenchmarkStoreRaft showed
// no change in writes/s or latency beyond its ±30 % run-to-run noise,
// and the cache holds whole entries, so its memory is bounded by count
// only, not by bytes.
func WithLogCache(entries int) StoreOption {
	return func(c *storeConfig) error {
		if entries < 0 {
			return fmt.Errorf("%w: log cache %d < 0", errStoreOption, entries)
		}
		c.logCache = entries
		return nil
	}
}

// WithStoreLogger sets where the backend and the snapshot store log.
// Default: a logger that discards everything. nil is rejected;
// repeating it replaces the logger.
func WithStoreLogger(l hclog.Logger) StoreOption {
	return func(c *storeConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", errStoreOption)
		}
		c.logger = l
		return nil
	}
}
