package supervise

import (
	"fmt"
	"time"
)

// ChildState is where a child is, as its supervisor sees it.
type ChildState int

// Child states.
const (
	// ChildStopped: not running, its spec kept (it was terminated, or
	// it ended and is not restarted, or the supervisor is not running).
	ChildStopped ChildState = iota
	// ChildStarting: its Start is under way.
	ChildStarting
	// ChildRunning: started and not ended.
	ChildRunning
	// ChildRestarting: waiting for its restart (backoff, or a start
	// that failed and is tried again).
	ChildRestarting
	// ChildStopping: the supervisor is stopping it.
	ChildStopping
)

var childStateNames = [...]string{"stopped", "starting", "running", "restarting", "stopping"}

func (s ChildState) String() string {
	if s < 0 || int(s) >= len(childStateNames) {
		return fmt.Sprintf("child_state(%d)", int(s))
	}
	return childStateNames[s]
}

// MarshalText writes the state's name.
func (s ChildState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ChildInfo describes one child, as OTP's which_children does and more.
type ChildInfo struct {
	Name        string      `json:"name"`
	State       ChildState  `json:"state"`
	Restart     RestartType `json:"restart"`
	Significant bool        `json:"significant,omitempty"`
	// Supervisor is set when the child is a *Supervisor.
	Supervisor bool `json:"supervisor,omitempty"`
	// PID is the process running the child: another process for a
	// child-process node, this one for in-process children; 0 when it
	// does not run.
	PID int `json:"pid,omitempty"`
	// Restarts counts the supervisor's restarts of this child during
	// the current (or last) run.
	Restarts int `json:"restarts"`
	// Started is when the current (or last) incarnation started.
	Started time.Time `json:"started,omitzero"`
	// LastExit is how the last incarnation that ended by itself ended.
	LastExit *Exit `json:"last_exit,omitempty"`
}

// Counts are OTP's count_children.
type Counts struct {
	Specs       int `json:"specs"`       // children, running or not
	Active      int `json:"active"`      // children running
	Supervisors int `json:"supervisors"` // children that are supervisors
	Workers     int `json:"workers"`     // the others
}

// Stats is a supervisor's introspection: what zmp.stats reports under
// "supervise.<name>" once Attach has registered it.
type Stats struct {
	Name         string       `json:"name"`
	Strategy     Strategy     `json:"strategy"`
	State        string       `json:"state"` // a core.State's text
	AutoShutdown AutoShutdown `json:"auto_shutdown"`
	MaxRestarts  int          `json:"max_restarts"`
	Period       string       `json:"period"`
	// Restarts counts restarts decided, Exits children ending by
	// themselves, StartFailures failed starts, Killed and Abandoned
	// children that did not stop within their shutdown, Intensity the
	// runs that ended by reaching the intensity.
	Restarts      int64 `json:"restarts"`
	Exits         int64 `json:"exits"`
	StartFailures int64 `json:"start_failures"`
	Killed        int64 `json:"killed"`
	Abandoned     int64 `json:"abandoned"`
	Intensity     int64 `json:"intensity"`
	// EventsDropped counts events WithEventFunc's queue had no room
	// for; RingDropped those pushed out of Recent by newer ones.
	EventsDropped int64       `json:"events_dropped"`
	RingDropped   int64       `json:"ring_dropped"`
	Children      []ChildInfo `json:"children"`
	// Recent are the last events, oldest first (WithEventRing).
	Recent []Event `json:"recent"`
}
