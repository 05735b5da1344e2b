package cache

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
)

// group collapses concurrent fills of one key into one run of the
// backend, as golang.org/x/sync/singleflight does, with two changes:
// cancellation is per caller (a caller that leaves never fails the
// others, and the backend is cancelled only when the last one leaves),
// and invalidations are ordered against fills (a fill that began
// before an invalidation of its key never installs its value).
type group[V any] struct {
	mu      sync.Mutex
	flights map[string]*flight[V]
	solo    map[*flight[V]]string // fills nobody may join (no-cache calls), by key
	wg      sync.WaitGroup        // running fills

	collapsed atomic.Uint64 // callers that joined a fill already running
	fills     atomic.Uint64 // backend runs
	discarded atomic.Uint64 // fills not installed: invalidated while running
}

type flight[V any] struct {
	key     string
	done    chan struct{}
	val     V
	err     error
	waiters int  // callers waiting; the fill is cancelled when it drops to 0
	stale   bool // invalidated while running: do not install
	cancel  context.CancelFunc
}

// fillFunc runs the backend for a key.
type fillFunc[V any] func(ctx context.Context) (V, error)

// installFunc stores a fill's result; it runs under the group's lock,
// so that no invalidation falls between the staleness check and the
// store. It must not call back into the group, nor run user code: what
// must run after (eviction callbacks) it returns as after.
type installFunc[V any] func(v V, err error) (after func())

// do returns the result of fill for key, running it only when no fill
// of key is running, else waiting for that one (shared is then true).
// The fill runs in its own goroutine with ctx's values but not its
// cancellation; it is cancelled when every waiter has left. A caller
// whose ctx ends gets ctx.Err() at once.
//
// recheck, if not nil, looks the key up again under the group's lock
// before a fill starts: a caller that missed the cache just before a
// fill of its key ended and installed its value finds the value there
// instead of starting a second fill.
func (g *group[V]) do(ctx context.Context, key string, fill fillFunc[V], install installFunc[V], recheck func() (V, bool)) (v V, err error, shared bool) {
	g.mu.Lock()
	f, ok := g.flights[key]
	if ok {
		f.waiters++
		g.collapsed.Add(1)
	} else {
		if recheck != nil {
			if v, found := recheck(); found {
				g.mu.Unlock()
				g.collapsed.Add(1)
				return v, nil, true
			}
		}
		f = g.start(ctx, key, fill, install, 1, false)
	}
	g.mu.Unlock()
	return g.wait(ctx, f, ok)
}

// doAlone runs fill for this caller alone, as a no-cache call must, but
// orders it against invalidations as do does.
func (g *group[V]) doAlone(ctx context.Context, key string, fill fillFunc[V], install installFunc[V]) (V, error) {
	g.mu.Lock()
	f := g.start(ctx, key, fill, install, 1, true)
	g.mu.Unlock()
	v, err, _ := g.wait(ctx, f, false)
	return v, err
}

func (g *group[V]) wait(ctx context.Context, f *flight[V], shared bool) (v V, err error, _ bool) {
	select {
	case <-f.done:
		return f.val, f.err, shared
	case <-ctx.Done():
		g.leave(f)
		var zero V
		return zero, ctx.Err(), shared
	}
}

// start launches a fill with n waiters, one others may join unless
// alone; the caller holds the lock.
func (g *group[V]) start(ctx context.Context, key string, fill fillFunc[V], install installFunc[V], n int, alone bool) *flight[V] {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight[V]{key: key, done: make(chan struct{}), waiters: n, cancel: cancel}
	if alone {
		if g.solo == nil {
			g.solo = map[*flight[V]]string{}
		}
		g.solo[f] = key
	} else {
		if g.flights == nil {
			g.flights = map[string]*flight[V]{}
		}
		g.flights[key] = f
	}
	g.fills.Add(1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer cancel()
		v, err := fill(fctx)
		g.finish(f, v, err, install)
	}()
	return f
}

// background starts a fill nobody waits for (a refresh ahead of
// expiry) unless one of key is running; its ctx should carry a
// deadline. It reports whether it started one.
func (g *group[V]) background(ctx context.Context, key string, fill fillFunc[V], install installFunc[V]) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.flights[key]; ok {
		return false
	}
	g.start(ctx, key, fill, install, 0, false)
	return true
}

func (g *group[V]) finish(f *flight[V], v V, err error, install installFunc[V]) {
	var after func()
	g.mu.Lock()
	g.unhook(f)
	if f.stale {
		g.discarded.Add(1)
	} else if install != nil {
		after = install(v, err)
	}
	f.val, f.err = v, err
	g.mu.Unlock()
	close(f.done)
	if after != nil {
		after()
	}
}

// leave takes a waiter away; the last one out cancels the fill, and
// unhooks it so that the next caller starts afresh rather than join a
// cancelled fill.
func (g *group[V]) leave(f *flight[V]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	select {
	case <-f.done:
		return
	default:
	}
	f.cancel()
	f.stale = true // its result, likely an error, is nobody's
	g.unhook(f)
}

// unhook takes a fill out of the maps; the caller holds the lock.
func (g *group[V]) unhook(f *flight[V]) {
	if g.flights[f.key] == f {
		delete(g.flights, f.key)
	}
	delete(g.solo, f)
}

// invalidate marks the running fills of the keys, of keys under the
// prefixes, or of every key (all) stale, and unhooks them so that later
// callers start new fills. It must be called before the cache entries
// are deleted, under no lock of the cache.
func (g *group[V]) invalidate(keys, prefixes []string, all bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, f := range g.flights {
		if all || hasAny(k, keys, prefixes) {
			f.stale = true
			delete(g.flights, k)
		}
	}
	for f, k := range g.solo {
		if all || hasAny(k, keys, prefixes) {
			f.stale = true
		}
	}
}

func hasAny(k string, keys, prefixes []string) bool {
	for _, x := range keys {
		if k == x {
			return true
		}
	}
	for _, p := range prefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// cancelAll cancels every running fill and waits for them to end.
func (g *group[V]) cancelAll() {
	g.mu.Lock()
	for k, f := range g.flights {
		f.stale = true
		f.cancel()
		delete(g.flights, k)
	}
	for f := range g.solo {
		f.stale = true
		f.cancel()
		delete(g.solo, f)
	}
	g.mu.Unlock()
	g.wg.Wait()
}
