package feedback

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ErrHitRateConfig is returned, wrapped with the detail, by
// NewHitRateLoop and HitRateLoop.SetTarget for an unusable target or
// option, an option that does not apply with the others given, or a
// cache whose initial resize into the bounds failed.
var ErrHitRateConfig = errors.New("feedback: invalid hit rate loop config")

// HitCounts is what a Resizable cache reports to a HitRateLoop.
type HitCounts struct {
	// Hits and Misses count lookups since the cache was made; they
	// only grow (a loop that sees them fall starts counting afresh).
	Hits, Misses uint64
	// Entries is the number of entries held now, Capacity the bound on
	// entries; -1 when the cache does not know. A loop does not grow a
	// cache whose known Entries are below 95 % of Capacity. A cache
	// that does not report its Capacity is resized to the lower size
	// bound by NewHitRateLoop, and the loop then goes by the size it
	// last gave it.
	Entries, Capacity int
}

// Resizable is a cache a HitRateLoop can hold at a hit rate: it counts
// its lookups and takes a new bound on its entries. ResizableCache,
// ResizableMemo, ResizableServer and NewResizablePlant adapt the
// toolbox/cache kinds and the simulator's CachePlant; a user adapts
// their own cache with a small type of their own.
type Resizable interface {
	HitStats() HitCounts
	Resize(entries int) error
}

// HitRateLoop holds a cache's hit rate at a target by resizing it. Each
// Step is one window: it reads the cache's hit and miss counters, takes
// the hit rate of the lookups since the last acting window (optionally
// smoothed), and moves the size towards the target within bounds.
//
// # The control law
//
// The hit rate h of a cache grows with its size C, steeply for small
// caches and hardly at all for large ones: with Zipf-distributed keys,
// doubling a cache adds about the same number of points whatever its
// size, so a controller linear in C that is tuned for one working set
// is sluggish for a larger one and oscillates on a smaller one. The
// loop therefore controls u = ln C, where the curve is close to a
// straight line. Its slope k = dh/du is at most h itself for any
// hit-rate curve that is concave in C (h(C) ≥ C·h′(C) when h(0) = 0),
// and about 0.1 for Zipf keys with skew 1.1. The built-in law is
// integral action in u:
//
//	u ← u + clamp(g·(target − h), ±ln(maxStep))
//
// with gain g (WithHitRateGain, default 5): the error shrinks by the
// factor 1 − g·k each window, with no overshoot while g·k < 1 (g ≤ 1/h
// is safe for every concave curve; the default suits skewed keys).
// Integral action leaves no steady-state error, and acting on the
// cache's actual size each window keeps the law bumpless when someone
// else resizes the cache.
//
// Rules keep the size still when moving it would not help:
//   - a window with fewer lookups than WithMinLookups does not act; its
//     lookups count towards the next window;
//   - noise does not move it: the law acts on a window's error only
//     beyond three of its standard errors (binomial, or the spread seen
//     between recent windows when that is larger), and otherwise on the
//     error of the windows pooled since the last resize, beyond two of
//     theirs, so a small steady offset is corrected once the pooled
//     windows show it; never on an error within WithHitRateDeadband;
//   - a move against the direction of the last resize needs twice that
//     evidence, in two windows in a row, so noise around the target
//     does not make the size hunt up and down (a real change of load
//     costs one window's delay);
//   - the loop does not grow a cache that is not full (entries below
//     95 % of its bound): its misses come from expiry, invalidation or
//     a byte bound, or it is still filling, and a larger bound would
//     not raise the hit rate — growing it would be integral windup.
//
// WithHitRateController replaces the law with any Controller whose
// output is the size in entries (for example this package's PID).
//
// # Concurrency
//
// Step must be called by one goroutine at a time (a Runner, or a
// simulation); Stats, Last, Target and SetTarget may be called from any
// goroutine. A HitRateLoop starts no goroutines and needs no Close.
type HitRateLoop struct {
	cache Resizable
	cfg   hitRateConfig

	// Step's own state, touched only by Step.
	lastHits, lastMisses uint64
	pendingDt            time.Duration
	smoothed             float64
	haveSmoothed         bool
	lastDir              int  // direction of the last resize: -1, 0, +1
	reversing            bool // the last window asked to reverse lastDir
	pool                 hitPool

	mu     sync.Mutex
	target float64
	size   int
	last   HitRateWindow
	stats  HitRateStats
}

// HitRateAction is what a HitRateLoop did in a window.
type HitRateAction int

const (
	// HitRateIdle: too few lookups; the window's lookups carry over.
	HitRateIdle HitRateAction = iota
	// HitRateInBand: the error was within the deadband.
	HitRateInBand
	// HitRateConfirming: the law asked to reverse the direction of the
	// last resize, and waits for the next window to confirm it.
	HitRateConfirming
	// HitRateHeldNotFull: the law asked to grow a cache that is not full.
	HitRateHeldNotFull
	// HitRateAtBound: the size is at the bound the law pushes against.
	HitRateAtBound
	// HitRateResized: the cache was resized.
	HitRateResized
	// HitRateResizeFailed: the cache's Resize returned an error.
	HitRateResizeFailed
)

// String names the action.
func (a HitRateAction) String() string {
	switch a {
	case HitRateIdle:
		return "idle"
	case HitRateInBand:
		return "in-band"
	case HitRateConfirming:
		return "confirming"
	case HitRateHeldNotFull:
		return "held-not-full"
	case HitRateAtBound:
		return "at-bound"
	case HitRateResized:
		return "resized"
	case HitRateResizeFailed:
		return "resize-failed"
	}
	return fmt.Sprintf("HitRateAction(%d)", int(a))
}

// HitRateWindow is what a HitRateLoop measured and did in one window.
type HitRateWindow struct {
	Window   time.Duration // time covered, idle windows before it included
	Lookups  uint64        // hits plus misses in the window
	Hits     uint64
	HitRate  float64 // Hits / Lookups; 0 without lookups
	Measured float64 // the hit rate the law acted on, after smoothing
	Entries  int     // entries the cache held when measured (-1 unknown)
	Size     int     // the size the cache has after the window
	Action   HitRateAction
	Err      error // the Resize error, with HitRateResizeFailed
}

// HitRateStats are a HitRateLoop's counters since it was made.
type HitRateStats struct {
	Target       float64 // the set point
	Size         int     // the size the loop last gave the cache, or found it at
	Windows      uint64  // Steps
	Idle         uint64  // windows with too few lookups
	InBand       uint64  // windows within the deadband
	Confirming   uint64  // windows holding a reversal for confirmation
	HeldNotFull  uint64  // growth refused because the cache was not full
	AtBound      uint64  // windows the bounds stopped a move
	Grown        uint64  // resizes up
	Shrunk       uint64  // resizes down
	Reversals    uint64  // resizes in the opposite direction to the previous one
	ResizeErrors uint64  // failed Resize calls
}

// NewHitRateLoop builds a loop holding c's hit rate at target, in
// (0, 1). It reads c's counters now, so the first window counts the
// lookups from here on, and resizes c into the bounds if its size lies
// outside them.
func NewHitRateLoop(target float64, c Resizable, opts ...HitRateOption) (*HitRateLoop, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil cache", ErrHitRateConfig)
	}
	if err := checkHitTarget(target); err != nil {
		return nil, err
	}
	cfg := defaultHitRateConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrHitRateConfig)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &HitRateLoop{cache: c, cfg: cfg, target: target}
	n := c.HitStats()
	l.lastHits, l.lastMisses = n.Hits, n.Misses
	l.size = n.Capacity
	if n.Capacity < cfg.minSize || n.Capacity > cfg.maxSize {
		l.size = min(max(n.Capacity, cfg.minSize), cfg.maxSize)
		if err := c.Resize(l.size); err != nil {
			return nil, fmt.Errorf("%w: resizing the cache into [%d, %d]: %w", ErrHitRateConfig, cfg.minSize, cfg.maxSize, err)
		}
	}
	l.stats.Target, l.stats.Size = target, l.size
	return l, nil
}

func checkHitTarget(target float64) error {
	if !(target > 0 && target < 1) {
		return fmt.Errorf("%w: target %v: want a hit rate in (0, 1)", ErrHitRateConfig, target)
	}
	return nil
}

// Target returns the set point.
func (l *HitRateLoop) Target() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.target
}

// SetTarget changes the set point, in (0, 1), from the next Step on.
// The built-in law is incremental, so the size does not jump: it moves
// towards the new target at the law's pace.
func (l *HitRateLoop) SetTarget(target float64) error {
	if err := checkHitTarget(target); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.target = target
	l.stats.Target = target
	return nil
}

// Last returns what the last window measured and did; the zero value
// before the first Step.
func (l *HitRateLoop) Last() HitRateWindow {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Stats returns the loop's counters.
func (l *HitRateLoop) Stats() HitRateStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Step runs one window of dt: measure the hit rate since the last
// acting window and resize the cache if the law says so. Resize is
// called from Step, outside the loop's lock.
func (l *HitRateLoop) Step(dt time.Duration) {
	n := l.cache.HitStats()
	target := l.Target()
	w := l.measure(n, dt)
	if w.Action != HitRateIdle {
		l.act(&w, n, target)
	}
	l.record(w)
}

// measure takes the window's lookups; with too few it marks the window
// idle and leaves the counters for the next one.
func (l *HitRateLoop) measure(n HitCounts, dt time.Duration) HitRateWindow {
	if n.Hits < l.lastHits || n.Misses < l.lastMisses { // counters were reset
		l.lastHits, l.lastMisses = 0, 0
	}
	l.pendingDt += dt
	w := HitRateWindow{
		Window:  l.pendingDt,
		Hits:    n.Hits - l.lastHits,
		Lookups: n.Hits - l.lastHits + n.Misses - l.lastMisses,
		Entries: n.Entries,
		Size:    l.currentSize(n),
		Action:  HitRateIdle,
	}
	if w.Lookups > 0 {
		w.HitRate = float64(w.Hits) / float64(w.Lookups)
	}
	if w.Lookups == 0 || w.Lookups < l.cfg.minLookups {
		return w
	}
	l.lastHits, l.lastMisses, l.pendingDt = n.Hits, n.Misses, 0
	if !l.haveSmoothed {
		l.smoothed, l.haveSmoothed = w.HitRate, true
	} else {
		l.smoothed += l.cfg.smoothing * (w.HitRate - l.smoothed)
	}
	w.Measured = l.smoothed
	w.Action = HitRateInBand // act decides
	return w
}

// currentSize is the cache's own bound when it reports one, else the
// size the loop last gave it.
func (l *HitRateLoop) currentSize(n HitCounts) int {
	if n.Capacity > 0 {
		return n.Capacity
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// act applies the control law to a measured window and resizes.
func (l *HitRateLoop) act(w *HitRateWindow, n HitCounts, target float64) {
	var want int
	if l.cfg.controller != nil {
		want = l.controllerSize(w)
	} else {
		var ok bool
		if want, ok = l.lawSize(w, n, target); !ok {
			return
		}
	}
	bounded := min(max(want, l.cfg.minSize), l.cfg.maxSize)
	if bounded == w.Size {
		if want != bounded {
			w.Action = HitRateAtBound
		} else {
			w.Action = HitRateInBand
		}
		return
	}
	if err := l.cache.Resize(bounded); err != nil {
		w.Action, w.Err = HitRateResizeFailed, err
		return
	}
	w.Action = HitRateResized
	l.pool.reset()
	dir := 1
	if bounded < w.Size {
		dir = -1
	}
	if l.lastDir != 0 && dir != l.lastDir {
		l.mu.Lock()
		l.stats.Reversals++
		l.mu.Unlock()
	}
	l.lastDir = dir
	w.Size = bounded
}

// controllerSize asks a user's controller for the size.
func (l *HitRateLoop) controllerSize(w *HitRateWindow) int {
	out := l.cfg.controller.Update(w.Measured, w.Window)
	if math.IsNaN(out) {
		return w.Size
	}
	out = min(max(out, math.MinInt32), math.MaxInt32)
	return int(math.Round(out))
}

// record publishes the window to Last and Stats.
func (l *HitRateLoop) record(w HitRateWindow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = w
	s := &l.stats
	s.Windows++
	switch w.Action {
	case HitRateIdle:
		s.Idle++
	case HitRateInBand:
		s.InBand++
	case HitRateConfirming:
		s.Confirming++
	case HitRateHeldNotFull:
		s.HeldNotFull++
	case HitRateAtBound:
		s.AtBound++
	case HitRateResizeFailed:
		s.ResizeErrors++
	case HitRateResized:
		if l.lastDir > 0 {
			s.Grown++
		} else {
			s.Shrunk++
		}
	}
	l.size = w.Size
	s.Size = w.Size
}
