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

// Attach registers the supervisor on p's zmp.stats under
// "supervise.<name>", so that `zmptool info NODE` shows it: its
// counters, each child by name (state, restarts, PID, last exit) and
// its last AttachedEvents events as lines of text — a compact form of
// Stats. remove takes it away again; it may be called more than once.
func (s *Supervisor) Attach(p *core.Peer) (remove func(), err error) {
	return p.AddStats("supervise."+s.name, func() any { return s.attached() })
}

// AttachedEvents is how many recent events Attach publishes.
const AttachedEvents = 8

// attachedStats is what Attach publishes: flat enough for zmptool info.
type attachedStats struct {
	Strategy      Strategy               `json:"strategy"`
	State         string                 `json:"state"`
	Restarts      int64                  `json:"restarts"`
	Exits         int64                  `json:"exits"`
	StartFailures int64                  `json:"start_failures"`
	Killed        int64                  `json:"killed"`
	Abandoned     int64                  `json:"abandoned"`
	Intensity     int64                  `json:"intensity"`
	EventsDropped int64                  `json:"events_dropped"`
	Children      map[string]attachedKid `json:"children"`
	Recent        []string               `json:"recent"`
}

type attachedKid struct {
	State    ChildState `json:"state"`
	Restarts int        `json:"restarts"`
	PID      int        `json:"pid,omitempty"`
	LastExit *Exit      `json:"last_exit,omitempty"`
}

func (s *Supervisor) attached() attachedStats {
	st := s.Stats()
	a := attachedStats{
		Strategy: st.Strategy, State: st.State, Restarts: st.Restarts, Exits: st.Exits,
		StartFailures: st.StartFailures, Killed: st.Killed, Abandoned: st.Abandoned,
		Intensity: st.Intensity, EventsDropped: st.EventsDropped, Children: map[string]attachedKid{},
	}
	for _, c := range st.Children {
		a.Children[c.Name] = attachedKid{State: c.State, Restarts: c.Restarts, PID: c.PID, LastExit: c.LastExit}
	}
	for _, ev := range st.Recent[max(0, len(st.Recent)-AttachedEvents):] {
		line := ev.Time.Format("15:04:05.000") + " " + ev.Kind.String()
		if ev.Child != "" {
			line += " " + ev.Child
		}
		if ev.Error != "" {
			line += ": " + ev.Error
		}
		a.Recent = append(a.Recent, line)
	}
	return a
}
