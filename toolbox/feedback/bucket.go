package feedback

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// ErrInvalidRateOption is returned, wrapped with the detail, by
// NewRateLimiter for an unusable rate, burst or option.
var ErrInvalidRateOption = errors.New("feedback: invalid rate limiter option")

// ErrRateLimited is returned, wrapped around the context's error where
// there is one, by RateLimiter.Wait when the context ends, or would end,
// before a token is available.
var ErrRateLimited = errors.New("feedback: rate limited")

// RateLimiter is a token bucket, golang.org/x/time/rate's Limiter,
// whose rate a controller sets at run time: a loop feeds a measurement
// (subscriber lag, drop rate, latency) to a Controller and passes the
// actuation to SetRate, which keeps it within the limiter's bounds.
// It counts what it admits and refuses.
//
// A RateLimiter is safe for concurrent use. It starts no goroutines and
// needs no Close.
type RateLimiter struct {
	lim      *rate.Limiter
	min, max float64

	allowed, waited, denied atomic.Uint64
	changes, clamped        atomic.Uint64
}

// RateStats are a RateLimiter's counters since it was made.
type RateStats struct {
	Rate        float64 // the current rate, tokens per second
	Burst       int     // the bucket's size
	Allowed     uint64  // admitted at once, by Allow or Wait
	Waited      uint64  // admitted by Wait after waiting
	Denied      uint64  // refused by Allow, or Wait ended by its context
	RateChanges uint64  // calls of SetRate
	RateClamped uint64  // calls of SetRate whose rate was out of bounds
}

// RateOption configures a RateLimiter made by NewRateLimiter; giving
// one twice replaces the earlier value.
type RateOption func(*RateLimiter) error

// WithRateBounds bounds the rates SetRate applies to [min, max]; a rate
// outside is clamped to the nearer bound and counted. 0 ≤ min ≤ max,
// and max may be +Inf (no upper bound, and at +Inf the bucket admits
// everything). Default: [0, +Inf]. The initial rate must lie within.
func WithRateBounds(min, max float64) RateOption {
	return func(l *RateLimiter) error {
		if math.IsNaN(min) || math.IsNaN(max) || min < 0 || math.IsInf(min, 1) || min > max {
			return fmt.Errorf("%w: rate bounds [%v, %v]", ErrInvalidRateOption, min, max)
		}
		l.min, l.max = min, max
		return nil
	}
}

// NewRateLimiter returns a token bucket that refills at r tokens per
// second and holds at most burst tokens; it starts full. r must be
// within the bounds (WithRateBounds) and burst at least 1.
func NewRateLimiter(r float64, burst int, opts ...RateOption) (*RateLimiter, error) {
	l := &RateLimiter{max: math.Inf(1)}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	if math.IsNaN(r) || r < l.min || r > l.max {
		return nil, fmt.Errorf("%w: rate %v outside [%v, %v]", ErrInvalidRateOption, r, l.min, l.max)
	}
	if burst < 1 {
		return nil, fmt.Errorf("%w: burst %d is below 1", ErrInvalidRateOption, burst)
	}
	l.lim = rate.NewLimiter(toLimit(r), burst)
	return l, nil
}

func toLimit(r float64) rate.Limit {
	if math.IsInf(r, 1) {
		return rate.Inf
	}
	return rate.Limit(r)
}

// SetRate sets the refill rate in tokens per second, clamped to the
// bounds, and returns the rate applied. Tokens already in the bucket
// stay; the new rate applies from now. A NaN rate is ignored (the
// current rate is returned) and counted as clamped.
func (l *RateLimiter) SetRate(r float64) float64 {
	l.changes.Add(1)
	if math.IsNaN(r) {
		l.clamped.Add(1)
		return l.Rate()
	}
	applied := math.Min(l.max, math.Max(l.min, r))
	if applied != r {
		l.clamped.Add(1)
	}
	l.lim.SetLimit(toLimit(applied))
	return applied
}

// Rate returns the current refill rate in tokens per second.
func (l *RateLimiter) Rate() float64 {
	lim := l.lim.Limit()
	if lim == rate.Inf {
		return math.Inf(1)
	}
	return float64(lim)
}

// Allow takes a token if one is available now and reports whether it
// did; it never waits.
func (l *RateLimiter) Allow() bool {
	if l.lim.Allow() {
		l.allowed.Add(1)
		return true
	}
	l.denied.Add(1)
	return false
}

// Wait takes a token, waiting for one until ctx ends. It returns nil
// once it has the token, or an error wrapping ErrRateLimited (and the
// context's error, if it ended) without taking one: at once when the
// token would come only after ctx's deadline, or when ctx ends while
// waiting. A later SetRate does not shorten a wait already begun.
func (l *RateLimiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		l.denied.Add(1)
		return fmt.Errorf("%w: %w", ErrRateLimited, err)
	}
	now := time.Now()
	res := l.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if !res.OK() || delay == rate.InfDuration {
		res.CancelAt(now)
		l.denied.Add(1)
		return fmt.Errorf("%w: no token at rate %v", ErrRateLimited, l.Rate())
	}
	if delay == 0 {
		l.allowed.Add(1)
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && dl.Before(now.Add(delay)) {
		res.CancelAt(now)
		l.denied.Add(1)
		return fmt.Errorf("%w: next token in %v, after the deadline", ErrRateLimited, delay)
	}
	return l.sleep(ctx, res, delay)
}

// sleep waits out delay for the reservation res, cancelling it if ctx
// ends first.
func (l *RateLimiter) sleep(ctx context.Context, res *rate.Reservation, delay time.Duration) error {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		l.waited.Add(1)
		return nil
	case <-ctx.Done():
		res.Cancel()
		l.denied.Add(1)
		return fmt.Errorf("%w: %w", ErrRateLimited, ctx.Err())
	}
}

// Stats returns the counters and the current rate and burst.
func (l *RateLimiter) Stats() RateStats {
	return RateStats{
		Rate:        l.Rate(),
		Burst:       l.lim.Burst(),
		Allowed:     l.allowed.Load(),
		Waited:      l.waited.Load(),
		Denied:      l.denied.Load(),
		RateChanges: l.changes.Load(),
		RateClamped: l.clamped.Load(),
	}
}
