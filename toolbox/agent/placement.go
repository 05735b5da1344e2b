package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// entry is one node placed on the agent: its spec, the node (a child
// process of the launcher's), the supervisor that keeps it running, and
// its output.
type entry struct {
	spec   Spec
	node   *core.Node
	sup    *supervise.Supervisor
	logs   *logRing
	placed time.Time

	// op is held by the one lifecycle operation under way (start,
	// restart, stop): they run one at a time, in the agent's goroutines.
	op chan struct{}
	// starting is set while a start or restart runs; stopping once a
	// stop has begun (the entry then leaves the agent).
	starting, stopping atomic.Bool
	// base counts the restarts of the supervisor's earlier runs (a
	// requested restart begins a new run); requested the requested ones.
	base, requested atomic.Int64
}

func (e *entry) lock(ctx context.Context) error {
	select {
	case e.op <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *entry) unlock() { <-e.op }

// running reports whether the supervisor keeps the node going: it runs,
// starts, or waits for its restart.
func (e *entry) running() bool {
	if e.sup.Status().State != core.StateRunning {
		return false
	}
	kids := e.sup.Children()
	if len(kids) != 1 {
		return false
	}
	switch kids[0].State {
	case supervise.ChildRunning, supervise.ChildStarting, supervise.ChildRestarting:
		return true
	}
	return false
}

// cycle starts a new run of the supervisor, ending the current one
// first: the node starts again.
func (e *entry) cycle(ctx context.Context) error {
	if kids := e.sup.Children(); len(kids) == 1 {
		e.base.Add(int64(kids[0].Restarts))
	}
	if err := e.sup.Stop(ctx); err != nil {
		return err
	}
	return e.sup.Start(ctx)
}

// restarts counts the supervisor's restarts of the node.
func (e *entry) restarts() int64 {
	n := e.base.Load()
	if kids := e.sup.Children(); len(kids) == 1 {
		n += int64(kids[0].Restarts)
	}
	return n
}

// close stops the node within its shutdown (and ctx) and closes it,
// its supervisor and its output. When ctx ends first the node is
// killed at once, which is not an error of the node's: the caller
// reports ctx's end.
func (e *entry) close(ctx context.Context) error {
	err := e.sup.Shutdown(ctx)
	if ctx.Err() != nil {
		e.sup.Close() // Shutdown gave up waiting; Close waits
		err = nil
	}
	e.logs.close()
	return err
}

// event notes what the node's supervisor did in its output, so that
// `zmptool logs` tells why it restarted. It runs on the supervisor's
// event goroutine.
func (e *entry) event(ev supervise.Event) {
	switch ev.Kind {
	case supervise.EventExited:
		e.logs.Note(fmt.Sprintf("exited (code %d): %s", ev.Exit.ExitCode, orNone(ev.Exit.Error)))
	case supervise.EventRestarting:
		e.logs.Note(fmt.Sprintf("restarting (restart %d) in %v", ev.Restarts, ev.Delay))
	case supervise.EventStartFailed:
		e.logs.Note("start failed: " + ev.Error)
	case supervise.EventIntensity:
		e.logs.Note("giving up: " + ev.Error)
	case supervise.EventKilled:
		e.logs.Note("killed: it did not stop within its shutdown")
	}
}

func orNone(s string) string {
	if s == "" {
		return "no error"
	}
	return s
}

// place makes sure the node of spec runs: it starts it, or finds it
// running with the same spec (adopted), or starts it again if it had
// ended or failed. The start runs in the agent's goroutine: it goes on
// if ctx ends, and a later place finds the node.
func (a *Agent) place(ctx context.Context, spec Spec) (NodeStatus, error) {
	e, fresh, err := a.reserve(spec)
	if err != nil {
		return NodeStatus{}, err
	}
	return a.run(ctx, func() (NodeStatus, error) {
		if err := e.lock(a.ctx); err != nil {
			return NodeStatus{}, a.closedError()
		}
		defer e.unlock()
		if e.stopping.Load() {
			return NodeStatus{}, failure(CodeNotFound, "%s was stopped while its start waited", spec.Name)
		}
		if !fresh && e.running() {
			a.stats.adopted.Add(1)
			st := a.nodeStatus(e)
			st.Adopted = true
			return st, nil
		}
		e.starting.Store(true)
		err := e.cycle(a.ctx)
		e.starting.Store(false)
		if err != nil {
			return a.nodeStatus(e), a.startError(spec.Name, err)
		}
		a.stats.started.Add(1)
		a.cfg.logger.Info("agent: started", "agent", a.cfg.name, "node", spec.Name, "kind", spec.Kind, "pid", e.node.Status().PID)
		return a.nodeStatus(e), nil
	})
}

// reserve returns the entry of spec's name: the one placed, if its spec
// is the same, or a new one (fresh) made of spec.
func (a *Agent) reserve(spec Spec) (e *entry, fresh bool, err error) {
	if e, err := a.existing(spec); e != nil || err != nil {
		return e, false, err
	}
	e, err = a.newEntry(spec)
	if err != nil {
		return nil, false, err
	}
	a.mu.Lock()
	old, taken := a.entries[spec.Name]
	full := len(a.entries) >= a.cfg.maxNodes
	if !taken && !full && !a.closing {
		a.entries[spec.Name] = e
		a.order = append(a.order, e)
	}
	a.mu.Unlock()
	if !taken && !full && !a.closing {
		return e, true, nil
	}
	e.close(context.Background()) // never started: closing is quick
	if taken {                    // placed meanwhile by another request
		return a.sameEntry(old, spec)
	}
	if full {
		return nil, false, a.fullError()
	}
	return nil, false, a.closedError()
}

// existing returns the entry of spec's name if there is one, or an
// error if the agent cannot place it.
func (a *Agent) existing(spec Spec) (*entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return nil, a.closedError()
	}
	if e, ok := a.entries[spec.Name]; ok {
		e, _, err := a.sameEntry(e, spec)
		return e, err
	}
	return nil, nil // the kind and arguments are checked, then the room
}

// sameEntry returns e if its spec is spec's and it is not stopping.
func (a *Agent) sameEntry(e *entry, spec Spec) (*entry, bool, error) {
	switch {
	case e.stopping.Load():
		return nil, false, failure(CodeConflict, "%s is being stopped; place it again once it is gone", spec.Name)
	case !e.spec.same(spec):
		return nil, false, failure(CodeConflict, "%s runs kind %q with args %q (%s) here; stop it first to place kind %q with args %q (%s)",
			spec.Name, e.spec.Kind, e.spec.Args, e.spec.Restart, spec.Kind, spec.Args, spec.Restart)
	}
	return e, false, nil
}

func (a *Agent) fullError() error {
	return failure(CodeTooManyNodes, "%s holds %d nodes, its limit", a.cfg.name, a.cfg.maxNodes)
}

func (a *Agent) closedError() error {
	return failure(CodeClosed, "%s is shutting down", a.cfg.name)
}

// newEntry makes the node of spec and its supervisor; nothing starts.
func (a *Agent) newEntry(spec Spec) (*entry, error) {
	if !slices.Contains(a.l.Kinds(), spec.Kind) {
		return nil, failure(CodeUnknownKind, "%q is not a kind of %s (it has %q)", spec.Kind, a.cfg.name, a.l.Kinds())
	}
	e := &entry{
		spec: spec, placed: time.Now(), op: make(chan struct{}, 1),
		logs: newLogRing(spec.Name, a.cfg.logLines, a.cfg.logBytes, a.cfg.logLineMax),
	}
	node, err := a.l.NewNode(spec.Kind, spec.Name, a.nodeOptions(spec, e.logs)...)
	switch {
	case errors.Is(err, core.ErrBadArgs):
		return nil, failure(CodeBadArgs, "%s", strings.TrimPrefix(err.Error(), core.ErrBadArgs.Error()+": "))
	case errors.Is(err, core.ErrUnknownKind):
		return nil, failure(CodeUnknownKind, "%v", err)
	case errors.Is(err, core.ErrBadName):
		return nil, failure(CodeBadName, "%v", err)
	case err != nil:
		return nil, failure(CodeStartFailed, "%v", err)
	}
	e.node = node
	opts := append([]supervise.Option{
		supervise.WithStartTimeout(a.cfg.startTimeout), supervise.WithLogger(a.cfg.logger),
		supervise.WithEventFunc(e.event),
	}, a.cfg.supOpts...)
	child := supervise.Spec{Name: spec.Name, Child: node, Restart: restartType(spec.Restart), Shutdown: a.cfg.shutdown}
	e.sup, err = supervise.New(spec.Name, supervise.OneForOne, []supervise.Spec{child}, opts...)
	if err != nil {
		node.Close()
		return nil, failure(CodeStartFailed, "%v", err)
	}
	return e, nil
}

// nodeOptions are the options of a placed node: the agent's registry,
// security, host and labels, its output ring, the caller's node
// options, and its arguments.
func (a *Agent) nodeOptions(spec Spec, out *logRing) []core.Option {
	a.mu.Lock()
	reg := a.peer.Registry()
	a.mu.Unlock()
	labels := maps.Clone(a.cfg.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelAgent] = a.cfg.name
	opts := []core.Option{
		core.WithRegistry(reg), core.WithHost(a.cfg.nodeHost), core.WithLabels(labels), core.WithOutput(out),
	}
	if a.cfg.security != nil {
		opts = append(opts, core.WithSecurity(*a.cfg.security))
	}
	opts = append(opts, a.cfg.nodeOpts...)
	return append(opts, core.WithKindArgs(spec.Args...))
}

// startError classifies a start's failure.
func (a *Agent) startError(name string, err error) error {
	switch {
	case a.ctx.Err() != nil:
		return a.closedError()
	case errors.Is(err, core.ErrNameTaken):
		return failure(CodeNameTaken, "%s: %v", name, err)
	case errors.Is(err, core.ErrBadArgs):
		return failure(CodeBadArgs, "%s: %v", name, err)
	}
	return failure(CodeStartFailed, "%s: %v", name, err)
}

// restart stops the node if it runs and starts it again, in the
// agent's goroutine.
func (a *Agent) restart(ctx context.Context, name string) (NodeStatus, error) {
	e, err := a.lookup(name)
	if err != nil {
		return NodeStatus{}, err
	}
	return a.run(ctx, func() (NodeStatus, error) {
		if err := e.lock(a.ctx); err != nil {
			return NodeStatus{}, a.closedError()
		}
		defer e.unlock()
		if e.stopping.Load() {
			return NodeStatus{}, failure(CodeNotFound, "%s was stopped", name)
		}
		e.requested.Add(1)
		e.starting.Store(true)
		err := e.cycle(a.ctx)
		e.starting.Store(false)
		if err != nil {
			return a.nodeStatus(e), a.startError(name, err)
		}
		a.cfg.logger.Info("agent: restarted", "agent", a.cfg.name, "node", name, "pid", e.node.Status().PID)
		return a.nodeStatus(e), nil
	})
}

// stop stops the node and removes it from the agent, in the agent's
// goroutine.
func (a *Agent) stop(ctx context.Context, name string) (NodeStatus, error) {
	e, err := a.lookup(name)
	if err != nil {
		return NodeStatus{}, err
	}
	if !e.stopping.CompareAndSwap(false, true) {
		return NodeStatus{}, failure(CodeNotFound, "%s is already being stopped", name)
	}
	return a.run(ctx, func() (NodeStatus, error) {
		e.lock(context.Background()) // an operation under way gives up once a.ctx ends
		defer e.unlock()
		err := e.close(a.ctx)
		a.mu.Lock()
		delete(a.entries, name)
		a.order = slices.DeleteFunc(a.order, func(x *entry) bool { return x == e })
		a.mu.Unlock()
		a.stats.stopped.Add(1)
		a.stats.restartsGone.Add(e.restarts())
		st := a.nodeStatus(e)
		st.State = StateStopped
		if err != nil {
			st.Error = err.Error()
		}
		a.cfg.logger.Info("agent: stopped", "agent", a.cfg.name, "node", name)
		return st, nil
	})
}

// lookup returns the entry of name.
func (a *Agent) lookup(name string) (*entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[name]
	if !ok {
		return nil, failure(CodeNotFound, "%s holds no node %q", a.cfg.name, name)
	}
	return e, nil
}

// nodeStatus describes e without waiting for an operation under way.
func (a *Agent) nodeStatus(e *entry) NodeStatus {
	st := NodeStatus{
		Agent: a.cfg.name, Name: e.spec.Name, Kind: e.spec.Kind, Args: e.spec.Args, Restart: e.spec.Restart,
		Placed: e.placed, Restarts: e.restarts(), Requested: e.requested.Load(),
	}
	st.LogLines, st.LogDropped, st.LogTruncated = e.logs.stats()
	sup, kids, ns := e.sup.Status(), e.sup.Children(), e.node.Status()
	st.ExitCode = ns.ExitCode
	if ns.Err != nil {
		st.Error = ns.Err.Error()
	}
	if len(kids) == 1 && kids[0].LastExit != nil {
		st.ExitCode, st.Error = kids[0].LastExit.ExitCode, kids[0].LastExit.Error
	}
	switch {
	case e.stopping.Load():
		st.State = StateStopping
	case e.starting.Load() || sup.State == core.StateStarting || sup.State == core.StateNew:
		st.State = StateStarting
	case sup.State == core.StateFailed:
		st.State = StateFailed
		if sup.Err != nil {
			st.Error = sup.Err.Error()
		}
	case sup.State == core.StateStopping:
		st.State = StateStopping
	case sup.State == core.StateRunning && len(kids) == 1:
		st.State = childState(kids[0].State, ns)
		if awaitsRestart(kids[0], restartType(e.spec.Restart)) {
			// It ended and its supervisor has yet to act: it restarts
			// it, or gives up and fails, not "failed" before that.
			st.State = StateRestarting
		}
		if st.State == StateRunning {
			st.PID, st.Started = kids[0].PID, kids[0].Started
		}
	default:
		st.State = endState(ns)
	}
	return st
}

// awaitsRestart reports whether c ended by itself in a way its restart
// type restarts after: its supervisor is about to restart it, or to
// give up when that reaches its intensity.
func awaitsRestart(c supervise.ChildInfo, rt supervise.RestartType) bool {
	if c.State != supervise.ChildStopped || c.LastExit == nil {
		return false
	}
	return rt == supervise.Permanent || (rt == supervise.Transient && !c.LastExit.Normal)
}

// childState names a supervised child's state.
func childState(s supervise.ChildState, ns core.Status) string {
	switch s {
	case supervise.ChildRunning:
		return StateRunning
	case supervise.ChildStarting:
		return StateStarting
	case supervise.ChildRestarting:
		return StateRestarting
	case supervise.ChildStopping:
		return StateStopping
	}
	return endState(ns)
}

// endState names how a node that does not run ended.
func endState(ns core.Status) string {
	if ns.State == core.StateFailed {
		return StateFailed
	}
	return StateExited
}
