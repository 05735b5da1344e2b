package supervise

import (
	"context"
	"time"

	"github.com/gozmp/zmp/core"
)

// Child is what a supervisor runs: a *core.Node (in-process or a child
// process), a *Supervisor (a subtree), a *Func, or a type of your own.
// The supervisor calls its methods from one goroutine at a time, except
// Wait and Status, which it calls while other calls may run.
//
// A Child runs in incarnations, as a core.Node does: Start begins one,
// and the incarnation ends either by itself or because Stop ended it.
//
//   - Start begins a new incarnation and returns once it runs, or with
//     the reason it could not start (the incarnation is then over).
//     The supervisor calls Start again after Wait has returned.
//   - Stop ends the current incarnation and returns once it has ended.
//     Past ctx's deadline it must end it at once: kill a process, or
//     abandon code that cannot be killed, and return an error matching
//     core.ErrStopTimeout. Stopping a child that does not run returns
//     nil.
//   - Wait blocks until the current incarnation has ended, or ctx ends
//     (then it returns ctx.Err()), and returns the incarnation's exit
//     error: nil for a normal end.
//   - Status describes the child; once Wait has returned, it describes
//     the incarnation's end (State, Err, ExitCode). Name is ignored:
//     the supervisor uses the Spec's.
//
// A child that also has a Close() error method is closed by the
// supervisor that owns it (see Supervisor.Close).
type Child interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Wait(ctx context.Context) error
	Status() core.Status
}

// Exit describes how an incarnation of a child ended by itself.
type Exit struct {
	Time time.Time `json:"time"`
	// Normal is false for an abnormal exit, one that Transient children
	// are restarted after: an incarnation that ended with
	// core.StateFailed, a non-nil exit error (Wait's, or Status().Err),
	// or a non-zero ExitCode (a child process that exited with a code
	// other than 0 or was killed by a signal, whose code is -1). A node
	// that ended with core.StateStopped, a nil error and code 0 (its
	// Update returned core.ErrStop, or a child process exited 0) exited
	// normally. A supervisor that shut itself down (auto-shutdown)
	// exits normally; one that reached its restart intensity does not.
	Normal   bool  `json:"normal"`
	ExitCode int   `json:"exit_code"`
	Err      error `json:"-"`
	// Error is Err's text, for statistics and JSON.
	Error string `json:"error,omitempty"`
}

// exitOf classifies an ended incarnation from Wait's error and the
// child's final Status.
func exitOf(now time.Time, waitErr error, st core.Status) Exit {
	err := waitErr
	if err == nil {
		err = st.Err
	}
	e := Exit{Time: now, ExitCode: st.ExitCode, Err: err}
	e.Normal = err == nil && st.State != core.StateFailed && st.ExitCode == 0
	if err != nil {
		e.Error = err.Error()
	}
	return e
}
