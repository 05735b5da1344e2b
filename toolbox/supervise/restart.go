package supervise

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// onExit handles the end of an incarnation that the supervisor did not
// cause: OTP's restart decision.
func (l *loop) onExit(m exitMsg) {
	c := m.c
	if c.gen != m.gen || c.state != ChildRunning || !slices.Contains(l.s.children, c) {
		return // stale: the supervisor has stopped or replaced it since
	}
	<-c.monDone
	ex := exitOf(l.s.cfg.clock.Now(), m.err, c.spec.Child.Status())
	l.s.mu.Lock()
	c.state, c.pid, c.lastExit = ChildStopped, 0, &ex
	l.s.mu.Unlock()
	l.s.counters.exits.Add(1)
	l.s.emit(Event{Kind: EventExited, Child: c.spec.Name, Exit: &ex, Err: ex.Err, Restarts: c.restarts})
	if c.spec.Restart == Permanent || (c.spec.Restart == Transient && !ex.Normal) {
		if ex.Time.Sub(c.started) >= l.s.cfg.backoff.ResetAfter {
			c.streak = 0
		}
		l.restart(c)
		return
	}
	if c.spec.Restart == Temporary || c.dynamic && l.s.strategy == SimpleOneForOne {
		l.remove(c)
	}
	l.autoShutdown(c)
}

// autoShutdown ends the run when c, a child that ended by itself and
// is not restarted, is significant and the setting says so.
func (l *loop) autoShutdown(c *child) {
	if !c.spec.Significant || l.s.cfg.auto == Never {
		return
	}
	if l.s.cfg.auto == AllSignificant {
		for _, x := range l.s.children {
			if x != c && x.spec.Significant && x.active() {
				return
			}
		}
	}
	l.s.emit(Event{Kind: EventAutoShutdown, Child: c.spec.Name})
	l.end(nil)
}

// addRestart records a restart decided now and reports whether the
// intensity allows it.
func (l *loop) addRestart(now time.Time) bool {
	period := l.s.cfg.period
	l.restarts = slices.DeleteFunc(l.restarts, func(t time.Time) bool { return now.Sub(t) >= period })
	l.restarts = append(l.restarts, now)
	return len(l.restarts) <= l.s.cfg.maxRestarts
}

// restart restarts c by the strategy, after its backoff delay, unless
// the intensity is reached, which ends the run.
func (l *loop) restart(c *child) {
	if !l.addRestart(l.s.cfg.clock.Now()) {
		err := fmt.Errorf("%w: more than %d restarts in %v (last: %s)", ErrIntensity, l.s.cfg.maxRestarts, l.s.cfg.period, c.spec.Name)
		l.s.counters.intensity.Add(1)
		l.s.emit(Event{Kind: EventIntensity, Child: c.spec.Name, Err: err, Restarts: c.restarts})
		l.end(err)
		return
	}
	l.s.counters.restarts.Add(1)
	c.streak++
	l.s.mu.Lock()
	c.restarts++
	l.s.mu.Unlock()
	delay := l.s.cfg.backoff.delay(c.streak, l.s.cfg.rand())
	l.s.emit(Event{Kind: EventRestarting, Child: c.spec.Name, Delay: delay, Restarts: c.restarts})
	scope := l.clearScope(c)
	l.absorbJobs(scope)
	if delay == 0 {
		l.startPending(scope)
		return
	}
	l.schedule(&restartJob{trigger: c.spec.Name, scope: scope}, delay)
}

// clearScope stops the running children of c's restart scope other
// than c, in reverse order, removes the Temporary ones and marks the
// others, and c, as restarting. It returns the names of the scope.
func (l *loop) clearScope(c *child) map[string]bool {
	var scope []*child
	switch l.s.strategy {
	case OneForAll:
		scope = slices.Clone(l.s.children)
	case RestForOne:
		i := slices.Index(l.s.children, c)
		scope = slices.Clone(l.s.children[i:])
	default:
		scope = []*child{c}
	}
	names := map[string]bool{}
	for _, x := range slices.Backward(scope) {
		if x != c && x.state == ChildRunning {
			l.stopChild(context.Background(), x)
		}
		if x.spec.Restart == Temporary {
			l.remove(x)
			continue
		}
		names[x.spec.Name] = true
		if x.state == ChildStopped {
			l.s.setChild(x, ChildRestarting, 0)
		}
	}
	return names
}

// startPending starts, in order, the restarting children of scope. A
// failure leaves it and those after it restarting, and queues another
// restart of it.
func (l *loop) startPending(scope map[string]bool) {
	for _, c := range slices.Clone(l.s.children) {
		if l.ending || l.r.ctx.Err() != nil {
			return
		}
		if !scope[c.spec.Name] || c.state != ChildRestarting || l.waitingJob(c) != nil {
			continue
		}
		if err := l.startChild(l.r.ctx, c); err != nil {
			l.s.setChild(c, ChildRestarting, 0)
			l.again = append(l.again, c)
			return
		}
	}
}

// tryAgain restarts a child whose restart failed to start, as OTP's
// try_again_restart does: a new restart, counted.
func (l *loop) tryAgain(c *child) {
	if c.state != ChildRestarting || !slices.Contains(l.s.children, c) {
		return
	}
	l.restart(c)
}

// schedule runs job after delay, through the loop. The timer counts as
// a watcher from now: its callback, or cancelJob when it stops the
// timer first, marks it done.
func (l *loop) schedule(job *restartJob, delay time.Duration) {
	l.jobs = append(l.jobs, job)
	l.watchers.Add(1)
	job.cancel = l.s.cfg.clock.AfterFunc(delay, func() {
		defer l.watchers.Done()
		select {
		case l.timers <- timerMsg{job: job}:
		case <-l.quit:
		}
	})
}

// absorbJobs cancels the waiting restarts whose trigger is in scope
// and adds their scopes to it: the restart being decided covers them.
func (l *loop) absorbJobs(scope map[string]bool) {
	l.jobs = slices.DeleteFunc(l.jobs, func(j *restartJob) bool {
		if !scope[j.trigger] {
			return false
		}
		l.cancelJob(j)
		for name := range j.scope {
			scope[name] = true
		}
		return true
	})
}

// cancelJob stops a job's timer if it has not fired.
func (l *loop) cancelJob(j *restartJob) {
	if !j.fired && j.cancel() {
		l.watchers.Done()
	}
	j.fired = true
}

// onTimer starts what a delayed restart covers, unless an earlier
// child of its scope still waits for its own delay (RestForOne): that
// one's restart will start them.
func (l *loop) onTimer(job *restartJob) {
	if !slices.Contains(l.jobs, job) {
		return // absorbed by a later restart after its timer fired
	}
	job.fired = true
	l.jobs = slices.DeleteFunc(l.jobs, func(j *restartJob) bool { return j == job })
	if l.ending {
		return
	}
	l.startPending(job.scope)
}

// waitingJob returns a pending delayed restart whose scope holds c and
// that has not fired, or nil.
func (l *loop) waitingJob(c *child) *restartJob {
	for _, j := range l.jobs {
		if j.scope[c.spec.Name] {
			return j
		}
	}
	return nil
}
