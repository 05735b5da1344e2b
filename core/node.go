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

// incarnation is one run of a node, from Start to its end.
type incarnation struct {
	r     runner
	final chan struct{} // closed once the node's Status records the end
	err   error         // the exit error, set before final is closed
}

// isFinal reports whether the node's Status records inc's end.
func (inc *incarnation) isFinal() bool { return isClosed(inc.final) }

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Node is a named code-executing entity with a lifecycle: Start,
// Stop, Restart, Wait, Status, Close. It runs as goroutines of this
// process (NewNode, or a Launcher with WithInProcess) or as a child
// process of the same binary (Launcher.NewNode); the API is the same.
//
// Each Start begins a new incarnation. An incarnation is final once
// Status records its end (StateStopped or StateFailed); Wait returns
// only then, so Start may follow Wait, Stop or Restart at once.
type Node struct {
	name   string
	cfg    config
	newRun func() runner

	mu       sync.Mutex
	st       Status
	cur      *incarnation // the latest; nil before the first Start
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

// Start runs a new incarnation of the node and blocks until it is ready
// (Setup done, sockets bound, registered) or has failed, or ctx ends;
// a failure is also recorded in Status. It returns ErrAlreadyStarted
// while an incarnation is starting, running or stopping.
func (n *Node) Start(ctx context.Context) error {
	inc, err := n.begin()
	if err != nil {
		return err
	}
	info, err := inc.r.start(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		code, _ := inc.r.result()
		n.finishLocked(inc, code, err)
		return err
	}
	if !inc.isFinal() { // still current, unless a Stop has ended it
		n.st.Info, n.st.PID = info, inc.r.pid()
		if n.st.State == StateStarting {
			n.st.State = StateRunning
		}
	}
	n.watching.Add(1)
	go func() {
		defer n.watching.Done()
		n.watch(inc)
	}()
	return nil
}

// begin makes a new incarnation current.
func (n *Node) begin() (*incarnation, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil && !n.cur.isFinal() {
		return nil, fmt.Errorf("%w: %s is %s", ErrAlreadyStarted, n.name, n.st.State)
	}
	inc := &incarnation{r: n.newRun(), final: make(chan struct{})}
	restarts := n.st.Restarts
	if n.cur != nil {
		restarts++
	}
	n.cur = inc
	n.st = Status{Name: n.name, State: StateStarting, PID: inc.r.pid(), Started: time.Now(), Restarts: restarts}
	return inc, nil
}

// watch records the end of an incarnation that ends by itself. Stop
// records the end of one it stops.
func (n *Node) watch(inc *incarnation) {
	select {
	case <-inc.r.done():
	case <-inc.final:
		return
	}
	code, err := inc.r.result()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st.State != StateStopping {
		n.finishLocked(inc, code, err)
	}
}

// finishLocked records the end of inc, the current incarnation, unless
// its end is already recorded.
func (n *Node) finishLocked(inc *incarnation, code int, err error) {
	if inc.isFinal() {
		return
	}
	inc.err = err
	n.st.ExitCode, n.st.Err, n.st.Stopped = code, err, time.Now()
	n.st.State = StateStopped
	if err != nil {
		n.st.State = StateFailed
	}
	close(inc.final)
}

// Stop ends the node gracefully: its context is cancelled, Teardown
// runs, it leaves the registry. When ctx has no deadline the node's
// stop timeout applies; past it a child process is killed and an
// in-process node is abandoned (its peer is closed, its goroutine left
// to return when it may), and ErrStopTimeout is returned. When Stop
// returns, Status is final. Stopping a node that is not running returns
// nil; a Stop that finds another Stop under way waits for it.
func (n *Node) Stop(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.stopTimeout)
		defer cancel()
	}
	n.mu.Lock()
	inc, was := n.cur, n.st.State
	if inc == nil || inc.isFinal() {
		n.mu.Unlock()
		return nil
	}
	n.st.State = StateStopping
	n.mu.Unlock()
	if was == StateStopping { // another Stop is under way
		select {
		case <-inc.final:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stopErr := inc.r.stop(ctx)
	code, err := inc.r.result()
	n.mu.Lock()
	n.finishLocked(inc, code, errors.Join(stopErr, err))
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

// Wait blocks until the current incarnation is final, or ctx ends, and
// returns its exit error, the Status().Err it recorded. When Wait
// returns that error, Status is final (StateStopped or StateFailed) and
// Start may be called at once. An in-process incarnation abandoned by
// Stop is final although its code may still run. Before the first
// Start, Wait returns nil at once.
func (n *Node) Wait(ctx context.Context) error {
	n.mu.Lock()
	inc := n.cur
	n.mu.Unlock()
	if inc == nil {
		return nil
	}
	select {
	case <-inc.final:
		return inc.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// final returns a channel closed once the current incarnation is final.
func (n *Node) final() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cur.final
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
