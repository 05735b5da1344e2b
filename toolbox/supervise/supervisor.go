package supervise

import (
	"context"
	"errors"

	"github.com/gozmp/zmp/core"
)

// errTODO marks the parts of the API not filled in yet.
var errTODO = errors.New("supervise: not implemented yet")

// Supervisor runs children and restarts them by its strategy, restart
// types, intensity and backoff, as an Erlang/OTP supervisor does. It is
// itself a Child, so supervisors nest into trees.
type Supervisor struct {
	name     string
	strategy Strategy
	specs    []Spec
	cfg      config
}

// New returns a supervisor of specs (children started in this order)
// with strategy. For SimpleOneForOne, specs must be empty and
// WithTemplate is required. The supervisor starts with Start; it owns
// the children of specs (see Close).
func New(name string, strategy Strategy, specs []Spec, opts ...Option) (*Supervisor, error) {
	return nil, errTODO
}

// Name returns the supervisor's name.
func (s *Supervisor) Name() string { return s.name }

// Start starts the children in order and returns once all run. When one
// fails to start, the ones already started are stopped in reverse order
// and Start returns an error matching ErrStartFailed and the child's
// own error; the run has then failed (Status().State is
// core.StateFailed). When ctx ends first, Start gives up the same way
// and returns an error matching ctx's. Start returns ErrAlreadyStarted
// during a run and ErrClosed after Close. A run that has ended may be
// followed by another Start: children from specs are started again,
// children added at run time are gone.
func (s *Supervisor) Start(ctx context.Context) error { return errTODO }

// Stop ends the run: it stops the children in reverse start order
// (SimpleOneForOne children all at once), each within its Spec's
// shutdown and within ctx, and returns once all have ended. When ctx
// ends first, the children not yet stopped are killed (or abandoned)
// at once and Stop returns ctx.Err(). The run ends normally: Wait then
// returns nil. Stopping a supervisor that does not run returns nil.
func (s *Supervisor) Stop(ctx context.Context) error { return errTODO }

// Shutdown stops the run as Stop does, then ends the supervisor for
// good as Close does (closing its children), and returns ctx.Err() when
// ctx ends first (the shutdown then goes on; Close waits for it).
func (s *Supervisor) Shutdown(ctx context.Context) error { return errTODO }

// Close stops the run (each child within its own shutdown), closes
// every child the supervisor owns that has a Close method, and waits
// for every goroutine it started. It is idempotent; after it every
// call returns ErrClosed.
func (s *Supervisor) Close() error { return errTODO }

// Wait blocks until the current run has ended, or ctx ends, and returns
// its exit error: nil when Stop or auto-shutdown ended it, an error
// matching ErrIntensity when it failed. Before the first Start it
// returns nil at once.
func (s *Supervisor) Wait(ctx context.Context) error { return errTODO }

// Status describes the supervisor as a core.Status, so that it can be a
// child of another supervisor: State, Err (the run's exit error),
// Started, Stopped, Restarts (Starts after the first) and PID (this
// process).
func (s *Supervisor) Status() core.Status { return core.Status{} }

// StartChild adds a child to a running static supervisor, after the
// others, and starts it (OTP's start_child). It returns ErrNameTaken
// when a child of that name exists, and the child's start error
// (matching ErrStartFailed) when it does not start, in which case it is
// not added. A child added so belongs to this run: it is removed (and
// closed) when the run ends.
func (s *Supervisor) StartChild(ctx context.Context, spec Spec) error { return errTODO }

// Spawn makes a child of a running SimpleOneForOne supervisor with its
// template's New(name, arg) and starts it. An empty name gets a
// generated one, which Spawn returns. The child is removed (and closed)
// when it ends without being restarted and when the run ends.
func (s *Supervisor) Spawn(ctx context.Context, name string, arg any) (string, error) {
	return "", errTODO
}

// TerminateChild stops a child within its shutdown (OTP's
// terminate_child). A static child's spec is kept (RestartChild starts
// it again) unless it is Temporary; a SimpleOneForOne child is removed.
// Stopping it is not an exit: it triggers no restart and no
// auto-shutdown.
func (s *Supervisor) TerminateChild(ctx context.Context, name string) error { return errTODO }

// RestartChild starts a stopped child of a static supervisor again
// (OTP's restart_child). It returns ErrRunning or ErrRestarting for a
// child that runs or waits for its restart.
func (s *Supervisor) RestartChild(ctx context.Context, name string) error { return errTODO }

// DeleteChild removes a stopped child's spec from a static supervisor
// for the rest of the run (OTP's delete_child); a child from New's
// specs comes back at the next Start. It returns ErrRunning or
// ErrRestarting for a child that runs or waits for its restart.
func (s *Supervisor) DeleteChild(ctx context.Context, name string) error { return errTODO }

// Children describes every child, in start order (OTP's
// which_children). It never waits for the supervisor's goroutine.
func (s *Supervisor) Children() []ChildInfo { return nil }

// Count counts the children (OTP's count_children).
func (s *Supervisor) Count() Counts { return Counts{} }

// Stats returns the supervisor's counters, children and recent events.
func (s *Supervisor) Stats() Stats { return Stats{} }

// Attach registers the supervisor's Stats on p's zmp.stats under
// "supervise.<name>", so that `zmptool info NODE` shows its children
// and restarts. remove takes it away again.
func (s *Supervisor) Attach(p *core.Peer) (remove func(), err error) { return nil, errTODO }
