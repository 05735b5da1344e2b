package core

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// scope is the parent of handler contexts: a context that also knows
// when it ended, so that a handler context whose deadline passed
// unobserved can tell which came first, as context.WithDeadline would.
type scope struct {
	ctx    context.Context
	cancel context.CancelFunc
	endAt  atomic.Int64 // unix ns, stored before ctx is cancelled
	stop   func() bool
}

// newScope returns a scope that ends with parent, or at end.
func newScope(parent context.Context) *scope {
	s := &scope{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stop = context.AfterFunc(parent, s.end)
	return s
}

// end ends the scope; only the first call counts.
func (s *scope) end() {
	s.endAt.CompareAndSwap(0, time.Now().UnixNano())
	s.cancel()
	s.stop()
}

// ended returns when the scope ended and why, or a nil error.
func (s *scope) ended() (time.Time, error) {
	err := s.ctx.Err()
	if err == nil {
		return time.Time{}, nil
	}
	return time.Unix(0, s.endAt.Load()), err
}

// callCtx is a handler's context. It ends at the request's deadline,
// when the caller cancels or disconnects, or when the peer closes (its
// parent). It keeps context.WithDeadline's contract: Err is nil until
// the context ends and then never changes, and Done is closed exactly
// when Err turns non-nil.
//
// Its Done channel, deadline timer and link to the parent are made
// only when something asks for Done: a handler that never looks at its
// context costs none of them. Until then Err notices the end by reading
// the clock and the parent.
type callCtx struct {
	parent   *scope    // the server's lifetime
	deadline time.Time // zero: none

	mu         sync.Mutex
	done       chan struct{} // made by the first Done
	err        error         // set once, under mu
	timer      *time.Timer
	stopParent func() bool
}

var _ context.Context = (*callCtx)(nil)

func newCallCtx(parent *scope, timeoutMS uint32) *callCtx {
	return newCallCtxAt(parent, timeoutMS, time.Now())
}

// newCallCtxAt is newCallCtx for a request that arrived at now.
func newCallCtxAt(parent *scope, timeoutMS uint32, now time.Time) *callCtx {
	c := &callCtx{parent: parent}
	if timeoutMS > 0 {
		c.deadline = now.Add(time.Duration(timeoutMS) * time.Millisecond)
	}
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *callCtx) Value(key any) any { return c.parent.ctx.Value(key) }

func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checkLocked()
	return c.err
}

func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil { // ended before anyone asked for Done
		close(c.done)
		return c.done
	}
	if c.checkLocked(); c.err != nil { // ends now: checkLocked closed done
		return c.done
	}
	if !c.deadline.IsZero() {
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	}
	c.stopParent = context.AfterFunc(c.parent.ctx, func() { c.cancel(c.parent.ctx.Err()) })
	return c.done
}

func (c *callCtx) String() string { return "zmp handler context" }

// checkLocked ends the context when its parent has ended or its
// deadline has passed, with the error of whichever came first.
func (c *callCtx) checkLocked() {
	if c.err != nil {
		return
	}
	at, err := c.parent.ended()
	// time.Until reads only the monotonic clock: cheaper than time.Now.
	if !c.deadline.IsZero() && (err == nil || c.deadline.Before(at)) && time.Until(c.deadline) <= 0 {
		err = context.DeadlineExceeded
	}
	if err != nil {
		c.finishLocked(err)
	}
}

// cancel ends the context with err unless it has ended already, or
// its deadline or its parent's end came first unobserved.
func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.checkLocked(); c.err == nil {
		c.finishLocked(err)
	}
}

// finishLocked records err and releases what Done made. It runs once:
// every caller checks c.err == nil first.
func (c *callCtx) finishLocked(err error) {
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopParent != nil {
		c.stopParent()
	}
}
