package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// Agent runs nodes on its host when asked to: it is a node of its own,
// listed in the registry, whose services (agent.start, agent.stop,
// agent.restart, agent.ps, agent.logs, agent.status) start registered
// kinds of its core.Launcher as child processes, supervise them, and
// report on them. See the package documentation.
type Agent struct {
	l   *core.Launcher
	cfg config

	// ctx is the agent's lifetime: Close cancels it, which makes
	// operations under way give up.
	ctx    context.Context
	cancel context.CancelFunc
	ops    sync.WaitGroup // operations run for callers (see run)

	mu          sync.Mutex
	startCalled bool
	peer        *core.Peer
	started     time.Time
	entries     map[string]*entry
	order       []*entry // placement order
	closing     bool

	stats     counters
	closeOnce sync.Once
	closeErr  error
}

// counters are the agent's statistics.
type counters struct {
	started, adopted, stopped, restartsGone atomic.Int64
	mu                                      sync.Mutex
	refused                                 map[string]int64
}

// New returns an agent that places nodes of l's kinds. It checks the
// options (an agent without CURVE needs WithInsecure and a loopback
// bind address: ErrInsecure otherwise) and starts nothing: Start does.
func New(l *core.Launcher, opts ...Option) (*Agent, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: a nil launcher", ErrBadOption)
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	check, err := supervise.New("check", supervise.OneForOne, nil, cfg.supOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: WithSupervisorOptions: %w", ErrBadOption, err)
	}
	check.Close()
	ctx, cancel := context.WithCancel(context.Background())
	return &Agent{l: l, cfg: cfg, ctx: ctx, cancel: cancel, entries: map[string]*entry{}}, nil
}

// Name returns the agent's node name.
func (a *Agent) Name() string { return a.cfg.name }

// Start binds the agent's endpoint, registers it and serves requests
// until Close. ctx bounds the start. The registry (WithPeerOptions) must
// be one the nodes' processes can reach (a core.Addresser): a
// directory, a registry node, a replicated registry.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	switch {
	case a.closing:
		a.mu.Unlock()
		return ErrClosed
	case a.startCalled:
		a.mu.Unlock()
		return fmt.Errorf("%w: Start called twice", ErrBadOption)
	}
	a.startCalled = true
	a.mu.Unlock()
	p, err := core.NewPeer(ctx, a.cfg.name, a.peerOptions()...)
	if err != nil {
		return err
	}
	if _, ok := p.Registry().(core.Addresser); !ok {
		p.Close()
		return fmt.Errorf("%w: the registry %T cannot be shared with the nodes' processes", ErrBadOption, p.Registry())
	}
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		p.Close()
		return ErrClosed
	}
	a.peer, a.started = p, time.Now() // before the services: their handlers use it
	a.mu.Unlock()
	if err := a.serve(p); err != nil {
		return errors.Join(err, a.Close())
	}
	return nil
}

// peerOptions are the options of the agent's peer: the caller's, then
// the agent's own.
func (a *Agent) peerOptions() []core.Option {
	host, _ := bindHost(a.cfg.bind)
	opts := append([]core.Option{core.WithMaxMessageSize(1 << 20)}, a.cfg.peerOpts...)
	opts = append(opts, core.WithEndpoints(a.cfg.bind, ""), core.WithHost(host))
	if len(a.cfg.labels) > 0 {
		opts = append(opts, core.WithLabels(a.cfg.labels))
	}
	if a.cfg.security != nil {
		opts = append(opts, core.WithSecurity(*a.cfg.security))
	}
	return opts
}

// Endpoint returns the agent's RPC endpoint once started, else "".
func (a *Agent) Endpoint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.peer == nil {
		return ""
	}
	return a.peer.Info().RPC
}

// Nodes describes the nodes placed on the agent, in placement order.
// It never waits for an operation under way.
func (a *Agent) Nodes() []NodeStatus {
	a.mu.Lock()
	es := slices.Clone(a.order)
	a.mu.Unlock()
	out := make([]NodeStatus, len(es))
	for i, e := range es {
		out[i] = a.nodeStatus(e)
	}
	return out
}

// Status describes the agent: what agent.status answers.
func (a *Agent) Status() Status {
	host, _ := os.Hostname()
	nodes := a.Nodes()
	a.mu.Lock()
	st := Status{
		Name: a.cfg.name, Host: host, PID: os.Getpid(), Labels: maps.Clone(a.cfg.labels),
		Security: "NULL", Started: a.started, Kinds: a.l.Kinds(),
		Limits: Limits{
			MaxNodes: a.cfg.maxNodes, MaxArgs: a.cfg.maxArgs, MaxArgBytes: a.cfg.maxArgBytes,
			LogLines: a.cfg.logLines, LogBytes: a.cfg.logBytes, LogLineMax: a.cfg.logLineMax,
		},
	}
	if a.peer != nil {
		st.RPC = a.peer.Info().RPC
	}
	a.mu.Unlock()
	if a.cfg.security != nil {
		st.Security = a.cfg.security.Mechanism()
	}
	c := Counts{
		Nodes: len(nodes), Started: a.stats.started.Load(), Adopted: a.stats.adopted.Load(),
		Stopped: a.stats.stopped.Load(), Restarts: a.stats.restartsGone.Load(),
	}
	for _, n := range nodes {
		c.Restarts += n.Restarts
		if n.State == StateRunning {
			c.Running++
		}
	}
	a.stats.mu.Lock()
	if len(a.stats.refused) > 0 {
		c.Refused = maps.Clone(a.stats.refused)
	}
	a.stats.mu.Unlock()
	st.Counts = c
	return st
}

// run runs op in a goroutine the agent owns, so that it completes even
// when the caller goes away (a controller that disconnects in the
// middle of a start), and returns its result, or ctx's error when ctx
// ends first. Close waits for such goroutines. It returns ErrClosed
// once the agent is closing.
func (a *Agent) run(ctx context.Context, op func() (NodeStatus, error)) (NodeStatus, error) {
	type result struct {
		st  NodeStatus
		err error
	}
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		return NodeStatus{}, failure(CodeClosed, "%s is shutting down", a.cfg.name)
	}
	a.ops.Add(1)
	a.mu.Unlock()
	done := make(chan result, 1)
	go func() {
		defer a.ops.Done()
		st, err := op()
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		return r.st, r.err
	case <-ctx.Done():
		return NodeStatus{}, ctx.Err()
	}
}

// Close stops every node the agent placed, in reverse placement order
// (each within its shutdown: WithShutdown), then the agent's peer, and
// waits for all of its goroutines. Operations under way give up first.
// It is idempotent.
func (a *Agent) Close() error {
	a.closeWith(context.Background())
	return a.closeErr
}

// Shutdown is Close bounded by ctx: when ctx ends first, the nodes not
// yet stopped are killed at once, and Shutdown returns ctx.Err() while
// the closing goes on (Close waits for it).
func (a *Agent) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		a.closeWith(ctx)
		close(done)
	}()
	select {
	case <-done:
		return a.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Agent) closeWith(ctx context.Context) {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closing = true
		a.mu.Unlock()
		a.cancel()
		a.ops.Wait()
		a.mu.Lock()
		order, p := slices.Clone(a.order), a.peer
		a.mu.Unlock()
		var errs []error
		for _, e := range slices.Backward(order) {
			errs = append(errs, e.close(ctx))
		}
		if p != nil {
			errs = append(errs, p.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
}
