package core

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Node lifecycle tests, after pyzmp's node tests: every behaviour is
// checked for in-process nodes (NewNode) and child-process nodes
// (testLauncher, kinds in testkinds_test.go), over TCP and IPC where
// the transport matters.

// nodeMode says where a test node runs.
type nodeMode string

const (
	modeInProcess nodeMode = "inproc"
	modeChild     nodeMode = "child"
)

var (
	allModes       = []nodeMode{modeInProcess, modeChild}
	nodeTransports = []Transport{TCP, IPC}
)

// eachMode runs f as a subtest per mode.
func eachMode(t *testing.T, f func(t *testing.T, mode nodeMode)) {
	t.Helper()
	for _, m := range allModes {
		t.Run(string(m), func(t *testing.T) { f(t, m) })
	}
}

// eachModeTransport runs f as a subtest per mode and transport.
func eachModeTransport(t *testing.T, f func(t *testing.T, mode nodeMode, tr Transport)) {
	t.Helper()
	for _, m := range allModes {
		for _, tr := range nodeTransports {
			t.Run(string(m)+"/"+string(tr), func(t *testing.T) { f(t, m, tr) })
		}
	}
}

// transportOpts selects tr; IPC gets a short runtime directory of its
// own, since Unix socket paths must be shorter than 108 bytes.
func transportOpts(t *testing.T, tr Transport) []Option {
	t.Helper()
	if tr != IPC {
		return []Option{WithTransport(tr)}
	}
	return []Option{WithTransport(IPC), WithRuntimeDir(shortNodeDir(t))}
}

// shortNodeDir returns a new directory with a short path, removed when the
// test ends.
func shortNodeDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "zn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// outBuffer is a bytes.Buffer safe for concurrent use.
type outBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *outBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *outBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nodeEnv is one test's world: a registry of its own, a directory for
// the marks of test kinds, the output of its child nodes and a client.
type nodeEnv struct {
	t   *testing.T
	ctx context.Context
	reg *DirRegistry
	dir string
	out *outBuffer
	cli *Peer
}

func newNodeEnv(t *testing.T) *nodeEnv {
	t.Helper()
	reg, err := NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	e := &nodeEnv{t: t, ctx: ctx, reg: reg, dir: t.TempDir(), out: &outBuffer{}}
	t.Setenv(envTestDir, e.dir)
	// A race-enabled child that exits with 0 sleeps 1 s in the race
	// runtime first (GORACE atexit_sleep_ms); races are still reported.
	t.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of child nodes:\n%s", e.out)
		}
	})
	return e
}

// node makes a node of a test kind, closed when the test ends.
func (e *nodeEnv) node(mode nodeMode, kind, name string, opts ...Option) *Node {
	e.t.Helper()
	opts = append([]Option{WithRegistry(e.reg), WithOutput(e.out)}, opts...)
	var n *Node
	var err error
	if mode == modeChild {
		n, err = testLauncher.NewNode(kind, name, opts...)
	} else {
		n, err = NewNode(name, testKinds[kind](), opts...)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { n.Close() })
	return n
}

// inproc makes an in-process node running b, closed when the test ends.
func (e *nodeEnv) inproc(name string, b Behavior, opts ...Option) *Node {
	e.t.Helper()
	n, err := NewNode(name, b, append([]Option{WithRegistry(e.reg)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { n.Close() })
	return n
}

func (e *nodeEnv) start(n *Node) {
	e.t.Helper()
	if err := n.Start(e.ctx); err != nil {
		e.t.Fatalf("Start(%s): %v", n.Name(), err)
	}
}

// started makes and starts a node of a test kind.
func (e *nodeEnv) started(mode nodeMode, kind, name string, opts ...Option) *Node {
	e.t.Helper()
	n := e.node(mode, kind, name, opts...)
	e.start(n)
	return n
}

// stop stops n within its own stop timeout and expects a clean end.
func (e *nodeEnv) stop(n *Node) {
	e.t.Helper()
	if err := n.Stop(context.Background()); err != nil {
		e.t.Fatalf("Stop(%s): %v", n.Name(), err)
	}
}

// client returns the test's client peer.
func (e *nodeEnv) client() *Peer {
	e.t.Helper()
	if e.cli == nil {
		p, err := NewPeer(e.ctx, "", WithRegistry(e.reg))
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { p.Close() })
		e.cli = p
	}
	return e.cli
}

// call calls service on n, once, with a generous deadline.
func callNode[Resp any](e *nodeEnv, n *Node, service string) (Resp, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req := any(struct{}{})
	if service == "add" {
		req = addReq{40, 2}
	}
	return Call[Resp](ctx, e.client(), service, req, OnNode(n.Name()))
}

// mustAdd calls n's add service once: it must answer at first try.
func (e *nodeEnv) mustAdd(n *Node) {
	e.t.Helper()
	if got, err := callNode[int](e, n, "add"); err != nil || got != 42 {
		e.t.Fatalf("add on %s = %d, %v; want 42", n.Name(), got, err)
	}
}

// markText returns the mark what of node name, or fails the test.
func (e *nodeEnv) markText(name, what string) string {
	e.t.Helper()
	b, err := os.ReadFile(markPath(e.dir, name, what))
	if err != nil {
		e.t.Fatalf("mark %q of %s: %v", what, name, err)
	}
	return string(b)
}

// wantGone checks that no node of that name is in the registry.
func (e *nodeEnv) wantGone(name string) {
	e.t.Helper()
	if info, err := Lookup(e.ctx, e.reg, name); !errors.Is(err, ErrNotFound) {
		e.t.Fatalf("Lookup(%s) = %+v, %v; want ErrNotFound", name, info, err)
	}
}

// waitState polls n's status until it reaches want.
func waitState(t *testing.T, n *Node, want State) Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := n.Status()
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %s, want %s (status %+v)", n.Name(), st.State, want, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitNode polls cond until it holds or d passes.
func waitNode(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pidGone reports that process pid has exited (a zombie counts, since
// whoever reaps it may not be us).
func pidGone(pid int) bool {
	state, _, ok := dirProcStat(pid)
	return !ok || state == 'Z' || state == 'X' || state == 'x'
}

// checkPID checks the status PID for the mode and that the node itself
// reports the same one.
func (e *nodeEnv) checkPID(mode nodeMode, n *Node) int {
	e.t.Helper()
	st := n.Status()
	switch {
	case mode == modeInProcess && st.PID != os.Getpid():
		e.t.Fatalf("in-process node PID %d, want %d", st.PID, os.Getpid())
	case mode == modeChild && (st.PID == os.Getpid() || st.PID <= 0):
		e.t.Fatalf("child node PID %d (test PID %d)", st.PID, os.Getpid())
	case st.Info.PID != st.PID:
		e.t.Fatalf("Info.PID %d != Status.PID %d", st.Info.PID, st.PID)
	}
	if pid, err := callNode[int](e, n, "pid"); err != nil || pid != st.PID {
		e.t.Fatalf("pid service = %d, %v; want %d", pid, err, st.PID)
	}
	return st.PID
}

func TestNodeStartReturnsWhenReady(t *testing.T) {
	eachModeTransport(t, func(t *testing.T, mode nodeMode, tr Transport) {
		e := newNodeEnv(t)
		n := e.started(mode, "calc", "ready", transportOpts(t, tr)...)
		e.mustAdd(n) // no wait, no retry
		st := n.Status()
		if st.State != StateRunning || st.Err != nil || st.Info.Name != "ready" {
			t.Fatalf("status after Start: %+v", st)
		}
		if !strings.HasPrefix(st.Info.RPC, string(tr)+"://") || !strings.HasPrefix(st.Info.Pub, string(tr)+"://") {
			t.Fatalf("endpoints %q %q, want %s", st.Info.RPC, st.Info.Pub, tr)
		}
		if !slices.Contains(st.Info.Services, "add") {
			t.Fatalf("services %v lack add", st.Info.Services)
		}
		e.checkPID(mode, n)
	})
}

func TestNodeDoubleStartAndStop(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.started(mode, "calc", "twice")
		if err := n.Start(e.ctx); !errors.Is(err, ErrAlreadyStarted) {
			t.Fatalf("second Start = %v, want ErrAlreadyStarted", err)
		}
		e.mustAdd(n) // the first incarnation is untouched
		e.stop(n)
		if err := n.Stop(e.ctx); err != nil {
			t.Fatalf("second Stop = %v, want nil", err)
		}
		st := n.Status()
		if st.State != StateStopped || st.ExitCode != 0 || st.Err != nil || st.Stopped.IsZero() {
			t.Fatalf("status after Stop: %+v", st)
		}
		e.wantGone("twice")
	})
}

func TestNodeRestart(t *testing.T) {
	eachModeTransport(t, func(t *testing.T, mode nodeMode, tr Transport) {
		e := newNodeEnv(t)
		n := e.started(mode, "calc", "phoenix", transportOpts(t, tr)...)
		pid, id := e.checkPID(mode, n), n.Status().Info.ID
		for i, stopFirst := range []bool{false, true} { // while running, then after stop
			if stopFirst {
				e.stop(n)
			}
			if err := n.Restart(e.ctx); err != nil {
				t.Fatalf("Restart #%d: %v", i+1, err)
			}
			st := n.Status()
			if st.State != StateRunning || st.Restarts != i+1 || st.Info.ID == id {
				t.Fatalf("after restart #%d: %+v (old id %s)", i+1, st, id)
			}
			e.mustAdd(n)
			newPID := e.checkPID(mode, n)
			if mode == modeChild && (newPID == pid || !pidGone(pid)) {
				t.Fatalf("restart #%d: pid %d -> %d, old one gone: %v", i+1, pid, newPID, pidGone(pid))
			}
			pid, id = newPID, st.Info.ID
		}
	})
}

func TestNodeSetupError(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.node(mode, "setupfail", "doomed")
		for i := range 2 { // a failed node can be started again, and fails again
			err := n.Start(e.ctx)
			if err == nil || !strings.Contains(err.Error(), errKindSetup.Error()) {
				t.Fatalf("Start #%d = %v, want the setup error", i+1, err)
			}
			if mode == modeInProcess && !errors.Is(err, errKindSetup) {
				t.Fatalf("in-process Start error %v does not wrap the setup error", err)
			}
			st := n.Status()
			if st.State != StateFailed || st.Err == nil || st.Restarts != i {
				t.Fatalf("status after failed Start #%d: %+v", i+1, st)
			}
			if mode == modeChild && st.ExitCode != 1 {
				t.Fatalf("child exit code %d, want 1", st.ExitCode)
			}
			e.wantGone("doomed")
		}
	})
}

func TestNodeUpdateCalledOnceWhenStoppedAtOnce(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.started(mode, "ticker", "brief", WithUpdateInterval(time.Hour))
		e.stop(n)
		if got := e.markText("brief", "updated"); got != "1" {
			t.Fatalf("update mark %q", got)
		}
	})
}

// runUpdates runs an in-process node updating every interval until it
// has been called calls times, and returns the elapsed values it got
// and the wall time from before Start to after Stop.
func runUpdates(t *testing.T, interval time.Duration, calls int) ([]time.Duration, time.Duration) {
	t.Helper()
	e := newNodeEnv(t)
	var mu sync.Mutex
	var got []time.Duration
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	n := e.inproc("updater", Behavior{Update: func(_ context.Context, _ *Peer, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
		return nil
	}}, WithUpdateInterval(interval))
	t0 := time.Now()
	e.start(n)
	waitNode(t, 20*time.Second, "updates did not come", func() bool { return count() >= calls })
	e.stop(n)
	wall := time.Since(t0)
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got), wall
}

func TestNodeUpdateElapsedIsReal(t *testing.T) {
	const interval = 20 * time.Millisecond
	elapsed, wall := runUpdates(t, interval, 10)
	var sum time.Duration
	for i, d := range elapsed {
		if d < 0 || (i > 0 && d < interval-time.Millisecond) {
			t.Fatalf("elapsed[%d] = %v with interval %v: %v", i, d, interval, elapsed)
		}
		sum += d
	}
	if min := time.Duration(len(elapsed)-1) * interval; sum < min || sum > wall {
		t.Fatalf("sum of elapsed %v outside [%v, wall %v]: %v", sum, min, wall, elapsed)
	}
}

func TestNodeUpdateIntervalRespected(t *testing.T) {
	const interval = 50 * time.Millisecond
	elapsed, wall := runUpdates(t, interval, 6)
	if max := int(wall/interval) + 1; len(elapsed) > max {
		t.Fatalf("%d updates in %v: more than %d at interval %v", len(elapsed), wall, max, interval)
	}
	gaps := slices.Sorted(slices.Values(elapsed[1:]))
	if median := gaps[len(gaps)/2]; median > 10*interval {
		t.Fatalf("median gap %v at interval %v: %v", median, interval, elapsed)
	}
}

func TestNodeUpdateErrStopEndsCleanly(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.started(mode, "stopper", "quitter", WithUpdateInterval(10*time.Millisecond))
		if err := n.Wait(e.ctx); err != nil {
			t.Fatalf("Wait = %v, want nil", err)
		}
		st := waitState(t, n, StateStopped)
		if st.ExitCode != 0 || st.Err != nil {
			t.Fatalf("status after ErrStop: %+v", st)
		}
		e.wantGone("quitter")
	})
}

func TestNodeUpdateErrorFailsNode(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.started(mode, "crasher", "crashy", WithUpdateInterval(10*time.Millisecond))
		if err := n.Wait(e.ctx); err == nil || !strings.Contains(err.Error(), errKindUpdate.Error()) {
			t.Fatalf("Wait = %v, want the update error", err)
		}
		st := waitState(t, n, StateFailed)
		if st.Err == nil || !strings.Contains(st.Err.Error(), errKindUpdate.Error()) {
			t.Fatalf("status Err = %v, want the update error", st.Err)
		}
		if mode == modeInProcess && !errors.Is(st.Err, errKindUpdate) {
			t.Fatalf("in-process Err %v does not wrap the update error", st.Err)
		}
		if mode == modeChild && st.ExitCode != 1 {
			t.Fatalf("child exit code %d, want 1", st.ExitCode)
		}
		e.wantGone("crashy")
	})
}

func TestNodeTeardownBeforeStopReturns(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.started(mode, "calc", "tidy")
		e.stop(n)
		// Teardown ran before Stop returned, while still registered.
		if got := e.markText("tidy", "teardown"); got != "registered" {
			t.Fatalf("teardown saw %q, want registered", got)
		}
		e.wantGone("tidy")
	})
}

// stopWithin stops n with a deadline of d and wants ErrStopTimeout.
func stopWithin(t *testing.T, n *Node, d time.Duration) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if err := n.Stop(ctx); !errors.Is(err, ErrStopTimeout) {
		t.Fatalf("Stop = %v, want ErrStopTimeout", err)
	}
	if took := time.Since(start); took > d+10*time.Second {
		t.Fatalf("Stop with a %v deadline took %v", d, took)
	}
	st := n.Status()
	if st.State != StateFailed || !errors.Is(st.Err, ErrStopTimeout) {
		t.Fatalf("status after a stop timeout: %+v", st)
	}
	return st
}

func TestNodeStopTimeoutKillsChild(t *testing.T) {
	e := newNodeEnv(t)
	n := e.started(modeChild, "stubborn", "mule")
	pid := e.checkPID(modeChild, n)
	st := stopWithin(t, n, 500*time.Millisecond)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("child %d still exists after Stop", pid)
	}
	if st.ExitCode != -1 {
		t.Fatalf("exit code %d, want -1 (killed)", st.ExitCode)
	}
}

func TestNodeStopTimeoutAbandonsInProcess(t *testing.T) {
	e := newNodeEnv(t)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	n := e.inproc("mule", Behavior{
		Setup: func(_ context.Context, p *Peer) error { return provideCalc(p) },
		Teardown: func(context.Context, *Peer) error {
			<-release // ignores its context until freed
			return nil
		},
	})
	t.Cleanup(free) // runs before n.Close even if the test fails: nothing leaks
	e.start(n)
	e.mustAdd(n)
	stopWithin(t, n, 500*time.Millisecond)
	e.wantGone("mule")
	if got, err := callNode[int](e, n, "add"); err == nil { // a client that knew it
		t.Fatalf("an abandoned node still serves: add = %d", got)
	}
	e.cli = nil // a client that did not
	if _, err := callNode[int](e, n, "add"); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("call to an abandoned node = %v, want ErrNoProvider", err)
	}
	free()
	if err := n.Close(); err != nil { // waits for the abandoned goroutine's end
		t.Fatalf("Close = %v", err)
	}
	if st := n.Status(); st.State != StateFailed || !errors.Is(st.Err, ErrStopTimeout) {
		t.Fatalf("the abandoned incarnation's late end changed the status to %+v", st)
	}
}

func TestChildNeverOutlivesParent(t *testing.T) {
	e := newNodeEnv(t)
	parent := e.started(modeChild, "parent", "elder")
	ppid := parent.Status().PID
	gpid, err := callNode[int](e, parent, "gcpid")
	if err != nil || gpid <= 0 || gpid == ppid || pidGone(gpid) {
		t.Fatalf("grandchild pid %d, %v (parent %d, gone %v)", gpid, err, ppid, pidGone(gpid))
	}
	if _, err := Lookup(e.ctx, e.reg, "elder-gc"); err != nil {
		t.Fatalf("grandchild not registered: %v", err)
	}
	if err := syscall.Kill(ppid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNode(t, 5*time.Second, "grandchild outlived its parent", func() bool { return pidGone(gpid) })
	if st := waitState(t, parent, StateFailed); st.ExitCode != -1 {
		t.Fatalf("killed parent status %+v", st)
	}
}

func TestChildOutputIsPrefixed(t *testing.T) {
	e := newNodeEnv(t)
	n := e.started(modeChild, "chatty", "talker")
	e.stop(n) // the output is complete once the child is reaped
	out := e.out.String()
	for _, want := range []string{"out-line", "err-line", "no newline at the end"} {
		if !strings.Contains(out, "[talker] "+want+"\n") {
			t.Errorf("output lacks %q prefixed", want)
		}
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if line != "" && (!strings.HasPrefix(line, "[talker] ") || !strings.HasSuffix(line, "\n")) {
			t.Errorf("unprefixed or unterminated line %q", line)
		}
	}
}

func TestNodeOptionsCrossProcess(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		want := cfgReply{
			Transport: IPC, RuntimeDir: shortNodeDir(t), CallTimeout: 7 * time.Second, LeaseTTL: 9 * time.Second,
			MaxMessageSize: 1 << 20, UpdateInterval: 30 * time.Millisecond, StopTimeout: 3 * time.Second,
			Registry: e.reg.Dir(),
		}
		n := e.started(mode, "calc", "configured", WithTransport(IPC), WithRuntimeDir(want.RuntimeDir),
			WithCallTimeout(want.CallTimeout), WithLeaseTTL(want.LeaseTTL), WithMaxMessageSize(want.MaxMessageSize),
			WithUpdateInterval(want.UpdateInterval), WithStopTimeout(want.StopTimeout))
		got, err := callNode[cfgReply](e, n, "cfg")
		want.PID = n.Status().PID
		if err != nil || got != want {
			t.Fatalf("node config (%v)\n got %+v\nwant %+v", err, got, want)
		}
		if info := n.Status().Info; !strings.HasPrefix(info.RPC, "ipc://"+want.RuntimeDir+"/") {
			t.Fatalf("RPC endpoint %q not in runtime dir %q", info.RPC, want.RuntimeDir)
		}
	})
}

func TestNodeGeneratedNames(t *testing.T) {
	e := newNodeEnv(t)
	a, b := e.inproc("", Behavior{}), e.inproc("", Behavior{})
	if a.Name() == "" || a.Name() == b.Name() {
		t.Fatalf("generated names %q and %q", a.Name(), b.Name())
	}
	e.start(a)
	e.start(b)
	c := e.node(modeChild, "calc", "")
	if !strings.HasPrefix(c.Name(), "calc-") || len(c.Name()) <= len("calc-") {
		t.Fatalf("generated child name %q", c.Name())
	}
}

func TestNodeBadNames(t *testing.T) {
	for _, name := range []string{"bad\nname", "tab\tname", "nul\x00"} {
		if _, err := NewNode(name, Behavior{}); !errors.Is(err, ErrBadName) {
			t.Errorf("NewNode(%q) = %v, want ErrBadName", name, err)
		}
		if _, err := testLauncher.NewNode("calc", name); !errors.Is(err, ErrBadName) {
			t.Errorf("Launcher.NewNode(%q) = %v, want ErrBadName", name, err)
		}
	}
}

func TestNodeNameTaken(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		first := e.started(mode, "calc", "highlander")
		second := e.node(mode, "calc", "highlander")
		if err := second.Start(e.ctx); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("second Start = %v, want ErrNameTaken", err)
		}
		if st := second.Status(); st.State != StateFailed {
			t.Fatalf("second node status %+v", st)
		}
		e.mustAdd(first)
		if info, err := Lookup(e.ctx, e.reg, "highlander"); err != nil || info.ID != first.Status().Info.ID {
			t.Fatalf("registry holds %+v, %v; want the first node", info, err)
		}
	})
}

func TestNodeCloseIdempotentNoLeaks(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		before := goleak.IgnoreCurrent()
		t.Cleanup(func() { goleak.VerifyNone(t, before) }) // after every other cleanup
		e := newNodeEnv(t)
		n := e.started(mode, "calc", "closer")
		e.mustAdd(n)
		for i := range 2 {
			if err := n.Close(); err != nil {
				t.Fatalf("Close #%d = %v", i+1, err)
			}
		}
		if st := n.Status(); st.State != StateStopped || st.ExitCode != 0 {
			t.Fatalf("status after Close: %+v", st)
		}
		e.wantGone("closer")
	})
}

func TestNodeServiceDiscoveryLifecycle(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		n := e.started(mode, "calc", "finder")
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		found, err := Discover(ctx, e.reg, "add", 1)
		if err != nil || len(found) != 1 || found[0].Name != "finder" || found[0].PID != n.Status().PID {
			t.Fatalf("Discover = %+v, %v", found, err)
		}
		e.stop(n)
		if left, err := Providers(e.ctx, e.reg, "add"); err != nil || len(left) != 0 {
			t.Fatalf("Providers after Stop = %+v, %v; want none", left, err)
		}
	})
}

func TestLauncherRegisterAndKinds(t *testing.T) {
	l, err := NewLauncher(WithArgs("-test.run=^$"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Register("k", calcKind); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []error{l.Register("k", calcKind), l.Register("k2", nil)} {
		if bad == nil {
			t.Error("Register accepted a duplicate kind or a nil constructor")
		}
	}
	if err := l.Register("bad\nkind", calcKind); !errors.Is(err, ErrBadName) {
		t.Errorf("Register(bad name) = %v, want ErrBadName", err)
	}
	if _, err := l.NewNode("nosuchkind", "x"); err == nil {
		t.Error("NewNode of an unregistered kind succeeded")
	}
	if _, err := NewLauncher(WithExecutable("")); err == nil {
		t.Error(`WithExecutable("") accepted`)
	}
}
