package supervise

import (
	"fmt"
	"time"
)

// Strategy says what a supervisor does when a child ends and is to be
// restarted.
type Strategy int

// Strategies, as in Erlang/OTP.
const (
	// OneForOne restarts only the child that ended.
	OneForOne Strategy = iota
	// OneForAll stops every other child (in reverse start order), then
	// starts all children again in start order.
	OneForAll
	// RestForOne stops the children started after the one that ended
	// (in reverse order), then starts it and them again in order.
	RestForOne
	// SimpleOneForOne is OneForOne for children made at run time from
	// one Template (WithTemplate) by Spawn. They are stopped all at
	// once, in no defined order.
	SimpleOneForOne
)

var strategyNames = [...]string{"one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"}

func (s Strategy) String() string {
	if s < 0 || int(s) >= len(strategyNames) {
		return fmt.Sprintf("strategy(%d)", int(s))
	}
	return strategyNames[s]
}

// MarshalText writes the strategy's OTP name.
func (s Strategy) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// RestartType says whether a child that ended is restarted.
type RestartType int

// Restart types, as in Erlang/OTP. The zero value is Permanent.
const (
	// Permanent children are always restarted.
	Permanent RestartType = iota
	// Transient children are restarted only after an abnormal exit
	// (see Exit.Normal).
	Transient
	// Temporary children are never restarted: one that ends is removed,
	// and so is one that a sibling's restart stops under OneForAll or
	// RestForOne.
	Temporary
)

var restartNames = [...]string{"permanent", "transient", "temporary"}

func (r RestartType) String() string {
	if r < 0 || int(r) >= len(restartNames) {
		return fmt.Sprintf("restart(%d)", int(r))
	}
	return restartNames[r]
}

// MarshalText writes the restart type's OTP name.
func (r RestartType) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// AutoShutdown says when significant children ending by themselves end
// their supervisor (normally: its exit error is nil).
type AutoShutdown int

// Auto-shutdown settings, as in Erlang/OTP.
const (
	// Never: significant children are not allowed (the default).
	Never AutoShutdown = iota
	// AnySignificant: the supervisor shuts down when any significant
	// child ends by itself and is not restarted (a Transient one that
	// exits normally, a Temporary one that exits in any way).
	AnySignificant
	// AllSignificant: the supervisor shuts down when a significant
	// child ends so and no other significant child is running or
	// waiting for its restart.
	AllSignificant
)

var autoNames = [...]string{"never", "any_significant", "all_significant"}

func (a AutoShutdown) String() string {
	if a < 0 || int(a) >= len(autoNames) {
		return fmt.Sprintf("auto_shutdown(%d)", int(a))
	}
	return autoNames[a]
}

// MarshalText writes the setting's OTP name.
func (a AutoShutdown) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Shutdown values of a Spec.
const (
	// DefaultShutdown is how long a child is given to stop when its
	// Spec.Shutdown is 0: past it a child process is killed (SIGKILL)
	// and an in-process child is abandoned.
	DefaultShutdown = 5 * time.Second
	// BrutalKill as Spec.Shutdown stops a child without waiting: its
	// Stop gets a context that has already ended, which kills a
	// child-process node at once and abandons in-process code that has
	// not returned.
	BrutalKill time.Duration = -1
)

// Spec describes one child of a static supervisor (OneForOne,
// OneForAll, RestForOne).
type Spec struct {
	// Name identifies the child among its siblings, in logs, events and
	// statistics. Required, unique within the supervisor.
	Name string
	// Child is what runs. The supervisor reuses it for every restart
	// (calling Start again), so it must support Start after its Wait
	// has returned, as *core.Node and *Supervisor do.
	Child Child
	// Restart is Permanent (the zero value), Transient or Temporary.
	Restart RestartType
	// Shutdown is how long the child is given to stop (the deadline of
	// the context its Stop gets): 0 means DefaultShutdown, BrutalKill
	// means none. A child that is itself a supervisor needs long enough
	// for its own children to stop, in reverse order, one after another.
	Shutdown time.Duration
	// Significant children end their supervisor as WithAutoShutdown
	// says. Only Transient and Temporary children may be significant,
	// and only when auto-shutdown is not Never.
	Significant bool
}

// Template describes the children of a SimpleOneForOne supervisor,
// all made by New at run time (Spawn).
type Template struct {
	// New makes the child Spawn asked for, with the name and argument
	// Spawn was given. It runs in the supervisor's goroutine: it should
	// only build the child (Start runs it). Required.
	New func(name string, arg any) (Child, error)
	// Restart, Shutdown and Significant apply to every child, as in a
	// Spec.
	Restart     RestartType
	Shutdown    time.Duration
	Significant bool
}
