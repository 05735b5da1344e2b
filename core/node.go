package core

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
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
	// Its ctx ends when Start gives up or Stop is called; a Setup that
	// succeeds all the same is followed by Teardown, not Update.
	Setup func(ctx context.Context, p *Peer) error
	// Update, when set, is called at least once after Setup, then every
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
	// done is closed when the incarnation has ended: no goroutine or
	// process of it runs any more.
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
	// abandoned: given up on while its in-process code may still run.
	abandoned bool
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

	startMu  sync.Mutex // serialises Start's wait for earlier incarnations
	mu       sync.Mutex
	st       Status
	cur      *incarnation   // the latest; nil before the first Start
	ending   []*incarnation // started incarnations that may not have ended
	watching sync.WaitGroup
}

// NewNode returns an in-process node that runs b. An empty name gets a
// unique generated one. The node starts with Start.
func NewNode(name string, b Behavior, opts ...Option) (*Node, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := cfg.reject(setKindArgs, "NewNode (a Launcher's NewNode takes it)"); err != nil {
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
//
// An earlier incarnation whose Start gave up may still be running its
// Setup or Teardown: Start first waits for it to end, up to the node's
// stop timeout, and past that (or when ctx ends first) abandons it, as
// Stop does. Incarnations already abandoned are not waited for again.
func (n *Node) Start(ctx context.Context) error {
	inc, err := n.begin(ctx)
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

// begin makes a new incarnation current, once the earlier ones have
// ended or been abandoned.
func (n *Node) begin(ctx context.Context) (*incarnation, error) {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if err := n.busy(); err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, n.cfg.stopTimeout)
	n.reap(wait, false)
	cancel()
	n.mu.Lock()
	defer n.mu.Unlock()
	inc := &incarnation{r: n.newRun(), final: make(chan struct{})}
	restarts := n.st.Restarts
	if n.cur != nil {
		restarts++
	}
	n.cur = inc
	n.ending = append(n.ending, inc)
	n.st = Status{Name: n.name, State: StateStarting, PID: inc.r.pid(), Started: time.Now(), Restarts: restarts}
	return inc, nil
}

// busy returns ErrAlreadyStarted unless the current incarnation is final.
func (n *Node) busy() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cur != nil && !n.cur.isFinal() {
		return fmt.Errorf("%w: %s is %s", ErrAlreadyStarted, n.name, n.st.State)
	}
	return nil
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
	inc.abandoned = stopErr != nil
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
// Stop is final although its code may still run; Close waits for it.
// Before the first Start, Wait returns nil at once.
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

// Close stops the node and waits for everything it started: the
// goroutines or process of every incarnation, including one whose Start
// gave up (its Setup and Teardown included) and one Stop abandoned.
// All of it is bounded by one stop timeout: code still running then is
// abandoned and Close returns ErrStopTimeout. Close is idempotent; the
// node may be started again afterwards.
func (n *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.stopTimeout)
	defer cancel()
	err := n.Stop(ctx)
	n.watching.Wait()
	return cmp.Or(err, n.reap(ctx, true))
}

// reap waits for the started incarnations that have not ended, the
// abandoned ones too when all is set. Those still running when ctx ends
// are abandoned, and reap returns ErrStopTimeout naming them.
func (n *Node) reap(ctx context.Context, all bool) error {
	var errs []error
	for _, inc := range n.lingering(all) {
		select {
		case <-inc.r.done():
		case <-ctx.Done():
			errs = append(errs, inc.r.stop(ctx))
			n.mu.Lock()
			inc.abandoned = true
			n.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// lingering forgets the incarnations that have ended and returns the
// others, but for abandoned ones unless all is set.
func (n *Node) lingering(all bool) []*incarnation {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ending = slices.DeleteFunc(n.ending, func(inc *incarnation) bool { return isClosed(inc.r.done()) })
	var out []*incarnation
	for _, inc := range n.ending {
		if all || !inc.abandoned {
			out = append(out, inc)
		}
	}
	return out
}
