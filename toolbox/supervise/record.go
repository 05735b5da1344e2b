package supervise

import (
	"context"
	"log/slog"

	"github.com/gozmp/zmp/core"
)

// setState records the run's state.
func (s *Supervisor) setState(st core.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.State == core.StateStarting {
		s.st.State = st
	}
}

// setChild records a child's state and PID.
func (s *Supervisor) setChild(c *child, st ChildState, pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.state, c.pid = st, pid
}

// endRun records the end of r: its status is final before Wait returns.
func (s *Supervisor) endRun(r *run, err error) {
	s.mu.Lock()
	r.err = err
	s.st.Err, s.st.Stopped, s.st.State = err, s.cfg.clock.Now(), core.StateStopped
	if err != nil {
		s.st.State = core.StateFailed
	}
	s.mu.Unlock()
	r.cancel()
	close(r.done)
}

// emit logs ev, keeps it in the ring and queues it for WithEventFunc's
// function, dropping it (counted) when that queue is full.
func (s *Supervisor) emit(ev Event) {
	ev.Time = s.cfg.clock.Now()
	ev.Supervisor = s.name
	if ev.Err != nil {
		ev.Error = ev.Err.Error()
	}
	s.log(ev)
	s.mu.Lock()
	s.ring.push(ev)
	s.mu.Unlock()
	if s.events == nil {
		return
	}
	select {
	case s.events <- ev:
	default:
		s.counters.eventsDropped.Add(1)
	}
}

// log writes ev at a level that fits it.
func (s *Supervisor) log(ev Event) {
	level := slog.LevelInfo
	switch ev.Kind {
	case EventExited:
		if !ev.Exit.Normal {
			level = slog.LevelWarn
		}
	case EventStartFailed, EventRestarting, EventKilled, EventAbandoned:
		level = slog.LevelWarn
	case EventIntensity:
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("supervisor", s.name), slog.String("event", ev.Kind.String())}
	if ev.Child != "" {
		attrs = append(attrs, slog.String("child", ev.Child), slog.Int("restarts", ev.Restarts))
	}
	if ev.Kind == EventRestarting {
		attrs = append(attrs, slog.Duration("delay", ev.Delay))
	}
	if ev.Exit != nil {
		attrs = append(attrs, slog.Bool("normal", ev.Exit.Normal), slog.Int("exit_code", ev.Exit.ExitCode))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Error))
	}
	s.cfg.logger.LogAttrs(context.Background(), level, "supervise: "+ev.Kind.String(), attrs...)
}

// ring keeps the last max events.
type ring struct {
	max     int
	events  []Event
	next    int
	dropped int64
}

func (r *ring) push(ev Event) {
	if len(r.events) < r.max {
		r.events = append(r.events, ev)
		return
	}
	r.events[r.next] = ev
	r.next = (r.next + 1) % r.max
	r.dropped++
}

// list returns the events, oldest first.
func (r *ring) list() []Event {
	out := make([]Event, 0, len(r.events))
	out = append(out, r.events[r.next:]...)
	return append(out, r.events[:r.next]...)
}
