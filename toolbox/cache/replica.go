package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
)

// A Replica keeps a local copy of a cache server's contents, for reads
// that never touch the network. It subscribes to the server's updates
// (<name>.updates), downloads a snapshot (<name>.snapshot), applies
// the updates that follow it in sequence, and re-synchronises by
// itself when it sees a gap, a new server epoch, a malformed update or
// a drop of its own queue. The server's heartbeats tell it the server
// lives; after WithDeadAfter of silence its state turns ReplicaStale
// (reads go on from the copy held). Entries with a TTL expire locally
// too, counted from their receipt, so ephemeral keys expire everywhere
// even when the server is gone. docs/cache.md describes the protocol.
//
// The copy is held in a Cache (WithStore bounds it). A resync builds
// a new copy beside the old one and swaps it in whole, so reads never
// see a half-applied snapshot, and memory peaks at two copies then.
//
// A Replica is safe for concurrent use. Its methods other than
// NewReplica, WaitSynced and Close never block on the network.
type Replica struct {
	p    *core.Peer
	name string
	cfg  replicaConfig
	sub  *core.Subscription

	store atomic.Pointer[replicaStore]
	cbMu  sync.Mutex // serialises calls of cfg.onChange

	mu      sync.Mutex
	st      ReplicaStatus
	changed chan struct{} // closed and replaced at each state change
	ended   bool          // the replica's loop has returned

	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	closeOnce   sync.Once
	removeStats func()
}

// replicaStore is one copy of the server's contents.
type replicaStore struct {
	c *Cache[replicaValue]
}

type replicaValue struct {
	value   []byte
	version uint64
}

// ReplicaItem is an entry as Replica.Lookup returns it.
type ReplicaItem struct {
	// Value is the replica's: read it, keep it, do not modify it.
	Value []byte
	// Version is the server's seq of the write that set the entry.
	Version uint64
	// Expires is when the entry expires locally; zero if it does not.
	Expires time.Time
}

// ReplicaState says how current a replica's copy is.
type ReplicaState int

// Replica states.
const (
	// ReplicaSyncing: fetching a snapshot, first or after a gap. Reads
	// are served from the copy held before (empty at first).
	ReplicaSyncing ReplicaState = iota + 1
	// ReplicaLive: in sequence with the server, which was heard within
	// the dead-after time.
	ReplicaLive
	// ReplicaStale: a copy is held and the server has been silent for
	// the dead-after time. Reads are served from the copy; when the
	// server is heard again the replica re-synchronises.
	ReplicaStale
)

func (s ReplicaState) String() string {
	switch s {
	case ReplicaSyncing:
		return "syncing"
	case ReplicaLive:
		return "live"
	case ReplicaStale:
		return "stale"
	}
	return fmt.Sprintf("ReplicaState(%d)", int(s))
}

// MarshalText makes the state readable in zmp.stats.
func (s ReplicaState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ReplicaStatus is where a replica stands and what it has seen.
type ReplicaStatus struct {
	State ReplicaState `json:"state"`
	// Epoch and Seq: the server incarnation and the last write applied.
	Epoch uint64 `json:"epoch,string"` // a string, as the server's
	Seq   uint64 `json:"seq"`
	// LastHeard is when the last update, heartbeat or snapshot came;
	// SyncedAt when the last snapshot was applied. Zero before any.
	LastHeard time.Time `json:"last_heard"`
	SyncedAt  time.Time `json:"synced_at"`
	// Syncs counts the snapshots applied; Resyncs the synchronisations
	// started after the first, whatever their cause.
	Syncs   uint64 `json:"syncs"`
	Resyncs uint64 `json:"resyncs"`
	// Gaps counts updates found missing: a seq skipped, a heartbeat
	// ahead of the replica, or updates dropped by the subscription's
	// queue or the publisher's.
	Gaps uint64 `json:"gaps"`
	// EpochChanges counts updates from another server incarnation.
	EpochChanges uint64 `json:"epoch_changes"`
	// Malformed counts updates and snapshots that broke the protocol:
	// undecodable, a value above WithMaxValue, a seq going back, a
	// snapshot above WithMaxSnapshot or cut short.
	Malformed uint64 `json:"malformed"`
	// SnapshotFailures counts snapshot downloads that did not complete
	// (including the malformed ones), BufferOverflows the
	// synchronisations abandoned because WithSyncBuffer was exceeded.
	SnapshotFailures uint64 `json:"snapshot_failures"`
	BufferOverflows  uint64 `json:"buffer_overflows"`
	// Applied counts the updates (sets and deletes) applied live.
	Applied uint64 `json:"applied"`
	// Expired and Evicted count entries removed locally: TTL passed, or
	// for room in the store (see WithStore). Refused counts values too
	// large for the store, whose keys are left out.
	Expired uint64 `json:"expired"`
	Evicted uint64 `json:"evicted"`
	Refused uint64 `json:"refused"`
}

// ReplicaStats is a replica's status with its store's and its
// subscription's counters; it is what zmp.stats shows under
// "cache.replica.<name>".
type ReplicaStats struct {
	ReplicaStatus
	Keys         int                    `json:"keys"`
	Bytes        int64                  `json:"bytes"`
	Store        Stats                  `json:"store"` // since the last sync
	Subscription core.SubscriptionStats `json:"subscription"`
}

// NewReplica starts a replica of the cache server name
// (DefaultServerName when empty; its services and topic are named
// <name>.snapshot and <name>.updates) on peer p.
// It subscribes at once and synchronises in the background: use
// WaitSynced to wait for a first copy. ctx bounds only NewReplica
// itself; the replica lives until Close. It adds its statistics to
// p's zmp.stats as "cache.replica.<name>", so a peer holds one replica
// of each server (core.ErrStatsTaken otherwise).
func NewReplica(ctx context.Context, p *core.Peer, name string, opts ...ReplicaOption) (*Replica, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("%w: a replica needs a peer", ErrBadOption)
	}
	if name == "" {
		name = DefaultServerName
	}
	cfg := defaultReplicaConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil replica option", ErrBadOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	r := &Replica{p: p, name: name, cfg: cfg, changed: make(chan struct{})}
	r.st.State = ReplicaSyncing
	first, err := r.newStore()
	if err != nil {
		return nil, err
	}
	r.store.Store(first)
	if r.removeStats, err = p.AddStats("cache.replica."+name, func() any { return r.Stats() }); err != nil {
		first.c.Close()
		return nil, err
	}
	if r.sub, err = p.Subscribe(name+".updates", core.WithQueue(cfg.queue, core.DropNewest)); err != nil {
		r.removeStats()
		first.c.Close()
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.goFunc(r.run)
	return r, nil
}

// goFunc runs f on a goroutine that Close waits for.
func (r *Replica) goFunc(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
}

// newStore makes an empty copy whose removals are reported while it
// is the current one.
func (r *Replica) newStore() (*replicaStore, error) {
	s := &replicaStore{}
	opts := []Option{WithMaxEntries(DefaultReplicaMaxEntries), WithMaxBytes(DefaultReplicaMaxBytes)}
	opts = append(opts, r.cfg.storeOpts...)
	opts = append(opts, WithSizer(func(v replicaValue) int { return len(v.value) }),
		WithOnEvict(func(key string, _ replicaValue, why Reason) { r.removed(s, key, why) }))
	c, err := New[replicaValue](opts...)
	if err != nil {
		return nil, err
	}
	s.c = c
	return s, nil
}

// removed counts and reports an entry that left store s.
func (r *Replica) removed(s *replicaStore, key string, why Reason) {
	if r.store.Load() != s {
		return
	}
	r.mu.Lock()
	switch why {
	case Expired:
		r.st.Expired++
	case Evicted:
		r.st.Evicted++
	}
	r.mu.Unlock()
	r.notify(key, true)
}

// notify runs the change callback, outside the replica's locks.
func (r *Replica) notify(key string, deleted bool) {
	if r.cfg.onChange == nil {
		return
	}
	r.cbMu.Lock()
	defer r.cbMu.Unlock()
	r.cfg.onChange(key, deleted)
}

// Get returns the value held for key. The slice is the replica's: it
// may be kept, and must not be modified. Get never blocks on the
// network.
func (r *Replica) Get(key string) ([]byte, bool) {
	v, ok := r.store.Load().c.Peek(key)
	return v.Value.value, ok
}

// Lookup is Get with the entry's version and local expiry.
func (r *Replica) Lookup(key string) (ReplicaItem, bool) {
	v, ok := r.store.Load().c.Peek(key)
	if !ok {
		return ReplicaItem{}, false
	}
	return ReplicaItem{Value: v.Value.value, Version: v.Value.version, Expires: v.Expires}, true
}

// Len returns the number of entries held, counting expired ones the
// store has not yet removed (it does so within moments).
func (r *Replica) Len() int { return r.store.Load().c.Len() }

// Keys returns the keys of the live entries held, in no order.
func (r *Replica) Keys() []string { return r.store.Load().c.Keys() }

// Status returns the replica's state and counters.
func (r *Replica) Status() ReplicaStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Stats returns the status with the store's and the subscription's
// counters.
func (r *Replica) Stats() ReplicaStats {
	s := r.store.Load().c
	return ReplicaStats{
		ReplicaStatus: r.Status(), Keys: s.Len(), Bytes: s.Bytes(),
		Store: s.Stats(), Subscription: r.sub.Stats(),
	}
}

// WaitSynced waits until the replica is live: it holds a copy of the
// server's contents and is in sequence with its updates. It returns
// ctx's error when ctx ends first, ErrClosed once the replica is
// closed (or its peer is).
func (r *Replica) WaitSynced(ctx context.Context) error {
	for {
		r.mu.Lock()
		live, ended, ch := r.st.State == ReplicaLive, r.ended, r.changed
		r.mu.Unlock()
		switch {
		case ended:
			return ErrClosed
		case live:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setState changes the state, waking WaitSynced; the caller holds mu.
func (r *Replica) setState(s ReplicaState) {
	if r.st.State == s {
		return
	}
	r.st.State = s
	close(r.changed)
	r.changed = make(chan struct{})
}

// Close stops the replica and waits for its goroutines (and so for a
// WithOnChange callback that is running). The copy stays readable;
// Status keeps its last state. Close is idempotent.
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		r.sub.Close()
		r.store.Load().c.Close()
		r.removeStats()
		r.mu.Lock()
		r.ended = true
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	})
	return nil
}
