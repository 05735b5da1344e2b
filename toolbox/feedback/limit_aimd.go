package feedback

import (
	"math"
	"sync"
	"time"
)

// AIMD is an additive-increase, multiplicative-decrease concurrency
// limit, the rule TCP uses for its congestion window: each completed
// request that was sent while the limit was nearly in use (in flight at
// least half the limit) and was not dropped raises the limit by one;
// a drop, or a round trip above the timeout, multiplies it by the
// backoff factor. Build it with NewAIMD; it is safe for concurrent use.
type AIMD struct {
	mu    sync.Mutex
	cfg   limitConfig
	limit float64
}

// NewAIMD builds an AIMD limiter. Options: WithLimitBounds,
// WithInitialLimit, WithBackoff (default 0.9), WithTimeout (default 5 s).
func NewAIMD(opts ...LimitOption) (*AIMD, error) {
	cfg, err := buildLimitConfig(kindAIMD, opts)
	if err != nil {
		return nil, err
	}
	return &AIMD{cfg: cfg, limit: float64(cfg.initial)}, nil
}

// Limit returns the current limit.
func (a *AIMD) Limit() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return int(a.limit)
}

// OnSample updates the limit from one completed request.
func (a *AIMD) OnSample(rtt time.Duration, inflight int, dropped bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lo, hi := float64(a.cfg.minLimit), float64(a.cfg.maxLimit)
	switch {
	case dropped || rtt > a.cfg.timeout:
		a.limit = clampLimit(math.Floor(a.limit*a.cfg.backoff), lo, hi)
	case 2*inflight >= int(a.limit):
		a.limit = clampLimit(a.limit+1, lo, hi)
	}
}
