package feedback

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
)

// DefaultCallRateMaxWait bounds how long a CallRate makes a call whose
// context has no deadline wait for a token.
const DefaultCallRateMaxWait = 10 * time.Second

// CallRate limits the rate of the calls a peer makes with a token
// bucket, as a core.CallInterceptor (Interceptor), and is the control
// loop that sets the bucket's rate from the share of calls the services
// shed: answered core.ErrOverloaded or timed out (core.ErrTimeout).
// Above the set point the rate falls in proportion to the excess; below
// it, it rises at a bounded pace, so a caller backs off to what the
// service takes and probes up again when it stops shedding.
//
// A Runner, or a simulation, calls Step once per window. A CallRate is
// safe for concurrent use. It starts no goroutines and needs no Close;
// a call waiting for a token returns when its context ends.
type CallRate struct {
	bucket   *RateLimiter
	failFast bool
	maxWait  time.Duration

	calls, shed, limited atomic.Uint64

	mu        sync.Mutex // guards the loop's state below
	loop      *rateLoop
	prevCalls uint64
	prevShed  uint64
	last      CallRateStats
}

// CallRateStats is a CallRate's last window and its counters.
type CallRateStats struct {
	Rate     float64 // the bucket's rate now, calls per second
	Shed     float64 // the share of the last window's calls shed; NaN when none
	Setpoint float64 // the share held
	Used     float64 // calls per second sent in the last window
	// Calls counts the calls sent, ShedCalls those answered
	// core.ErrOverloaded or timed out, Limited those the bucket
	// refused (ErrRateLimited: no token in time, or fail-fast).
	Calls, ShedCalls, Limited uint64
	Windows                   uint64 // calls of Step
}

// CallRateOption configures a CallRate; giving one twice replaces the
// earlier value.
type CallRateOption func(*callRateConfig) error

type callRateConfig struct {
	loop     rateLoopConfig
	failFast bool
	maxWait  time.Duration
}

// WithCallRateFailFast makes a call that finds no token fail at once
// with ErrRateLimited instead of waiting for one. Default false: wait,
// until the call's context ends or would end first, at most the
// maximum wait.
func WithCallRateFailFast(enabled bool) CallRateOption {
	return func(c *callRateConfig) error {
		c.failFast = enabled
		return nil
	}
}

// WithCallRateMaxWait bounds the wait for a token of a call whose
// context has no deadline (a context with one bounds it itself); d > 0.
// Default 10 s, core's default call timeout. Does not apply with
// WithCallRateFailFast(true).
func WithCallRateMaxWait(d time.Duration) CallRateOption {
	return func(c *callRateConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: max wait %v is not positive", ErrInvalidRateLoopOption, d)
		}
		c.maxWait = d
		return nil
	}
}

// WithCallRateSetpoint sets the share of calls shed that the loop
// holds, in (0, 1). Default 0.01 (1 %).
func WithCallRateSetpoint(share float64) CallRateOption {
	return func(c *callRateConfig) error { return c.loop.setLossSetpoint(share) }
}

// WithCallRateGains sets the default controller's gains, as
// WithPacerGains does for a PublishPacer. Default Kp 0.3, Ki 2. Does not
// apply with WithCallRateController.
func WithCallRateGains(kp, ki float64) CallRateOption {
	return func(c *callRateConfig) error { return c.loop.setGains(kp, ki) }
}

// WithCallRateController replaces the default controller with ctrl,
// which is given each window's shed share and returns the rate in calls
// per second (clamped to the bucket's bounds).
func WithCallRateController(ctrl Controller) CallRateOption {
	return func(c *callRateConfig) error { return c.loop.setController(ctrl) }
}

// WithCallRateHeadroom sets how far the rate may rise above the calls
// actually sent in the last window, as WithPacerHeadroom does for a
// PublishPacer. Default 2.
func WithCallRateHeadroom(f float64) CallRateOption {
	return func(c *callRateConfig) error { return c.loop.setHeadroom(f) }
}

// NewCallRate returns a CallRate that takes its tokens from bucket and
// sets its rate, within the bucket's bounds; the bucket's rate when
// NewCallRate is called, which must be positive and finite for the
// default controller, is where the loop starts; the default controller
// never sets it below the bucket's lower bound nor below a thousandth of
// that starting rate, so that some calls still go out to show that the
// service recovered. The bucket should serve
// this CallRate alone. It fails with ErrInvalidRateLoopOption when an
// option is unusable or does not apply.
func NewCallRate(bucket *RateLimiter, opts ...CallRateOption) (*CallRate, error) {
	if bucket == nil {
		return nil, fmt.Errorf("%w: nil bucket", ErrInvalidRateLoopOption)
	}
	c := callRateConfig{loop: defaultRateLoopConfig()}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.failFast && c.maxWait != 0 {
		return nil, fmt.Errorf("%w: max wait given with fail-fast", ErrInvalidRateLoopOption)
	}
	if c.maxWait == 0 {
		c.maxWait = DefaultCallRateMaxWait
	}
	loop, err := newRateLoop(bucket, c.loop)
	if err != nil {
		return nil, err
	}
	r := &CallRate{bucket: bucket, failFast: c.failFast, maxWait: c.maxWait, loop: loop}
	r.last = CallRateStats{Rate: bucket.Rate(), Shed: math.NaN(), Setpoint: c.loop.setpoint}
	return r, nil
}

// Interceptor returns the call interceptor that takes a token per call
// (core.WithCallInterceptors). A call refused a token returns an error
// wrapping ErrRateLimited, and the context's error when it ended, and
// is not sent.
func (r *CallRate) Interceptor() core.CallInterceptor {
	return r.intercept
}

func (r *CallRate) intercept(ctx context.Context, call *core.CallInfo, next core.Invoker) ([]byte, error) {
	if err := r.take(ctx); err != nil {
		r.limited.Add(1)
		return nil, fmt.Errorf("call to %q: %w", call.Service, err)
	}
	r.calls.Add(1)
	reply, err := next(ctx, call)
	if errors.Is(err, core.ErrOverloaded) || errors.Is(err, core.ErrTimeout) {
		r.shed.Add(1)
	}
	return reply, err
}

// take takes a token, waiting as configured.
func (r *CallRate) take(ctx context.Context) error {
	if r.failFast {
		if r.bucket.Allow() {
			return nil
		}
		return fmt.Errorf("%w: at %.4g calls/s", ErrRateLimited, r.bucket.Rate())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.maxWait)
		defer cancel()
	}
	return r.bucket.Wait(ctx)
}

// Step measures the window of dt that ended now and sets the rate.
func (r *CallRate) Step(dt time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	calls, shed := r.calls.Load(), r.shed.Load()
	// A call is counted when sent and as shed when it returns: over a
	// window, shed may include calls sent in the previous one.
	dc, ds := calls-r.prevCalls, shed-r.prevShed
	r.prevCalls, r.prevShed = calls, shed
	y := math.NaN()
	if dc > 0 {
		y = math.Min(1, float64(ds)/float64(dc))
	}
	used := math.NaN()
	if dt > 0 {
		used = float64(dc) / dt.Seconds()
	}
	r.last.Rate = r.loop.update(y, used, dt)
	r.last.Shed, r.last.Used = y, used
	r.last.Windows++
}

// Stats returns the last window's figures and the counters.
func (r *CallRate) Stats() CallRateStats {
	r.mu.Lock()
	s := r.last
	r.mu.Unlock()
	s.Rate = r.bucket.Rate()
	s.Calls, s.ShedCalls, s.Limited = r.calls.Load(), r.shed.Load(), r.limited.Load()
	return s
}
