package supervise

import "errors"

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrClosed is returned by every operation on a supervisor that
	// Close or Shutdown has ended for good.
	ErrClosed = errors.New("supervise: closed")
	// ErrBadOption reports an option with a value it cannot take, or
	// one given to a supervisor it does not apply to.
	ErrBadOption = errors.New("supervise: bad option")
	// ErrBadSpec reports a child specification that cannot be used: no
	// name, no child, a significant permanent child, a significant
	// child under AutoShutdown Never.
	ErrBadSpec = errors.New("supervise: bad child spec")
	// ErrAlreadyStarted is returned by Start while a run is under way.
	ErrAlreadyStarted = errors.New("supervise: already started")
	// ErrNotRunning is returned by the run-time calls (StartChild,
	// TerminateChild, …) when the supervisor is not running.
	ErrNotRunning = errors.New("supervise: not running")
	// ErrNotFound means the supervisor has no child of that name.
	ErrNotFound = errors.New("supervise: no such child")
	// ErrNameTaken means a child of that name is already present.
	ErrNameTaken = errors.New("supervise: child name taken")
	// ErrRunning is returned by RestartChild and DeleteChild for a
	// child that runs.
	ErrRunning = errors.New("supervise: child is running")
	// ErrRestarting is returned by RestartChild and DeleteChild for a
	// child waiting for its restart.
	ErrRestarting = errors.New("supervise: child is restarting")
	// ErrStrategy is returned by a call the supervisor's strategy does
	// not allow: Spawn on a static supervisor, StartChild, RestartChild
	// or DeleteChild on a SimpleOneForOne one.
	ErrStrategy = errors.New("supervise: not allowed by the strategy")
	// ErrStartFailed wraps the error of a child that did not start:
	// Start returns it (with the child's name and its own error, both
	// matched by errors.Is) after stopping the children it had started.
	ErrStartFailed = errors.New("supervise: child failed to start")
	// ErrIntensity is the exit error of a supervisor that saw more
	// restarts than its intensity allows within its period: it stopped
	// all its children and failed, which its own supervisor sees as an
	// abnormal exit.
	ErrIntensity = errors.New("supervise: restart intensity reached")
)
