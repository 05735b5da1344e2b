package core

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"
)

// MemRegistry is a registry held in memory: for a registry node (see
// RegistryServer), and for tests of nodes inside one process. Entries
// live until their lease expires or they are deregistered.
type MemRegistry struct {
	mu      sync.Mutex
	entries map[string]NodeInfo
	now     func() time.Time
	watches map[chan struct{}]struct{} // wake channels of the watches, capacity 1
}

var _ RegistryWatcher = (*MemRegistry)(nil)

// NewMemRegistry returns an empty in-memory registry.
func NewMemRegistry() *MemRegistry {
	return &MemRegistry{entries: map[string]NodeInfo{}, now: time.Now}
}

// Register records info for ttl; see Registry.
func (r *MemRegistry) Register(ctx context.Context, info NodeInfo, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkName(info.Name); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("core: lease TTL must be positive, got %v", ttl)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if old, ok := r.entries[info.Name]; ok && old.ID != info.ID && now.Before(old.Expires) {
		return fmt.Errorf("%w: %q is held by instance %s (pid %d on %s)", ErrNameTaken, info.Name, old.ID, old.PID, old.Host)
	}
	old, had := r.entries[info.Name]
	info.Expires = now.Add(ttl)
	r.entries[info.Name] = info
	if !had || !sameButExpiry(old, info) {
		r.wakeLocked()
	}
	return nil
}

// sameButExpiry reports whether a and b differ at most in Expires: a
// renewal, which watches are not woken for.
func sameButExpiry(a, b NodeInfo) bool {
	a.Expires, b.Expires = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// Deregister removes name if it belongs to id.
func (r *MemRegistry) Deregister(ctx context.Context, name, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.entries[name]; ok && old.ID == id {
		delete(r.entries, name)
		r.wakeLocked()
	}
	return nil
}

// Nodes returns the unexpired entries sorted by name, forgetting expired ones.
func (r *MemRegistry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := make([]NodeInfo, 0, len(r.entries))
	for name, n := range r.entries {
		if !now.Before(n.Expires) {
			delete(r.entries, name)
			continue
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Watch implements RegistryWatcher: every registration that is not a
// mere renewal, every removal and every lease expiry is pushed.
func (r *MemRegistry) Watch(ctx context.Context) (<-chan []NodeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wake := make(chan struct{}, 1)
	r.mu.Lock()
	if r.watches == nil {
		r.watches = map[chan struct{}]struct{}{}
	}
	r.watches[wake] = struct{}{}
	r.mu.Unlock()
	feed := newWatchFeed()
	go func() {
		defer close(feed.ch)
		defer func() {
			r.mu.Lock()
			delete(r.watches, wake)
			r.mu.Unlock()
		}()
		runWatch(ctx, feed, r.Nodes, wake, nil, 0)
	}()
	return feed.ch, nil
}

// wakeLocked tells every watch to read again. r.mu is held.
func (r *MemRegistry) wakeLocked() {
	for w := range r.watches {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}
