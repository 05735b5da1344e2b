package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// Func is a Child that runs a function as a goroutine of this process:
// each Start calls it again, with a context that Stop cancels.
//
// The function's return is the incarnation's end: nil is a normal exit,
// an error (or a panic, recovered) an abnormal one. After Stop has
// cancelled the context, returning the context's error counts as nil.
// A function that does not return within the stop deadline is
// abandoned: Go cannot kill a goroutine, so it keeps running until it
// returns, and Stop reports core.ErrStopTimeout.
type Func struct {
	name string
	f    func(ctx context.Context) error

	mu   sync.Mutex
	st   core.Status
	cur  *funcRun
	runs sync.WaitGroup // every goroutine started, abandoned ones too
}

// funcRun is one incarnation of a Func.
type funcRun struct {
	cancel   context.CancelFunc
	returned chan struct{} // closed when f has returned
	final    chan struct{} // closed when Status records the end
	err      error         // the exit error, set before final closes
	stopping bool
}

// NewFunc returns a Child that runs f, named name in its Status.
func NewFunc(name string, f func(ctx context.Context) error) (*Func, error) {
	if name == "" || f == nil {
		return nil, fmt.Errorf("%w: NewFunc needs a name and a function", ErrBadSpec)
	}
	return &Func{name: name, f: f, st: core.Status{Name: name, State: core.StateNew}}, nil
}

// Start runs f in a new goroutine and returns at once. It returns
// ErrAlreadyStarted while an incarnation runs or stops.
func (c *Func) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && !closed(c.cur.final) {
		return fmt.Errorf("%w: %s is %s", ErrAlreadyStarted, c.name, c.st.State)
	}
	restarts := c.st.Restarts
	if c.cur != nil {
		restarts++
	}
	runCtx, cancel := context.WithCancel(context.Background())
	r := &funcRun{cancel: cancel, returned: make(chan struct{}), final: make(chan struct{})}
	c.cur = r
	c.st = core.Status{Name: c.name, State: core.StateRunning, PID: os.Getpid(), Started: time.Now(), Restarts: restarts}
	c.runs.Add(1)
	go func() {
		defer c.runs.Done()
		err := callProtected(runCtx, c.f)
		close(r.returned)
		c.finish(r, err)
	}()
	return nil
}

// callProtected calls f, turning a panic into an error.
func callProtected(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	return f(ctx)
}

// finish records the end of r, unless it is already recorded.
func (c *Func) finish(r *funcRun, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if closed(r.final) {
		return
	}
	if r.stopping && errors.Is(err, context.Canceled) {
		err = nil
	}
	r.err = err
	if r == c.cur {
		c.st.Err, c.st.Stopped, c.st.State, c.st.ExitCode = err, time.Now(), core.StateStopped, 0
		if err != nil {
			c.st.State, c.st.ExitCode = core.StateFailed, 1
		}
	}
	r.cancel()
	close(r.final)
}

// Stop cancels the function's context and waits for it to return. When
// ctx ends first the goroutine is abandoned: Stop records the end and
// returns an error matching core.ErrStopTimeout. When ctx has no
// deadline, DefaultShutdown applies.
func (c *Func) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultShutdown)
		defer cancel()
	}
	c.mu.Lock()
	r := c.cur
	if r == nil || closed(r.final) {
		c.mu.Unlock()
		return nil
	}
	r.stopping = true
	c.st.State = core.StateStopping
	c.mu.Unlock()
	r.cancel()
	select {
	case <-r.final:
		return nil
	case <-ctx.Done():
	}
	err := fmt.Errorf("%w: %s (in-process, abandoned)", core.ErrStopTimeout, c.name)
	c.finish(r, err)
	<-r.final
	if r.err != err { // it returned at the last moment
		return nil
	}
	return err
}

// Wait blocks until the current incarnation has ended (or been
// abandoned by Stop) and returns its exit error, or ctx's error when
// ctx ends first. Before the first Start it returns nil.
func (c *Func) Wait(ctx context.Context) error {
	c.mu.Lock()
	r := c.cur
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	select {
	case <-r.final:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status describes the current incarnation.
func (c *Func) Status() core.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// Close stops the function (within DefaultShutdown) and waits, within
// DefaultShutdown more, for every goroutine it started, abandoned ones
// included. It returns an error matching core.ErrStopTimeout when some
// have not returned. It may be called more than once; Start may follow.
func (c *Func) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdown)
	defer cancel()
	err := c.Stop(ctx)
	done := make(chan struct{})
	go func() {
		c.runs.Wait()
		close(done)
	}()
	timer := time.NewTimer(DefaultShutdown)
	defer timer.Stop()
	select {
	case <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("%w: %s: abandoned goroutines still run", core.ErrStopTimeout, c.name)
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
