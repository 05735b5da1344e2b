package feedback

import (
	"sync"
	"time"
)

// windowedConfig holds the settings of NewWindowed.
type windowedConfig struct {
	minTime, maxTime time.Duration
	minSamples       int
}

func defaultWindowedConfig() windowedConfig {
	return windowedConfig{minTime: 100 * time.Millisecond, maxTime: time.Second, minSamples: 10}
}

// WithSampleWindow sets the window NewWindowed aggregates samples over:
// a window closes once it is at least minTime long and holds at least
// minSamples samples, or once it is maxTime long with any; 0 < minTime
// ≤ maxTime, minSamples ≥ 1. Default: 100 ms, 1 s and 10 samples.
// NewWindowed only.
func WithSampleWindow(minTime, maxTime time.Duration, minSamples int) LimitOption {
	return limitOpt("WithSampleWindow", kindWindowed, func(c *limitConfig) error {
		if minTime <= 0 || maxTime < minTime || minSamples < 1 {
			return limitErr("sample window %v..%v, %d samples: want 0 < min ≤ max, samples ≥ 1", minTime, maxTime, minSamples)
		}
		c.windowed = windowedConfig{minTime: minTime, maxTime: maxTime, minSamples: minSamples}
		return nil
	})
}

// Windowed feeds another Limiter one aggregated sample per window of
// requests instead of one per request: the window's mean round trip,
// its largest in-flight count, and dropped when any request in it was.
// Vegas and Gradient2 compare round trips with the least or the
// long-term one, and a single request's time is too noisy for that
// when service times vary (with exponential service, single samples
// drove both to a limit of 4 to 6 on a backend of 10 servers, in
// SimulateLatency); the mean over a window is not. Netflix's
// concurrency-limits library wraps its limits the same way.
//
// Build it with NewWindowed; it is safe for concurrent use, starts no
// goroutines, and calls the wrapped limiter under its own mutex.
type Windowed struct {
	inner Limiter
	cfg   windowedConfig
	now   func() time.Duration

	mu       sync.Mutex
	start    time.Duration
	n        int
	sum      time.Duration
	inflight int
	dropped  bool
}

// NewWindowed wraps l. Options: WithSampleWindow, WithClock (default:
// the real monotonic clock).
func NewWindowed(l Limiter, opts ...LimitOption) (*Windowed, error) {
	if l == nil {
		return nil, limitErr("NewWindowed: nil Limiter")
	}
	cfg, err := buildLimitConfig(kindWindowed, opts)
	if err != nil {
		return nil, err
	}
	return &Windowed{inner: l, cfg: cfg.windowed, now: cfg.monotonicClock()}, nil
}

// Limit returns the wrapped limiter's limit.
func (w *Windowed) Limit() int { return w.inner.Limit() }

// OnSample adds one request to the current window, and gives the
// wrapped limiter the window's aggregate when it closes.
func (w *Windowed) OnSample(rtt time.Duration, inflight int, dropped bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if w.n == 0 {
		w.start = now
	}
	w.n++
	w.sum += rtt
	w.inflight = max(w.inflight, inflight)
	w.dropped = w.dropped || dropped
	age := now - w.start
	if (age >= w.cfg.minTime && w.n >= w.cfg.minSamples) || age >= w.cfg.maxTime {
		w.inner.OnSample(w.sum/time.Duration(w.n), w.inflight, w.dropped)
		w.n, w.sum, w.inflight, w.dropped = 0, 0, 0, false
	}
}
