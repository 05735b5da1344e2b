package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// loop is the goroutine of one run: it starts, watches, restarts and
// stops the children, one thing at a time, as an OTP supervisor
// process does. Requests, exits and due restarts reach it on channels.
type loop struct {
	s        *Supervisor
	r        *run
	exits    chan exitMsg
	timers   chan timerMsg
	quit     chan struct{} // closed when the loop stops taking messages
	watchers sync.WaitGroup
	restarts []time.Time   // restarts decided, for the intensity
	again    []*child      // failed restarts to try again
	jobs     []*restartJob // restarts waiting for their delay
	seq      int           // for Spawn's generated names

	ending  bool
	endErr  error           // nil: a normal end (Stop, auto-shutdown)
	stopCtx context.Context // the Stop's, when a Stop ended the run
}

func newLoop(s *Supervisor, r *run) *loop {
	return &loop{
		s: s, r: r, exits: make(chan exitMsg), timers: make(chan timerMsg),
		quit: make(chan struct{}),
	}
}

// main starts the children, serves the run, then ends it.
func (l *loop) main(startCtx context.Context) {
	err := l.startAll(startCtx)
	if err == nil {
		l.s.setState(core.StateRunning) // before Start returns
	}
	l.r.started <- err
	if err != nil {
		l.finish(err)
		return
	}
	for !l.ending {
		l.step()
	}
	l.finish(l.endErr)
}

// step handles one message, or one failed restart to try again.
func (l *loop) step() {
	if len(l.again) > 0 && l.r.ctx.Err() == nil {
		c := l.again[0]
		l.again = l.again[1:]
		l.tryAgain(c)
		return
	}
	select {
	case req := <-l.r.reqs:
		req.reply <- req.do(req.ctx, l)
	case m := <-l.exits:
		l.onExit(m)
	case m := <-l.timers:
		l.onTimer(m.job)
	case ctx := <-l.r.stopCh:
		l.end(nil)
		l.stopCtx = ctx // ended by Stop: a normal end
	}
}

// end marks the run as ending; main stops the children next.
func (l *loop) end(err error) {
	if !l.ending {
		l.ending, l.endErr = true, err
	}
}

// startAll starts every child in order; on a failure it stops those
// started, in reverse order.
func (l *loop) startAll(ctx context.Context) error {
	for _, c := range l.s.children {
		if err := l.startChild(ctx, c); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrStartFailed, c.spec.Name, err)
		}
	}
	return nil
}

// finish stops every child, forgets the run's own children and records
// the end of the run.
func (l *loop) finish(err error) {
	if l.stopCtx == nil { // a Stop during the first start, or none
		select {
		case l.stopCtx = <-l.r.stopCh:
		default:
		}
	}
	ctx := l.stopCtx
	if ctx == nil {
		ctx = context.Background()
	}
	l.stopAll(ctx)
	for _, j := range l.jobs {
		l.cancelJob(j)
	}
	close(l.quit)
	l.watchers.Wait()
	l.dropDynamic()
	l.s.endRun(l.r, err)
}

// stopAll stops the running children: in reverse start order, or all
// at once for SimpleOneForOne.
func (l *loop) stopAll(ctx context.Context) {
	var live []*child
	for _, c := range l.s.children {
		if c.state == ChildRunning {
			live = append(live, c)
		} else if c.state == ChildRestarting {
			l.s.setChild(c, ChildStopped, 0)
		}
	}
	if l.s.strategy != SimpleOneForOne {
		for _, c := range slices.Backward(live) {
			l.stopChild(ctx, c)
		}
		return
	}
	l.stopParallel(ctx, live)
}

// stopParallel stops children at once, then reports each in order.
func (l *loop) stopParallel(ctx context.Context, cs []*child) {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		l.s.setChild(c, ChildStopping, c.pid)
		c.monCancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := shutdownCtx(ctx, c.shutdown())
			defer cancel()
			errs[i] = c.spec.Child.Stop(sctx)
		}()
	}
	wg.Wait()
	for i, c := range cs {
		<-c.monDone
		l.stopped(c, errs[i])
	}
}

// dropDynamic removes the children added at run time and closes them.
func (l *loop) dropDynamic() {
	var keep []*child
	for _, c := range l.s.children {
		if c.dynamic {
			l.closeLater(c)
			continue
		}
		keep = append(keep, c)
	}
	l.s.mu.Lock()
	l.s.children = keep
	l.s.mu.Unlock()
}

// closeLater closes a child the run owned, in a goroutine Close waits
// for (a core.Node's Close may wait for an abandoned incarnation).
func (l *loop) closeLater(c *child) {
	if !c.dynamic {
		return
	}
	l.s.goFunc(func() { closeChild(c.spec.Child) })
}

// startChild starts c and watches it; a failure is reported and
// counted and leaves c stopped.
func (l *loop) startChild(ctx context.Context, c *child) error {
	l.s.setChild(c, ChildStarting, 0)
	sctx, cancel := context.WithTimeout(ctx, l.s.cfg.startTimeout)
	stop := context.AfterFunc(l.r.ctx, cancel)
	err := c.spec.Child.Start(sctx)
	stop()
	cancel()
	if err != nil {
		l.s.setChild(c, ChildStopped, 0)
		if l.r.ctx.Err() == nil {
			l.s.counters.startFailures.Add(1)
		}
		l.s.emit(Event{Kind: EventStartFailed, Child: c.spec.Name, Err: err, Restarts: c.restarts})
		return err
	}
	st := c.spec.Child.Status()
	l.s.mu.Lock()
	c.state, c.pid, c.started = ChildRunning, st.PID, l.s.cfg.clock.Now()
	l.s.mu.Unlock()
	l.watch(c)
	l.s.emit(Event{Kind: EventStarted, Child: c.spec.Name, Restarts: c.restarts})
	return nil
}

// watch waits, in a goroutine, for the end of c's new incarnation and
// reports it to the loop, unless the loop stops watching first.
func (l *loop) watch(c *child) {
	c.gen++
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.monCancel, c.monDone = cancel, done
	msg := exitMsg{c: c, gen: c.gen}
	l.goWatch(func() {
		defer close(done)
		msg.err = c.spec.Child.Wait(ctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case l.exits <- msg:
		case <-ctx.Done():
		}
	})
}

// goWatch runs f in a goroutine that the end of the run waits for.
func (l *loop) goWatch(f func()) {
	l.watchers.Add(1)
	go func() {
		defer l.watchers.Done()
		f()
	}()
}

// shutdownCtx is the context of a child's Stop: ctx bounded by d, or
// already ended for BrutalKill.
func shutdownCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d < 0 {
		return context.WithDeadline(ctx, time.Unix(0, 0))
	}
	return context.WithTimeout(ctx, d)
}

// stopChild stops a running child within its shutdown and ctx.
func (l *loop) stopChild(ctx context.Context, c *child) {
	l.s.setChild(c, ChildStopping, c.pid)
	c.monCancel()
	sctx, cancel := shutdownCtx(ctx, c.shutdown())
	err := c.spec.Child.Stop(sctx)
	cancel()
	<-c.monDone
	l.stopped(c, err)
}

// stopped records that the supervisor stopped c, and how.
func (l *loop) stopped(c *child, err error) {
	pid := c.pid
	l.s.setChild(c, ChildStopped, 0)
	kind := EventStopped
	if errors.Is(err, core.ErrStopTimeout) {
		kind = EventAbandoned
		if pid > 0 && pid != os.Getpid() {
			kind = EventKilled
		}
	}
	switch kind {
	case EventKilled:
		l.s.counters.killed.Add(1)
	case EventAbandoned:
		l.s.counters.abandoned.Add(1)
	}
	l.s.emit(Event{Kind: kind, Child: c.spec.Name, Err: err, Restarts: c.restarts})
}

// remove takes c out of the children, and closes it if the run owns it.
func (l *loop) remove(c *child) {
	l.s.mu.Lock()
	l.s.children = slices.DeleteFunc(l.s.children, func(x *child) bool { return x == c })
	l.s.mu.Unlock()
	l.closeLater(c)
	l.s.emit(Event{Kind: EventRemoved, Child: c.spec.Name, Restarts: c.restarts})
}

// find returns the child named name, or nil.
func (l *loop) find(name string) *child {
	for _, c := range l.s.children {
		if c.spec.Name == name {
			return c
		}
	}
	return nil
}
