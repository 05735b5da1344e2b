package supervise

import (
	"github.com/gozmp/zmp/core"
)

// Children describes every child, in start order (OTP's
// which_children). It never waits for the supervisor's goroutine.
func (s *Supervisor) Children() []ChildInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.childInfoLocked()
}

func (s *Supervisor) childInfoLocked() []ChildInfo {
	out := make([]ChildInfo, len(s.children))
	for i, c := range s.children {
		out[i] = ChildInfo{
			Name: c.spec.Name, State: c.state, Restart: c.spec.Restart, Significant: c.spec.Significant,
			Supervisor: c.isSup, PID: c.pid, Restarts: c.restarts, Started: c.started,
		}
		if c.lastExit != nil {
			ex := *c.lastExit
			out[i].LastExit = &ex
		}
	}
	return out
}

// Count counts the children (OTP's count_children).
func (s *Supervisor) Count() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n Counts
	for _, c := range s.children {
		n.Specs++
		if c.state == ChildRunning {
			n.Active++
		}
		if c.isSup {
			n.Supervisors++
		} else {
			n.Workers++
		}
	}
	return n
}

// Stats returns the supervisor's counters, children and recent events.
func (s *Supervisor) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &s.counters
	return Stats{
		Name: s.name, Strategy: s.strategy, State: s.st.State.String(), AutoShutdown: s.cfg.auto,
		MaxRestarts: s.cfg.maxRestarts, Period: s.cfg.period.String(),
		Restarts: c.restarts.Load(), Exits: c.exits.Load(), StartFailures: c.startFailures.Load(),
		Killed: c.killed.Load(), Abandoned: c.abandoned.Load(), Intensity: c.intensity.Load(),
		EventsDropped: c.eventsDropped.Load(), RingDropped: s.ring.dropped,
		Children: s.childInfoLocked(), Recent: s.ring.list(),
	}
}

// Attach registers the supervisor's Stats on p's zmp.stats under
// "supervise.<name>", so that `zmptool info NODE` shows its children
// and restarts. remove takes it away again; it may be called more than
// once.
func (s *Supervisor) Attach(p *core.Peer) (remove func(), err error) {
	return p.AddStats("supervise."+s.name, func() any { return s.Stats() })
}
