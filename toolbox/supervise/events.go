package supervise

import (
	"fmt"
	"time"
)

// EventKind says what happened to a child or to the supervisor.
type EventKind int

// Event kinds.
const (
	// EventStarted: a child started (Restarts > 0: it was a restart).
	EventStarted EventKind = iota
	// EventStartFailed: a child's Start returned Err.
	EventStartFailed
	// EventExited: a child ended by itself; Exit says how.
	EventExited
	// EventRestarting: a restart was decided; Delay is the backoff
	// before it (0: at once).
	EventRestarting
	// EventStopped: the supervisor stopped a child (a sibling's
	// restart, TerminateChild, its own end); Err is Stop's error.
	EventStopped
	// EventKilled: a child process did not stop within its shutdown
	// and was killed (or had BrutalKill).
	EventKilled
	// EventAbandoned: an in-process child did not return within its
	// shutdown; its goroutines were left running (Go cannot kill them).
	EventAbandoned
	// EventRemoved: a child's spec was removed (a Temporary child that
	// ended or was stopped, a SimpleOneForOne child that is not
	// restarted, DeleteChild).
	EventRemoved
	// EventIntensity: more restarts than the intensity allows; the
	// supervisor stops every child and fails (Child names the child
	// whose exit was one too many).
	EventIntensity
	// EventAutoShutdown: significant children ended; the supervisor
	// stops every child and ends normally.
	EventAutoShutdown
)

var eventNames = [...]string{
	"started", "start_failed", "exited", "restarting", "stopped", "killed",
	"abandoned", "removed", "intensity", "auto_shutdown",
}

func (k EventKind) String() string {
	if k < 0 || int(k) >= len(eventNames) {
		return fmt.Sprintf("event(%d)", int(k))
	}
	return eventNames[k]
}

// MarshalText writes the kind's name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Event is one thing that happened under a supervisor.
type Event struct {
	Time       time.Time `json:"time"`
	Supervisor string    `json:"supervisor"`
	Kind       EventKind `json:"kind"`
	Child      string    `json:"child,omitempty"`
	// Exit is set for EventExited.
	Exit *Exit `json:"exit,omitempty"`
	// Err is a start or stop error (EventStartFailed, EventStopped,
	// EventKilled, EventAbandoned) or why the supervisor ended.
	Err error `json:"-"`
	// Error is Err's text, for statistics and JSON.
	Error string `json:"error,omitempty"`
	// Delay is the backoff before a restart (EventRestarting).
	Delay time.Duration `json:"delay,omitempty"`
	// Restarts is the child's restart count after the event.
	Restarts int `json:"restarts,omitempty"`
}
