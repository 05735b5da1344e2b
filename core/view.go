package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
//
// When the registry is a RegistryWatcher, the watcher also watches it
// while the view is in use: pushed states are installed as they come,
// and the periodic readings stop (each tick rebuilds the view from the
// last pushed state, without I/O, so that the grace given to vanished
// but connected nodes still runs out). A watch that breaks is retried
// with backoff, and the periodic readings resume meanwhile.
type watcher struct {
	p    *Peer
	cur  atomic.Pointer[view]
	kick chan struct{} // capacity 1: read now
	used atomic.Bool   // a call used the view since the last tick

	installMu sync.Mutex // one installation of a view at a time, in order

	mu      sync.Mutex
	changed chan struct{} // closed and replaced after every reading, good or not
	started uint64        // readings started; they run one at a time
	reads   uint64        // readings finished
	lastErr error         // of the last reading; nil when it succeeded
	failing bool          // logged as failing, not yet as recovered
	seq     uint64        // views installed
	pushes  uint64        // states installed from the watch
	pushed  []NodeInfo    // the last state the watch pushed; nil when none
	live    bool          // a watch is running and has pushed its first state

	// Owned by loop's goroutine.
	watchCancel context.CancelFunc
	watchDone   chan struct{}   // closed when the watch goroutine ended
	watchErr    chan error      // why it ended: capacity 1
	watchStart  time.Time       // when the running watch started
	retryAt     time.Time       // earliest next attempt after a failure
	backoff     time.Duration   // current backoff between attempts
	unwatchable bool            // the registry said ErrWatchUnsupported
	broken      bool            // logged as broken, not yet as recovered
	regWatch    RegistryWatcher // nil when the registry cannot push
}

func newWatcher(p *Peer) *watcher {
	w := &watcher{p: p, kick: make(chan struct{}, 1), changed: make(chan struct{})}
	w.regWatch, _ = p.reg.(RegistryWatcher)
	return w
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
	defer w.stopWatch()
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
			inUse := w.p.subs.wanted() || now.Sub(lastUse) <= w.idleAfter()
			if !w.manageWatch(now, inUse) {
				continue // idle
			}
			if w.isLive() {
				w.reinstall()
				continue
			}
		case <-w.kick:
		}
		w.read()
	}
}

// read reads the registry once and installs the view, or keeps the old
// one and records why not. When the watch pushed a state while the
// reading ran, that state is kept: it may be newer, and any change
// after it is pushed too.
func (w *watcher) read() {
	w.mu.Lock()
	w.started++
	pushes := w.pushes
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(w.p.ctx, w.p.cfg.leaseTTL/3)
	nodes, err := w.p.reg.Nodes(ctx)
	cancel()
	if w.p.ctx.Err() != nil {
		return
	}
	w.installMu.Lock()
	defer w.installMu.Unlock()
	w.mu.Lock()
	w.reads++
	w.lastErr = err
	var v *view
	if err == nil && w.pushes == pushes {
		v = w.newViewLocked(nodes)
		if w.live {
			w.pushed = nodes // newer than the last push: ticks rebuild from it
		}
	}
	w.logLocked(err)
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	w.apply(v)
}

// newViewLocked makes and stores the view of nodes. w.mu and
// w.installMu are held.
func (w *watcher) newViewLocked(nodes []NodeInfo) *view {
	w.seq++
	// Clipped: keepLive appends, and a pushed state is the base of
	// several views, which must not share what is appended.
	v := newView(w.seq, w.p.cli.keepLive(slices.Clip(nodes), w.p.cfg.leaseTTL))
	w.cur.Store(v)
	return v
}

// apply tells the client and the subscriptions about a new view v (nil:
// none). w.installMu is held.
func (w *watcher) apply(v *view) {
	if v != nil {
		w.p.cli.viewChanged(v)
		w.p.subs.reconcile(v)
	}
}

// install installs a state the watch pushed.
func (w *watcher) install(nodes []NodeInfo) {
	w.installMu.Lock()
	defer w.installMu.Unlock()
	w.mu.Lock()
	if w.p.ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	w.pushes++
	w.pushed, w.live = nodes, true
	v := w.newViewLocked(nodes)
	w.mu.Unlock()
	w.apply(v)
}

// reinstall rebuilds the view from the last pushed state, so that the
// grace of vanished nodes (client.keepLive) and of publishers runs out
// while nothing is pushed.
func (w *watcher) reinstall() {
	w.installMu.Lock()
	defer w.installMu.Unlock()
	w.mu.Lock()
	if !w.live {
		w.mu.Unlock()
		return
	}
	v := w.newViewLocked(w.pushed)
	w.mu.Unlock()
	w.apply(v)
}

func (w *watcher) isLive() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.live
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

// watchRetryMax bounds the backoff between attempts to watch the
// registry; a watch that ran longer than it resets the backoff.
const watchRetryMax = 5 * time.Second

// errWatchEnded is why a watch that closed by itself ended.
var errWatchEnded = errors.New("core: registry watch ended")

// manageWatch starts the registry watch while the view is in use (and
// its backoff allows) and stops it when the view goes idle; it returns
// inUse. It runs on loop's goroutine.
func (w *watcher) manageWatch(now time.Time, inUse bool) bool {
	if w.regWatch == nil || w.unwatchable {
		return inUse
	}
	if w.watchDone != nil {
		select {
		case <-w.watchDone:
			w.watchEnded(now, <-w.watchErr)
		default:
		}
	}
	if w.broken && w.isLive() {
		w.broken = false
		w.p.cfg.logger.Info("zmp: registry watch restored", "node", w.p.name)
	}
	switch {
	case !inUse && w.watchDone != nil:
		w.stopWatch()
	case inUse && w.watchDone == nil && !now.Before(w.retryAt):
		w.startWatch(now)
	}
	return inUse
}

// watchEnded records a watch that ended by itself and schedules the
// next attempt.
func (w *watcher) watchEnded(now time.Time, err error) {
	w.watchCancel()
	w.watchCancel, w.watchDone, w.watchErr = nil, nil, nil
	if errors.Is(err, ErrWatchUnsupported) {
		w.unwatchable = true
		return
	}
	if now.Sub(w.watchStart) > watchRetryMax {
		w.backoff = 0
	}
	w.backoff = min(max(2*w.backoff, w.p.cfg.discoveryInterval), watchRetryMax)
	w.retryAt = now.Add(w.backoff)
	if !w.broken {
		w.broken = true
		w.p.cfg.logger.Warn("zmp: registry watch failed; polling the registry meanwhile", "node", w.p.name, "err", err)
	}
}

// startWatch starts a goroutine that follows the registry's watch.
func (w *watcher) startWatch(now time.Time) {
	ctx, cancel := context.WithCancel(w.p.ctx)
	done, errc := make(chan struct{}), make(chan error, 1)
	w.watchCancel, w.watchDone, w.watchErr, w.watchStart = cancel, done, errc, now
	w.p.wg.Add(1)
	go func() {
		defer w.p.wg.Done()
		defer close(done)
		errc <- w.follow(ctx)
	}()
}

// stopWatch ends the running watch, if any, and waits for it.
func (w *watcher) stopWatch() {
	if w.watchCancel == nil {
		return
	}
	w.watchCancel()
	<-w.watchDone
	w.watchCancel, w.watchDone, w.watchErr = nil, nil, nil
}

// follow installs the states the registry pushes until the watch ends,
// and returns why it ended (nil when ctx ended).
func (w *watcher) follow(ctx context.Context) error {
	ch, err := w.regWatch.Watch(ctx)
	if err != nil {
		return err
	}
	for nodes := range ch {
		w.install(nodes)
	}
	w.mu.Lock()
	w.live = false
	w.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	return errWatchEnded
}
