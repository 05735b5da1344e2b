package supervise

import (
	"context"
	"sync"
	"time"
)

// run is one run of a supervisor, from Start to the end of its
// children. Its goroutine (a loop) owns the children while it lasts.
type run struct {
	// ctx ends when Stop or Close begins: child starts under way give
	// up. It is never the context of a child's Stop.
	ctx      context.Context
	cancel   context.CancelFunc
	reqs     chan request
	stopCh   chan context.Context // the first Stop's context
	stopOnce sync.Once
	started  chan error // the outcome of the first start of the children
	done     chan struct{}
	err      error // the run's exit error, set before done is closed
}

func newRun() *run {
	ctx, cancel := context.WithCancel(context.Background())
	return &run{
		ctx: ctx, cancel: cancel, reqs: make(chan request), stopCh: make(chan context.Context, 1),
		started: make(chan error, 1), done: make(chan struct{}),
	}
}

// requestStop asks the run to end, its children stopped within ctx.
func (r *run) requestStop(ctx context.Context) {
	r.stopOnce.Do(func() {
		r.cancel()
		r.stopCh <- ctx
	})
}

// request is a run-time call carried out by the run's goroutine.
type request struct {
	ctx   context.Context
	do    func(ctx context.Context, l *loop) error
	reply chan error
}

// child is the supervisor's record of one child.
type child struct {
	spec    Spec
	dynamic bool // added at run time: belongs to the run
	isSup   bool

	// Fields below change in the run's goroutine, under the
	// supervisor's mu; that goroutine may read them without it.
	state    ChildState
	pid      int
	started  time.Time
	restarts int
	lastExit *Exit

	// Owned by the run's goroutine alone.
	gen       int                // incarnations started
	monCancel context.CancelFunc // stops watching the incarnation
	monDone   chan struct{}      // closed when the watcher has returned
	streak    int                // restarts since it last stayed up ResetAfter
}

func newChild(sp Spec, dynamic bool) *child {
	_, isSup := sp.Child.(*Supervisor)
	return &child{spec: sp, dynamic: dynamic, isSup: isSup}
}

// shutdown is how long the child is given to stop; negative: none.
func (c *child) shutdown() time.Duration {
	if c.spec.Shutdown == 0 {
		return DefaultShutdown
	}
	return c.spec.Shutdown
}

// active reports whether the child runs or waits to: what OTP counts
// for all_significant.
func (c *child) active() bool {
	return c.state == ChildRunning || c.state == ChildStarting || c.state == ChildRestarting
}

// exitMsg reports the end of incarnation gen of c.
type exitMsg struct {
	c   *child
	gen int
	err error
}

// timerMsg says a delayed restart of trigger is due.
type timerMsg struct {
	job *restartJob
}

// restartJob is a restart waiting for its backoff delay.
type restartJob struct {
	trigger string
	scope   map[string]bool // the children it starts, when still waiting
	cancel  func() bool
	fired   bool
}
