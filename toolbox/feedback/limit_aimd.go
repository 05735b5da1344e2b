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
//
// Like TCP, it backs off at most once per window of requests: the
// requests in flight when it backs off were sent under the old limit,
// so the drops among the next limit-many samples are the same
// congestion seen again, not news, and do not cut the limit further.
// Without this, a burst of timeouts (every request of one overloaded
// moment) would cut the limit by the backoff factor once per request,
// down to the lower bound.
type AIMD struct {
	mu      sync.Mutex
	cfg     limitConfig
	limit   float64
	holdoff int // samples left whose drops are ignored after a backoff
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
	congested := dropped || rtt > a.cfg.timeout
	if a.holdoff > 0 {
		a.holdoff--
		if congested {
			return
		}
	}
	switch {
	case congested:
		a.holdoff = max(int(a.limit)-1, 0) // the others in flight with this one
		a.limit = clampLimit(math.Floor(a.limit*a.cfg.backoff), lo, hi)
	case 2*inflight >= int(a.limit):
		a.limit = clampLimit(a.limit+1, lo, hi)
	}
}
