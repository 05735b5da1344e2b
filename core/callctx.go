package core

import (
	"context"
	"sync"
	"time"
)

// callCtx is a handler's context. It ends at the request's deadline,
// when the caller cancels, or when the peer closes. Its Done channel,
// deadline timer and link to the peer's context are made only when
// something asks for Done: a handler that never looks at its context
// costs none of them. Err works without Done by checking the clock and
// the peer.
type callCtx struct {
	parent   context.Context // the peer's lifetime
	deadline time.Time       // zero: none

	mu         sync.Mutex
	done       chan struct{}
	err        error
	timer      *time.Timer
	stopParent func() bool
}

var _ context.Context = (*callCtx)(nil)

func newCallCtx(parent context.Context, timeoutMS uint32) *callCtx {
	c := &callCtx{parent: parent}
	if timeoutMS > 0 {
		c.deadline = time.Now().Add(time.Duration(timeoutMS) * time.Millisecond)
	}
	return c
}

func (c *callCtx) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *callCtx) Value(key any) any { return c.parent.Value(key) }

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
	c.checkLocked()
	if c.err != nil {
		close(c.done)
		return c.done
	}
	if !c.deadline.IsZero() {
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.cancel(context.DeadlineExceeded) })
	}
	c.stopParent = context.AfterFunc(c.parent, func() { c.cancel(context.Canceled) })
	return c.done
}

func (c *callCtx) String() string { return "zmp handler context" }

// checkLocked notices an expired deadline or a closed peer.
func (c *callCtx) checkLocked() {
	if c.err != nil {
		return
	}
	if c.parent.Err() != nil {
		c.finishLocked(context.Canceled)
	} else if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		c.finishLocked(context.DeadlineExceeded)
	}
}

// cancel ends the context with err unless it has ended already.
func (c *callCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.finishLocked(err)
	}
}

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
