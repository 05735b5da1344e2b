// Package supervise keeps zmp nodes running: a Supervisor owns child
// nodes — in-process *core.Node, child-process *core.Node from a
// core.Launcher, nested *Supervisor, *Func goroutines, or any Child of
// your own — and restarts them by policy, as Erlang/OTP supervisors do.
//
// # Strategies and restart types
//
// When a child ends by itself, its restart type decides whether it is
// restarted: Permanent always, Transient only after an abnormal exit
// (see Exit.Normal: a failed state, an error, a non-zero exit code or a
// signal), Temporary never (it is removed). A restart is done by the
// strategy: OneForOne restarts the child alone; OneForAll stops every
// other child in reverse start order and starts all again in order;
// RestForOne does the same for the child and those started after it;
// SimpleOneForOne is OneForOne for children made at run time from one
// Template (Spawn). A Temporary child stopped by a sibling's restart is
// removed, never restarted. As in OTP, a OneForAll or RestForOne
// restart starts every non-Temporary child in its scope, also one that
// was not running (terminated, or a Transient one that had exited
// normally).
//
// # Intensity and backoff
//
// More than MaxRestarts restarts within Period (WithIntensity, default
// 3 in 5 s) make the supervisor stop all its children in reverse start
// order and fail with ErrIntensity — an abnormal exit its own
// supervisor restarts it after. (OTP ends such a supervisor with reason
// shutdown, which a transient parent spec does not restart; zmp treats
// it as the failure it is.) Restarts of one child that keeps failing
// are spaced by exponential backoff with jitter (WithBackoff, default
// DefaultBackoff: the first restart at once, then 50 ms doubling to
// 5 s, ±20 %, reset once the child stayed up 10 s); NoBackoff restarts
// at once as OTP does. A restart whose Start fails is tried again, and
// counts as another restart.
//
// # Start, stop, shutdown
//
// Start starts the children in order; when one fails, those started are
// stopped in reverse order and Start returns ErrStartFailed. Stop stops
// them in reverse order. Each child gets its Spec.Shutdown (default
// DefaultShutdown) to stop: its Stop's context ends then, which makes a
// child-process node SIGKILLed (core sends SIGTERM first) and an
// in-process one abandoned; BrutalKill gives no time at all.
// Significant children end their supervisor normally when they end by
// themselves (WithAutoShutdown: AnySignificant, AllSignificant), not
// when the supervisor stops them.
//
// # In-process children
//
// Goroutines cannot be killed. An in-process child (an in-process
// core.Node, a Func) that ignores its context's end past its shutdown is
// abandoned: reported (EventAbandoned, Stats.Abandoned), its peer
// closed by core, and its code left running until it returns — while
// the supervisor may already have started its next incarnation. Every
// strategy works with in-process children that honour their context
// (return from Update, Teardown and their handlers when it ends);
// OneForOne and SimpleOneForOne are safe even with children that do
// not, since no healthy child is stopped for another's failure. Under
// OneForAll and RestForOne a misbehaving in-process sibling is
// abandoned at each restart and piles up goroutines: prefer child
// processes there, which are killed.
//
// # Run-time API and introspection
//
// StartChild, Spawn, TerminateChild, RestartChild and DeleteChild are
// OTP's start_child, terminate_child, restart_child and delete_child.
// Children and Count describe the children (name, state, restarts, last
// exit, PID of child processes) without waiting for the supervisor.
// Every start, exit, restart and stop is logged (WithLogger), counted,
// kept in a ring of recent events (Stats), and passed to WithEventFunc's
// function through a bounded queue that never holds the supervisor up.
// Attach publishes a compact form of Stats in a peer's zmp.stats, where
// `zmptool info` shows it.
//
// # Lifecycle
//
// New checks the specs and options and starts nothing but, with
// WithEventFunc, the goroutine that calls it. Start begins a run; the
// run ends by Stop, by auto-shutdown (Wait returns nil) or by reaching
// the intensity (Wait returns ErrIntensity); Start may then begin
// another, which is what a parent supervisor does. Shutdown and Close
// end the supervisor for good: they stop the run, close the children it
// owns and wait for every goroutine it started. Close is idempotent;
// Shutdown returns ctx.Err() when its context ends first.
//
// # Errors
//
// Sentinels, matched with errors.Is: ErrClosed, ErrBadOption,
// ErrBadSpec, ErrAlreadyStarted, ErrNotRunning, ErrNotFound,
// ErrNameTaken, ErrRunning, ErrRestarting, ErrStrategy, ErrStartFailed
// (wrapping the child's own error too) and ErrIntensity.
//
// docs/supervision.md walks through a supervision tree.
package supervise
