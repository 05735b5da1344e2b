package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"go.etcd.io/bbolt"
)

// Store sentinel errors.
var (
	// ErrStoreLocked is returned by OpenStore when another Store, in this
	// process or another live one, holds the directory.
	ErrStoreLocked = errors.New("consensus: store directory is in use")

	// ErrBackendMismatch is returned by OpenStore when the directory
	// holds data of a backend other than the one asked for.
	ErrBackendMismatch = errors.New("consensus: store directory holds another backend's data")
)

// Names inside a store directory. See Store for the layout.
const (
	storeLockName = "LOCK"
	storeWALDir   = "wal"
	storeBoltName = "raft.db"
)

// storeDirMode and storeFileMode are the permissions of what OpenStore
// creates: the data is the replicated state, readable by its owner only.
const (
	storeDirMode  = 0o700
	storeFileMode = 0o600
)

// Store is a node's durable raft state in one directory: the log, the
// stable store (current term, vote) and the snapshots. Pass Log(),
// Stable() and Snapshots() to raft.NewRaft; a node restarted on the same
// directory gets its data back.
//
// Every acknowledged write is on disk: a StoreLogs, Set or SetUint64 that
// returned nil has been fsync'd by the backend (raft-wal:
// segment/writer.go, Writer.Append → appendCommit → sync → os.File.Sync;
// stable keys and segment metadata through bbolt's Tx.Commit, which
// fdatasyncs in tx.write and tx.writeMeta. raft-boltdb/v2: StoreLogs, Set
// and DeleteRange each end in a bbolt Tx.Commit, with NoSync left false).
// A snapshot is durable once its sink's Close returned nil
// (raft.FileSnapshotSink.Close fsyncs state.bin, meta.json and the parent
// directory after the rename).
//
// # Layout
//
//	dir/
//	  LOCK         empty; held with flock(LOCK_EX) while the Store is open
//	  wal/         BackendWAL: raft-wal segment files (*.wal) and
//	               wal-meta.db (bbolt: segment list and stable keys)
//	  raft.db      BackendBolt: bbolt file with the log and stable keys
//	  snapshots/   raft.FileSnapshotStore: <term>-<index>-<ms>/ holding
//	               meta.json and state.bin; the newest few are kept
//
// # Lifecycle
//
// OpenStore locks the directory; Close releases it. Stop the raft node
// (raft.Raft.Shutdown) before closing its Store. The lock is a flock, so
// the kernel releases it if the process dies.
type Store struct {
	dir     string
	backend Backend
	lock    *os.File
	log     raft.LogStore
	stable  raft.StableStore
	snaps   *raft.FileSnapshotStore
	engine  io.Closer

	closeOnce sync.Once
	closeErr  error
}

// OpenStore opens the store in dir, creating the directory and an empty
// store if needed. It fails with ErrStoreLocked if another open Store
// holds dir, and with ErrBackendMismatch if dir was created with the
// other backend.
func OpenStore(dir string, opts ...StoreOption) (*Store, error) {
	cfg := defaultStoreConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, storeDirMode); err != nil {
		return nil, fmt.Errorf("consensus: store directory: %w", err)
	}
	lock, err := stLockDir(filepath.Join(dir, storeLockName))
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, backend: cfg.backend, lock: lock}
	if err := s.open(cfg); err != nil {
		s.releaseLock()
		return nil, err
	}
	return s, nil
}

// open opens the backend and the snapshot store, with the lock held.
func (s *Store) open(cfg storeConfig) error {
	if err := stCheckBackend(s.dir, cfg.backend); err != nil {
		return err
	}
	var logs raft.LogStore
	switch cfg.backend {
	case BackendWAL:
		w, err := stOpenWAL(filepath.Join(s.dir, storeWALDir), cfg)
		if err != nil {
			return err
		}
		logs, s.stable, s.engine = w, w, w
	case BackendBolt:
		b, err := stOpenBolt(filepath.Join(s.dir, storeBoltName))
		if err != nil {
			return err
		}
		logs, s.stable, s.engine = b, b, b
	}
	s.log = logs
	if cfg.logCache > 0 {
		c, err := raft.NewLogCache(cfg.logCache, logs)
		if err != nil {
			s.engine.Close()
			return fmt.Errorf("consensus: log cache: %w", err)
		}
		s.log = c
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.dir, cfg.retain, cfg.logger.Named("snapshots"))
	if err != nil {
		s.engine.Close()
		return fmt.Errorf("consensus: snapshot store: %w", err)
	}
	s.snaps = snaps
	return nil
}

// stCheckBackend refuses a directory that holds the other backend's files.
func stCheckBackend(dir string, b Backend) error {
	other := storeBoltName
	if b == BackendBolt {
		other = storeWALDir
	}
	_, err := os.Stat(filepath.Join(dir, other))
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s exists, asked for %v", ErrBackendMismatch, other, b)
	case errors.Is(err, os.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("consensus: store directory: %w", err)
	}
}

func stOpenWAL(dir string, cfg storeConfig) (*wal.WAL, error) {
	if err := os.MkdirAll(dir, storeDirMode); err != nil {
		return nil, fmt.Errorf("consensus: wal directory: %w", err)
	}
	w, err := wal.Open(dir, wal.WithLogger(cfg.logger.Named("wal")))
	if err != nil {
		return nil, fmt.Errorf("consensus: open wal: %w", err)
	}
	return w, nil
}

// stBoltTimeout bounds bbolt's own flock wait; our LOCK is already held,
// so only a foreign process opening raft.db directly can make it wait.
const stBoltTimeout = 5 * time.Second

func stOpenBolt(path string) (*raftboltdb.BoltStore, error) {
	b, err := raftboltdb.New(raftboltdb.Options{
		Path:        path,
		BoltOptions: &bbolt.Options{Timeout: stBoltTimeout},
		NoSync:      false, // every commit is fdatasync'd
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: open bolt: %w", err)
	}
	return b, nil
}

// Dir returns the directory the Store was opened on.
func (s *Store) Dir() string { return s.dir }

// Backend returns the engine holding the log and stable store.
func (s *Store) Backend() Backend { return s.backend }

// Log returns the raft log store, behind an in-memory raft.LogCache if
// WithLogCache asked for one. It must not be used after Close.
func (s *Store) Log() raft.LogStore { return s.log }

// Stable returns the raft stable store (term, vote). It must not be used
// after Close.
func (s *Store) Stable() raft.StableStore { return s.stable }

// Snapshots returns the file snapshot store. It must not be used after
// Close.
func (s *Store) Snapshots() raft.SnapshotStore { return s.snaps }

// Close closes the backend and releases the directory. It is
// idempotent: later calls return the first call's result. Shut the
// raft node down first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		err := s.engine.Close()
		if lerr := s.releaseLock(); err == nil {
			err = lerr
		}
		if err != nil {
			s.closeErr = fmt.Errorf("consensus: close store: %w", err)
		}
	})
	return s.closeErr
}
