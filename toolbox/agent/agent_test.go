package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// A node placed on an agent runs as a child process, answers calls,
// carries the agent's labels, and is listed by ps and counted by status.
func TestPlaceAndCall(t *testing.T) {
	h := newHarness(t, WithLabels(map[string]string{"zone": "z1"}))
	st := h.start(Spec{Name: "g1", Kind: "greeter", Args: []string{"--greeting", "bonjour"}})
	if st.State != StateRunning || st.PID == 0 || st.PID == os.Getpid() || st.Adopted || st.Agent != "a1" {
		t.Fatalf("start: %+v", st)
	}
	got, err := core.Call[string](h.ctx, h.peer, "g1.greet", "monde", core.OnNode("g1"))
	if err != nil || got != "bonjour, monde" {
		t.Fatalf("g1.greet = %q, %v", got, err)
	}
	n, err := core.Lookup(h.ctx, h.reg, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if n.PID != st.PID || n.Labels[LabelAgent] != "a1" || n.Labels["zone"] != "z1" {
		t.Errorf("registry entry of g1: pid %d labels %v", n.PID, n.Labels)
	}
	nodes, err := h.client.PS(h.ctx, "a1")
	if err != nil || len(nodes) != 1 || nodes[0].Name != "g1" || nodes[0].PID != st.PID || nodes[0].Kind != "greeter" ||
		!slices.Equal(nodes[0].Args, []string{"--greeting", "bonjour"}) || nodes[0].Restart != Permanent || nodes[0].Started.IsZero() {
		t.Fatalf("ps: %+v, %v", nodes, err)
	}
	status, err := h.client.Status(h.ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	if status.Name != "a1" || status.Counts.Nodes != 1 || status.Counts.Running != 1 || status.Counts.Started != 1 ||
		status.Security != "NULL" || !slices.Contains(status.Kinds, "greeter") || status.Limits.MaxNodes != DefaultMaxNodes || status.Labels["zone"] != "z1" {
		t.Errorf("status: %+v", status)
	}
	agents, err := h.client.Agents(h.ctx)
	if err != nil || len(agents) != 1 || agents[0].Name != "a1" {
		t.Errorf("agents: %v, %v", agents, err)
	}
}

// Placing a node that runs with the same spec adopts it (no restart,
// same process); another kind, other arguments or another restart type
// is a conflict. A controller that goes away and comes back adopts the
// nodes, which kept running meanwhile.
func TestAdoptionAndConflict(t *testing.T) {
	h := newHarness(t)
	spec := Spec{Name: "g1", Kind: "greeter", Args: []string{"--greeting", "hi"}}
	first := h.start(spec)

	h.peer.Close() // the controller goes away
	time.Sleep(100 * time.Millisecond)
	var err error
	h.peer, err = core.NewPeer(h.ctx, "controller-2", core.WithRegistry(h.reg))
	if err != nil {
		t.Fatal(err)
	}
	defer h.peer.Close()
	h.client = NewClient(h.peer)
	again := h.start(spec)
	if !again.Adopted || again.PID != first.PID || again.Restarts != 0 {
		t.Fatalf("placing it again: %+v, first %+v", again, first)
	}
	if pid, err := h.pid("g1"); err == nil {
		t.Fatalf("greeter has no pid service, got %d", pid)
	}
	for _, other := range []Spec{
		{Name: "g1", Kind: "calc"},
		{Name: "g1", Kind: "greeter", Args: []string{"--greeting", "hello"}},
		{Name: "g1", Kind: "greeter", Args: []string{"--greeting", "hi"}, Restart: Transient},
	} {
		_, err := h.client.Start(h.ctx, "a1", other)
		if !errors.Is(err, ErrConflict) || Code(err) != CodeConflict {
			t.Errorf("placing %+v over %+v: %v, want ErrConflict", other, spec, err)
		}
	}
	if st := h.ps("g1"); st.PID != first.PID || st.State != StateRunning {
		t.Errorf("after the conflicts: %+v", st)
	}
	if c := h.agent.Status().Counts; c.Started != 1 || c.Adopted != 1 || c.Refused["conflict"] != 3 {
		t.Errorf("counts: %+v", c)
	}
}

// Stop ends the node's process and frees its name; restart starts a new
// process; both are counted.
func TestStopAndRestart(t *testing.T) {
	h := newHarness(t)
	first := h.start(Spec{Name: "c1", Kind: "calc"})
	st, err := h.client.Restart(h.ctx, "a1", "c1")
	if err != nil || st.State != StateRunning || st.PID == first.PID || st.Requested != 1 || st.Restarts != 0 {
		t.Fatalf("restart: %+v, %v", st, err)
	}
	if pid, err := h.pid("c1"); err != nil || pid != st.PID {
		t.Fatalf("c1.pid after the restart = %d, %v; want %d", pid, err, st.PID)
	}
	if !processGone(first.PID) {
		t.Errorf("the first process %d still runs", first.PID)
	}
	stopped, err := h.client.Stop(h.ctx, "a1", "c1")
	if err != nil || stopped.State != StateStopped {
		t.Fatalf("stop: %+v, %v", stopped, err)
	}
	h.waitFor(5*time.Second, "end of the process", func() bool { return processGone(st.PID) })
	if nodes := h.agent.Nodes(); len(nodes) != 0 {
		t.Errorf("ps after stop: %+v", nodes)
	}
	if _, err := core.Lookup(h.ctx, h.reg, "c1"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("c1 still in the registry: %v", err)
	}
	for _, op := range []func() (NodeStatus, error){
		func() (NodeStatus, error) { return h.client.Stop(h.ctx, "a1", "c1") },
		func() (NodeStatus, error) { return h.client.Restart(h.ctx, "a1", "c1") },
	} {
		if _, err := op(); !errors.Is(err, ErrNotFound) {
			t.Errorf("on a stopped node: %v, want ErrNotFound", err)
		}
	}
	again := h.start(Spec{Name: "c1", Kind: "greeter"}) // the name is free for another kind
	if again.Adopted || again.State != StateRunning {
		t.Errorf("placing c1 again: %+v", again)
	}
}

// A node SIGKILLed under an agent is restarted by its supervisor,
// registers again and answers; the restart is counted and noted in its
// output.
func TestKilledNodeIsRestarted(t *testing.T) {
	h := newHarness(t)
	first := h.start(Spec{Name: "c1", Kind: "calc"})
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitFor(20*time.Second, "answer from a new process", func() bool {
		pid, err := h.pid("c1")
		return err == nil && pid != first.PID && h.ps("c1").State == StateRunning
	})
	st := h.ps("c1")
	if st.State != StateRunning || st.Restarts != 1 || st.PID == first.PID || st.ExitCode != -1 {
		t.Errorf("after the kill: %+v", st)
	}
	logs := readAll(t, must(h.client.Logs(h.ctx, "a1", LogsRequest{Name: "c1"})))
	if !containsAll(logs, "[zmp-agent] exited (code -1)", "[zmp-agent] restarting (restart 1)") {
		t.Errorf("logs lack the restart:\n%s", logs)
	}
}

// Close stops the nodes in reverse placement order, each before the
// next is asked to stop.
func TestCloseStopsInReverseOrder(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envTestDir, dir)
	h := newHarness(t)
	names := []string{"n1", "n2", "n3"}
	var pids []int
	for _, n := range names {
		pids = append(pids, h.start(Spec{Name: n, Kind: "calc"}).PID)
	}
	if err := h.agent.Close(); err != nil {
		t.Fatal(err)
	}
	var stamps []int64
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n+".teardown"))
		if err != nil {
			t.Fatalf("%s did not tear down: %v", n, err)
		}
		s, _ := strconv.ParseInt(string(b), 10, 64)
		stamps = append(stamps, s)
	}
	if !(stamps[2] < stamps[1] && stamps[1] < stamps[0]) {
		t.Errorf("teardowns of n1, n2, n3 at %v: not in reverse order", stamps)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("process %d still runs after Close", pid)
		}
	}
	if _, err := h.client.PS(h.ctx, "a1"); err == nil {
		t.Error("the closed agent answers")
	}
}

// A node that keeps failing reaches its own supervisor's intensity and
// is left failed; the other nodes are not touched. Placing it again
// starts it again.
func TestFailingNodeIsIsolated(t *testing.T) {
	h := newHarness(t, WithSupervisorOptions(supervise.WithIntensity(2, time.Minute), supervise.WithBackoff(supervise.NoBackoff())))
	steady := h.start(Spec{Name: "steady", Kind: "calc"})
	crash := Spec{Name: "crash", Kind: "exiter", Args: []string{"--after", "50ms", "--fail"}}
	h.start(crash)
	// Between the child's last exit and its supervisor giving up, ps may
	// already say failed with the child's own error: wait for the end.
	h.waitFor(30*time.Second, "crash to reach its intensity", func() bool {
		st := h.ps("crash")
		return st.State == StateFailed && containsAll(st.Error, "intensity")
	})
	st := h.ps("crash")
	if st.Restarts != 2 || !containsAll(st.Error, "intensity") {
		t.Errorf("crash: %+v", st)
	}
	if s := h.ps("steady"); s.State != StateRunning || s.PID != steady.PID || s.Restarts != 0 {
		t.Errorf("steady was touched: %+v", s)
	}
	again := h.start(crash)
	if again.Adopted || again.State != StateRunning && again.State != StateRestarting {
		t.Errorf("placing the failed node again: %+v", again)
	}
}

// Restart types: a transient node that ends normally is left exited, a
// permanent one is restarted, a temporary one that fails is not.
func TestRestartTypes(t *testing.T) {
	h := newHarness(t, WithSupervisorOptions(supervise.WithIntensity(100, time.Minute)))
	h.start(Spec{Name: "tr", Kind: "exiter", Restart: Transient})
	h.start(Spec{Name: "tmp", Kind: "exiter", Args: []string{"--fail"}, Restart: Temporary})
	perm := h.start(Spec{Name: "perm", Kind: "exiter", Args: []string{"--after", "300ms"}})
	h.waitFor(30*time.Second, "the ends", func() bool {
		return h.ps("tr").State == StateExited && h.ps("tmp").State == StateFailed && h.ps("perm").Restarts >= 1
	})
	if st := h.ps("tr"); st.Restarts != 0 || st.ExitCode != 0 || st.PID != 0 {
		t.Errorf("transient: %+v", st)
	}
	if st := h.ps("tmp"); st.Restarts != 0 || !containsAll(st.Error, "failing on purpose") {
		t.Errorf("temporary: %+v", st)
	}
	if st := h.ps("perm"); st.PID == perm.PID {
		t.Errorf("permanent: %+v", st)
	}
	again := h.start(Spec{Name: "tr", Kind: "exiter", Restart: Transient})
	if again.Adopted {
		t.Errorf("an exited node placed again is started, not adopted: %+v", again)
	}
}

// A node whose start fails is kept, failed, with its output; placing it
// again tries again.
func TestStartFailureKept(t *testing.T) {
	h := newHarness(t)
	_, err := h.client.Start(h.ctx, "a1", Spec{Name: "f1", Kind: "failstart"})
	if !errors.Is(err, ErrStartFailed) || !containsAll(err.Error(), "failstart: setup refused") {
		t.Fatalf("start = %v, want ErrStartFailed", err)
	}
	if st := h.ps("f1"); st.State != StateFailed {
		t.Errorf("ps: %+v", st)
	}
	logs := readAll(t, must(h.client.Logs(h.ctx, "a1", LogsRequest{Name: "f1"})))
	if !containsAll(logs, "failstart: cannot start") {
		t.Errorf("logs of f1: %q", logs)
	}
	if _, err := h.client.Start(h.ctx, "a1", Spec{Name: "f1", Kind: "failstart"}); !errors.Is(err, ErrStartFailed) {
		t.Errorf("again: %v", err)
	}
	if c := h.agent.Status().Counts; c.Refused["start_failed"] != 2 || c.Nodes != 1 {
		t.Errorf("counts: %+v", c)
	}
}

// Two agents in one registry: the client selects by name or labels,
// and refuses a label selector matching both.
func TestSelect(t *testing.T) {
	h := newHarness(t, WithLabels(map[string]string{"zone": "z1", "disk": "ssd"}))
	h.startAgent("a2", WithLabels(map[string]string{"zone": "z2", "disk": "ssd"}))
	tests := []struct {
		sel   string
		want  []string
		err   error
		oneOK bool
	}{
		{"", []string{"a1", "a2"}, nil, false},
		{"a2", []string{"a2"}, nil, true},
		{"zone=z1", []string{"a1"}, nil, true},
		{"disk=ssd", []string{"a1", "a2"}, nil, false},
		{"disk=ssd,zone=z2", []string{"a2"}, nil, true},
		{"zone=z3", nil, ErrNoAgent, false},
		{"nosuch", nil, ErrNoAgent, false},
		{"zone=z1,=x", nil, core.ErrBadLabel, false},
	}
	for _, tt := range tests {
		var got []string
		agents, err := h.client.Select(h.ctx, tt.sel)
		for _, a := range agents {
			got = append(got, a.Name)
		}
		if !slices.Equal(got, tt.want) || !errors.Is(err, tt.err) {
			t.Errorf("Select(%q) = %v, %v; want %v, %v", tt.sel, got, err, tt.want, tt.err)
		}
		if tt.err != nil {
			continue
		}
		_, err = h.client.SelectOne(h.ctx, tt.sel)
		if (err == nil) != tt.oneOK || (err != nil && !errors.Is(err, ErrAmbiguous)) {
			t.Errorf("SelectOne(%q) = %v", tt.sel, err)
		}
	}
	_, err := h.client.SelectOne(h.ctx, "disk=ssd")
	if !containsAll(err.Error(), "a1 (disk=ssd,zone=z1)", "a2 (disk=ssd,zone=z2)") {
		t.Errorf("the ambiguity does not list the matches: %v", err)
	}
	h.start(Spec{Name: "c1", Kind: "calc"})
	if at, st, err := h.client.Find(h.ctx, "", "c1"); err != nil || at != "a1" || st.Name != "c1" {
		t.Errorf("Find c1 = %s, %+v, %v", at, st, err)
	}
	if _, _, err := h.client.Find(h.ctx, "", "nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find nosuch = %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// Start runs once; after Close every request is refused and Close is
// idempotent.
func TestAgentLifecycle(t *testing.T) {
	h := newHarness(t)
	if err := h.agent.Start(h.ctx); !errors.Is(err, ErrBadOption) {
		t.Errorf("a second Start: %v", err)
	}
	h.start(Spec{Name: "c1", Kind: "calc"})
	if err := h.agent.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.agent.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if _, err := h.agent.place(h.ctx, Spec{Name: "c2", Kind: "calc"}); !errors.Is(err, ErrClosed) {
		t.Errorf("placing on a closed agent: %v", err)
	}
	a, err := New(testLauncher, WithInsecure(true))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := a.Start(h.ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	if _, err := New(nil, WithInsecure(true)); !errors.Is(err, ErrBadOption) {
		t.Errorf("New(nil): %v", err)
	}
}

// A node that does not stop within its shutdown is killed; Shutdown
// bounded by a context that ends first returns its error, and Close
// then waits for the end.
func TestShutdownKillsStubbornNodes(t *testing.T) {
	h := newHarness(t, WithShutdown(300*time.Millisecond))
	slow := h.start(Spec{Name: "slow", Kind: "stubborn"})
	t0 := time.Now()
	st, err := h.client.Stop(h.ctx, "a1", "slow")
	if err != nil || st.State != StateStopped {
		t.Fatalf("stop: %+v, %v", st, err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("stopping a stubborn node took %v with a shutdown of 300ms", d)
	}
	if !processGone(slow.PID) {
		t.Errorf("the stubborn node %d survived", slow.PID)
	}

	again := h.start(Spec{Name: "slow2", Kind: "stubborn"})
	ctx, cancel := context.WithTimeout(h.ctx, 50*time.Millisecond)
	defer cancel()
	if err := h.agent.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its context: %v", err)
	}
	h.agent.Close()
	if !processGone(again.PID) {
		t.Errorf("the node %d survived Close", again.PID)
	}
}

// awaitsRestart says "restarting", not the child's end, for a child that
// ended in a way its restart type restarts after, while its supervisor
// has yet to act.
func TestAwaitsRestart(t *testing.T) {
	failed := &supervise.Exit{Normal: false, ExitCode: 1}
	clean := &supervise.Exit{Normal: true}
	for _, tc := range []struct {
		name string
		c    supervise.ChildInfo
		rt   supervise.RestartType
		want bool
	}{
		{"permanent, failed", supervise.ChildInfo{State: supervise.ChildStopped, LastExit: failed}, supervise.Permanent, true},
		{"permanent, clean exit", supervise.ChildInfo{State: supervise.ChildStopped, LastExit: clean}, supervise.Permanent, true},
		{"transient, failed", supervise.ChildInfo{State: supervise.ChildStopped, LastExit: failed}, supervise.Transient, true},
		{"transient, clean exit", supervise.ChildInfo{State: supervise.ChildStopped, LastExit: clean}, supervise.Transient, false},
		{"temporary, failed", supervise.ChildInfo{State: supervise.ChildStopped, LastExit: failed}, supervise.Temporary, false},
		{"running", supervise.ChildInfo{State: supervise.ChildRunning, LastExit: failed}, supervise.Permanent, false},
		{"never ended", supervise.ChildInfo{State: supervise.ChildStopped}, supervise.Permanent, false},
	} {
		if got := awaitsRestart(tc.c, tc.rt); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
