package feedback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// ErrLimited is returned by a CallLimiter's interceptor for a call it
// did not send because the service's limit was reached (and, with
// WithWait, no slot came free in time or too many calls were waiting).
// No provider saw the call, so it is safe to try again later.
var ErrLimited = errors.New("feedback: call concurrency limit reached")

// CallLimiter limits a peer's calls in flight, as a call interceptor
// (Interceptor): by default each service the peer calls gets a Limiter
// of its own, made by the factory given to NewCallLimiter when the
// service is first called. A call over the limit fails at once with
// ErrLimited, or waits for a slot (WithWait). The limiter learns from
// every call that reaches a provider: a call the provider shed
// (core.ErrOverloaded) or that timed out is a dropped sample, so the
// limit backs off when the service sheds or slows; calls that never
// reached a provider (core.ErrNoProvider, core.ErrNotSent, a lost
// connection) or that the caller cancelled are no samples. Calls to
// zmp's introspection services ("zmp." names) pass unlimited.
//
// A CallLimiter is safe for concurrent use, starts no goroutines and
// needs no Close. It calls the factory without its lock held, and
// Limit under it.
type CallLimiter struct {
	factory     func(service string) (Limiter, error)
	oneLimit    bool
	maxWaiters  int // 0: fail fast
	maxServices int

	mu       sync.Mutex
	gates    map[string]*callGate
	overflow *callGate // shared by services beyond maxServices
}

// callGate is one limit's state, guarded by the CallLimiter's mutex.
type callGate struct {
	lim                        Limiter
	inflight                   int
	waiters                    []chan struct{} // FIFO; a send hands over a slot
	admitted, limited, dropped uint64
}

type callConfig struct {
	oneLimit    bool
	maxWaiters  int
	maxServices int
}

// CallLimiterOption configures NewCallLimiter.
type CallLimiterOption func(*callConfig) error

// WithOneLimit, when enabled, puts every call the peer makes under one
// limit, made by calling the factory once with service "". Default:
// disabled, one limit per service.
func WithOneLimit(enabled bool) CallLimiterOption {
	return func(c *callConfig) error {
		c.oneLimit = enabled
		return nil
	}
}

// WithWait lets a call over the limit wait, first come first served,
// until a slot comes free or its context ends (then it returns
// ErrLimited wrapping the context's error); at most maxWaiters calls
// wait per limit, and one more fails at once with ErrLimited.
// maxWaiters ≥ 1. Default: no waiting, a call over the limit fails at
// once.
func WithWait(maxWaiters int) CallLimiterOption {
	return func(c *callConfig) error {
		if maxWaiters < 1 {
			return interceptErr("WithWait(%d): want ≥ 1 waiter", maxWaiters)
		}
		c.maxWaiters = maxWaiters
		return nil
	}
}

// WithMaxServices bounds the number of per-service limits the
// CallLimiter keeps; calls to services beyond the first n share one
// more limit, made by calling the factory with service "". n ≥ 1.
// Default: 1024.
func WithMaxServices(n int) CallLimiterOption {
	return func(c *callConfig) error {
		if n < 1 {
			return interceptErr("WithMaxServices(%d): want ≥ 1", n)
		}
		c.maxServices = n
		return nil
	}
}

// NewCallLimiter returns a CallLimiter whose limits newLimiter makes:
// it is called with the service's name the first time the service is
// called (or once, with "", under WithOneLimit), must be safe for
// concurrent use, and may return the same Limiter for several
// services to have them share a limit. An error it returns fails that
// call, wrapped, and the next call to the service asks again.
func NewCallLimiter(newLimiter func(service string) (Limiter, error), opts ...CallLimiterOption) (*CallLimiter, error) {
	if newLimiter == nil {
		return nil, interceptErr("nil limiter factory")
	}
	c := callConfig{maxServices: 1024}
	for _, o := range opts {
		if o == nil {
			return nil, interceptErr("nil CallLimiterOption")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return &CallLimiter{
		factory: newLimiter, oneLimit: c.oneLimit, maxWaiters: c.maxWaiters,
		maxServices: c.maxServices, gates: make(map[string]*callGate),
	}, nil
}

// Interceptor returns the call interceptor that applies the limits.
func (c *CallLimiter) Interceptor() core.CallInterceptor {
	return c.intercept
}

func (c *CallLimiter) intercept(ctx context.Context, call *core.CallInfo, next core.Invoker) ([]byte, error) {
	if strings.HasPrefix(call.Service, "zmp.") {
		return next(ctx, call)
	}
	g, err := c.gate(call.Service)
	if err != nil {
		return nil, err
	}
	inflight, err := c.acquire(ctx, g)
	if err != nil {
		return nil, err
	}
	returned := false
	defer func() {
		if !returned { // a later interceptor panicked
			c.release(g)
		}
	}()
	start := time.Now()
	body, err := next(ctx, call)
	rtt := time.Since(start)
	returned = true
	c.release(g)
	if sample, dropped := callOutcome(ctx, err); sample {
		if dropped {
			c.mu.Lock()
			g.dropped++
			c.mu.Unlock()
		}
		g.lim.OnSample(rtt, inflight, dropped)
	}
	return body, err
}

// gate returns the limit service's calls go through, making it on
// first use.
func (c *CallLimiter) gate(service string) (*callGate, error) {
	key := service
	if c.oneLimit {
		key = ""
	}
	c.mu.Lock()
	g, overflow := c.lookupLocked(key)
	c.mu.Unlock()
	if g != nil {
		return g, nil
	}
	name := key
	if overflow {
		name = ""
	}
	lim, err := c.factory(name)
	if err == nil && lim == nil {
		err = errors.New("nil Limiter")
	}
	if err != nil {
		return nil, fmt.Errorf("feedback: making the call limit of %q: %w", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, overflow = c.lookupLocked(key); g != nil { // another call made it first
		return g, nil
	}
	g = &callGate{lim: lim}
	if overflow {
		c.overflow = g
	} else {
		c.gates[key] = g
	}
	return g, nil
}

// lookupLocked returns key's limit, nil if it has none yet; overflow
// tells that key is beyond WithMaxServices and shares the overflow
// limit.
func (c *CallLimiter) lookupLocked(key string) (g *callGate, overflow bool) {
	if g, ok := c.gates[key]; ok {
		return g, false
	}
	if len(c.gates) >= c.maxServices {
		return c.overflow, true
	}
	return nil, false
}

// acquire takes a slot of g, waiting for one under WithWait, and
// returns the number of g's calls then in flight, itself included.
func (c *CallLimiter) acquire(ctx context.Context, g *callGate) (int, error) {
	c.mu.Lock()
	limit := g.lim.Limit()
	if g.inflight < limit && len(g.waiters) == 0 {
		g.inflight++
		g.admitted++
		n := g.inflight
		c.mu.Unlock()
		return n, nil
	}
	if len(g.waiters) >= c.maxWaiters {
		g.limited++
		n := g.inflight
		c.mu.Unlock()
		return 0, fmt.Errorf("%w (%d in flight, limit %d)", ErrLimited, n, limit)
	}
	ch := make(chan struct{}, 1)
	g.waiters = append(g.waiters, ch)
	c.mu.Unlock()
	select {
	case <-ch:
		c.mu.Lock()
		n := g.inflight
		c.mu.Unlock()
		return n, nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g.limited++
	if !removeWaiter(g, ch) { // handed a slot as ctx ended: give it back
		g.admitted--
		g.inflight--
		c.wakeLocked(g)
	}
	return 0, fmt.Errorf("%w: %w", ErrLimited, ctx.Err())
}

// release frees a slot of g and hands it to the first waiter.
func (c *CallLimiter) release(g *callGate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g.inflight--
	c.wakeLocked(g)
}

// wakeLocked hands free slots of g to waiters, oldest first.
func (c *CallLimiter) wakeLocked(g *callGate) {
	for len(g.waiters) > 0 && g.inflight < g.lim.Limit() {
		ch := g.waiters[0]
		g.waiters[0] = nil
		g.waiters = g.waiters[1:]
		g.inflight++
		g.admitted++
		ch <- struct{}{} // buffered: never blocks
	}
}

// removeWaiter takes ch out of g's waiters; false when it was no
// longer there, having been handed a slot.
func removeWaiter(g *callGate, ch chan struct{}) bool {
	for i, w := range g.waiters {
		if w == ch {
			g.waiters = append(g.waiters[:i], g.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// callOutcome says whether a call that ended with err is a sample for
// its limiter, and whether a dropped one.
func callOutcome(ctx context.Context, err error) (sample, dropped bool) {
	var re *core.RemoteError
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, core.ErrOverloaded):
		return true, true // the provider shed it
	case errors.Is(err, core.ErrNotSent), errors.Is(err, core.ErrNoProvider),
		errors.Is(err, core.ErrConnectionLost), errors.Is(err, core.ErrClosed):
		return false, false // no provider answered for it
	case errors.Is(err, core.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return true, true
	case ctx.Err() != nil:
		return false, false // the caller gave up
	case errors.As(err, &re):
		return true, false // the provider answered with an error of its own
	}
	return false, false
}
