package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Behavior is the code a node runs. Every field is optional.
//
// A panic in Setup, Update or Teardown does not crash the process: it
// is recovered and ends the node as an error returned there would, with
// an error whose text holds the panic value and the panicking stack. A
// child-process node reports it to its parent as its exit error.
type Behavior struct {
	// Setup runs inside the node before Start returns: provide
	// services, advertise topics, subscribe. An error fails the start.
	Setup func(ctx context.Context, p *Peer) error
	// Update, when set, is called at least once, then every
	// WithUpdateInterval (as fast as it returns when 0), with the real
	// time elapsed since the previous call (since the end of Setup for
	// the first call). Returning ErrStop ends the node cleanly; any
	// other error ends it and becomes its exit error. Without Update a
	// node runs until stopped.
	Update func(ctx context.Context, p *Peer, elapsed time.Duration) error
	// Teardown runs inside the node when it ends, before Stop returns,
	// while the peer is still connected.
	Teardown func(ctx context.Context, p *Peer) error
}

// State is where a node is in its lifecycle.
type State int

// Node states.
const (
	StateNew      State = iota // never started
	StateStarting              // Start is running
	StateRunning               // ready and serving
	StateStopping              // Stop is running
	StateStopped               // ended cleanly
	StateFailed                // ended with an error, or failed to start
)

func (s State) String() string {
	return [...]string{"new", "starting", "running", "stopping", "stopped", "failed"}[s]
}

// Status describes a node at one moment.
type Status struct {
	Name     string
	State    State
	PID      int      // the process running it: this one for in-process nodes
	Info     NodeInfo // endpoints, services and topics once running
	ExitCode int      // a child process's exit code once ended; -1 when killed by a signal
	Err      error    // why it failed, or nil
	Started  time.Time
	Stopped  time.Time
	Restarts int // how many times Start ran after the first
}

// Alive reports whether the node is starting or running.
func (s Status) Alive() bool { return s.State == StateStarting || s.State == StateRunning }

// runner runs one incarnation of a node, in-process or as a child.
type runner interface {
	// start blocks until the node is ready or fails.
	start(ctx context.Context) (NodeInfo, error)
	// stop asks the node to end and waits; when ctx ends first it
	// kills (child) or abandons (in-process) the node.
	stop(ctx context.Context) error
	// done is closed when the incarnation has ended.
	done() <-chan struct{}
	// result is the exit code and error, valid after done.
	result() (int, error)
	pid() int
}

// Node is a named code-executing entity with a lifecycle: Start,
// Stop, Restart, Status, Close. It runs as goroutines of this process
// (NewNode, or a Launcher with WithInProcess) or as a child process of
// the same binary (Launcher.NewNode); the API is the same.
type Node struct {
	name   string
	cfg    config
	newRun func() runner

	mu       sync.Mutex
	st       Status
	run      runner
	starts   int
	watching sync.WaitGroup
}

// NewNode returns an in-process node that runs b. An empty name gets a
// unique generated one. The node starts with Start.
func NewNode(name string, b Behavior, opts ...Option) (*Node, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = "node-" + newID()[:12]
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	n := &Node{name: name, cfg: cfg}
	n.newRun = func() runner { return newInProc(name, b, n.cfg) }
	n.st = Status{Name: name, State: StateNew}
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Start runs the node and blocks until it is ready (Setup done,
// sockets bound, registered) or has failed, or ctx ends. It returns
// ErrAlreadyStarted while the node runs; after a stop it starts a new
// incarnation.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.st.Alive() || n.st.State == StateStopping {
		n.mu.Unlock()
		return fmt.Errorf("%w: %s is %s", ErrAlreadyStarted, n.name, n.st.State)
	}
	r := n.newRun()
	n.run = r
	if n.starts > 0 {
		n.st.Restarts++
	}
	n.starts++
	n.st = Status{Name: n.name, State: StateStarting, PID: r.pid(), Started: time.Now(), Restarts: n.st.Restarts}
	n.mu.Unlock()

	info, err := r.start(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.st.State, n.st.Err, n.st.Stopped = StateFailed, err, time.Now()
		n.st.ExitCode, _ = r.result()
		return err
	}
	n.st.State, n.st.Info, n.st.PID = StateRunning, info, r.pid()
	n.watching.Add(1)
	go n.watch(r)
	return nil
}

// watch records how an incarnation ended on its own.
func (n *Node) watch(r runner) {
	defer n.watching.Done()
	<-r.done()
	code, err := r.result()
	n.mu.Lock()
	defer n.mu.Unlock()
	// Stop records the end of the incarnation it stops; a status that is
	// already final (stopped, failed, or abandoned by Stop) must stay.
	if n.run != r || !n.st.Alive() {
		return
	}
	n.finishLocked(code, err)
}

func (n *Node) finishLocked(code int, err error) {
	n.st.ExitCode, n.st.Err, n.st.Stopped = code, err, time.Now()
	n.st.State = StateStopped
	if err != nil {
		n.st.State = StateFailed
	}
}

// Stop ends the node gracefully: its context is cancelled, Teardown
// runs, it leaves the registry. When ctx has no deadline the node's
// stop timeout applies; past it a child process is killed and an
// in-process node is abandoned, and ErrStopTimeout is returned.
// Stopping a node that is not running returns nil.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	r := n.run
	if r == nil || !n.st.Alive() {
		n.mu.Unlock()
		return nil
	}
	n.st.State = StateStopping
	n.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.stopTimeout)
		defer cancel()
	}
	stopErr := r.stop(ctx)
	code, err := r.result()
	n.mu.Lock()
	n.finishLocked(code, errors.Join(stopErr, err))
	n.mu.Unlock()
	return stopErr
}

// Restart stops the node if it runs, then starts it again.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Stop(ctx); err != nil && !errors.Is(err, ErrStopTimeout) {
		return err
	}
	return n.Start(ctx)
}

// Wait blocks until the current incarnation ends, or ctx ends, and
// returns its exit error.
func (n *Node) Wait(ctx context.Context) error {
	n.mu.Lock()
	r := n.run
	n.mu.Unlock()
	if r == nil {
		return nil
	}
	select {
	case <-r.done():
		_, err := r.result()
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the node's current status.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st
}

// Close stops the node within its stop timeout and waits for every
// goroutine the node started. It is idempotent.
func (n *Node) Close() error {
	err := n.Stop(context.Background())
	n.watching.Wait()
	return err
}
