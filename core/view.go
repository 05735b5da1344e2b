package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// view is one reading of the registry, shared read-only by every call
// until the next reading.
type view struct {
	seq       uint64 // reading number: a slow older reading never replaces a newer one
	nodes     []NodeInfo
	ids       map[string]bool
	providers map[string][]NodeInfo // by service, nodes with an RPC endpoint
}

func newView(seq uint64, nodes []NodeInfo) *view {
	v := &view{seq: seq, nodes: nodes, ids: map[string]bool{}, providers: map[string][]NodeInfo{}}
	for _, n := range nodes {
		v.ids[n.ID] = true
		if n.RPC == "" {
			continue
		}
		for _, s := range n.Services {
			v.providers[s] = append(v.providers[s], n)
		}
	}
	return v
}

// candidates returns the nodes a call may go to: the providers of
// service, or the pinned node (which may also serve zmp's reserved
// services without listing them).
func (v *view) candidates(service, pin string) []NodeInfo {
	if pin == "" {
		return v.providers[service]
	}
	var out []NodeInfo
	for _, n := range v.nodes {
		if n.Name == pin && n.RPC != "" && (n.Provides(service) || isReserved(service)) {
			out = append(out, n)
		}
	}
	return out
}

// watcher keeps a peer's view of the registry. It reads the registry
// in the background, every discovery interval while the view is in use
// (calls were made recently, or subscriptions want publishers), and at
// once when asked; a call never waits for the registry once a view
// exists, unless the view lacks what the call needs. While the registry
// cannot be read, the last view stays in use.
type watcher struct {
	p    *Peer
	cur  atomic.Pointer[view]
	kick chan struct{} // capacity 1: read now
	used atomic.Bool   // a call used the view since the last tick

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every reading, good or not
	started uint64        // readings started; they run one at a time
	reads   uint64        // readings finished
	lastErr error         // of the last reading; nil when it succeeded
	failing bool          // logged as failing, not yet as recovered
}

func newWatcher(p *Peer) *watcher {
	return &watcher{p: p, kick: make(chan struct{}, 1), changed: make(chan struct{})}
}

// request asks for a reading now.
func (w *watcher) request() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// touch records that the view is in use (without reading the clock:
// it runs on every call).
func (w *watcher) touch() {
	if !w.used.Load() {
		w.used.Store(true)
	}
}

// idleAfter is how long after its last use a view stops being refreshed.
func (w *watcher) idleAfter() time.Duration {
	return max(w.p.cfg.leaseTTL, 10*w.p.cfg.discoveryInterval)
}

func (w *watcher) loop() {
	defer w.p.wg.Done()
	t := time.NewTicker(w.p.cfg.discoveryInterval)
	defer t.Stop()
	var lastUse time.Time
	for {
		select {
		case <-w.p.ctx.Done():
			return
		case now := <-t.C:
			if w.used.Swap(false) {
				lastUse = now
			}
			if !w.p.subs.wanted() && now.Sub(lastUse) > w.idleAfter() {
				continue
			}
		case <-w.kick:
		}
		w.read()
	}
}

// read reads the registry once and installs the view, or keeps the old
// one and records why not.
func (w *watcher) read() {
	w.mu.Lock()
	w.started++
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(w.p.ctx, w.p.cfg.leaseTTL/3)
	nodes, err := w.p.reg.Nodes(ctx)
	cancel()
	if w.p.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	w.reads++
	w.lastErr = err
	var v *view
	if err == nil {
		v = newView(w.reads, w.p.cli.keepLive(nodes, w.p.cfg.leaseTTL))
		w.cur.Store(v)
	}
	w.logLocked(err)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	if v != nil {
		w.p.cli.viewChanged(v)
		w.p.subs.reconcile(v)
	}
}

// logLocked logs when readings start failing and when they recover.
func (w *watcher) logLocked(err error) {
	switch {
	case err != nil && !w.failing:
		w.failing = true
		w.p.cfg.logger.Warn("zmp: cannot read the registry; using the last view", "node", w.p.name, "err", err)
	case err == nil && w.failing:
		w.failing = false
		w.p.cfg.logger.Info("zmp: registry readable again", "node", w.p.name)
	}
}

// fresh waits for a reading that starts after the call and returns
// the view then in place, or that reading's error; it gives up at
// deadline or when ctx ends.
func (w *watcher) fresh(ctx context.Context, deadline time.Time) (*view, error) {
	w.mu.Lock()
	target := w.started + 1
	w.mu.Unlock()
	w.request()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		w.mu.Lock()
		reads, changed, err := w.reads, w.changed, w.lastErr
		w.mu.Unlock()
		if reads >= target {
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
			}
			return w.cur.Load(), nil
		}
		select {
		case <-changed:
		case <-t.C:
			return nil, errExpired
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
