package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// procSup is a supervisor of child-process nodes in a registry of its
// own, and a client peer of that registry.
type procSup struct {
	s      *Supervisor
	reg    *core.DirRegistry
	client *core.Peer
}

// newProcSup starts a one_for_one supervisor of the given kinds (one
// node each, named after the kind) with shutdown, no backoff and a
// generous intensity.
func newProcSup(t *testing.T, shutdown time.Duration, restart RestartType, kinds ...string) *procSup {
	t.Helper()
	t.Setenv(envTestDir, t.TempDir())
	reg := newTestRegistry(t)
	var specs []Spec
	for _, k := range kinds {
		n, err := testLauncher.NewNode(k, k, core.WithRegistry(reg), core.WithOutput(io.Discard))
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, Spec{Name: k, Child: n, Shutdown: shutdown, Restart: restart})
	}
	s, err := New("procs", OneForOne, specs, WithBackoff(NoBackoff()), WithIntensity(1000, time.Minute), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx := testCtx(t, 30*time.Second)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return &procSup{s: s, reg: reg, client: client}
}

// childPID returns the PID the supervisor reports for child name.
func (p *procSup) childPID(t *testing.T, name string) int {
	t.Helper()
	for _, c := range p.s.Children() {
		if c.Name == name {
			return c.PID
		}
	}
	t.Fatalf("no child %s", name)
	return 0
}

// callUntil calls node's "pid" service until a process other than old
// answers, and returns its PID.
func (p *procSup) callUntil(t *testing.T, node string, old int, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		pid, err := core.Call[int](ctx, p.client, "pid", struct{}{}, core.OnNode(node))
		cancel()
		if err == nil && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer from a new process within %v (last: pid %d, %v)", node, limit, pid, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// percentile returns the q-quantile (0..1) of ds, nearest rank.
func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// envInt reads a count from the environment.
func envInt(t *testing.T, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q", name, v)
		}
		return n
	}
	return def
}

// TestProcessKilledIsRestarted: a child-process node SIGKILLed from
// outside is detected, restarted and found again through the registry:
// a call to its service succeeds from the new process. It measures the
// time from the kill to that answer (ZMP_SUPERVISE_KILLS kills, default
// 5; the goal is 500 ms p99).
func TestProcessKilledIsRestarted(t *testing.T) {
	p := newProcSup(t, 2*time.Second, Permanent, "calc")
	ctx := testCtx(t, 30*time.Second)
	if sum, err := core.Call[int](ctx, p.client, "add", addReq{2, 3}); err != nil || sum != 5 {
		t.Fatalf("add = %d, %v", sum, err)
	}
	kills := envInt(t, "ZMP_SUPERVISE_KILLS", 5)
	var took []time.Duration
	for i := range kills {
		old := p.childPID(t, "calc")
		if old == os.Getpid() || old == 0 {
			t.Fatalf("calc's PID %d is not a child process", old)
		}
		start := time.Now()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pid := p.callUntil(t, "calc", old, 20*time.Second)
		took = append(took, time.Since(start))
		// The new process answers as soon as it is registered, which may
		// be before its Start has returned to the supervisor.
		waitFor(t, 10*time.Second, fmt.Sprintf("kill %d: the supervisor to report PID %d", i, pid), func() bool {
			return p.childPID(t, "calc") == pid
		})
	}
	kid := p.s.Children()[0]
	if kid.Restarts != kills || kid.LastExit == nil || kid.LastExit.Normal || kid.LastExit.ExitCode != -1 {
		t.Errorf("after %d kills: %+v (last exit %+v)", kills, kid, kid.LastExit)
	}
	if _, err := core.Lookup(ctx, p.reg, "calc"); err != nil {
		t.Errorf("calc is not in the registry after its restarts: %v", err)
	}
	if sum, err := core.Call[int](ctx, p.client, "add", addReq{20, 22}); err != nil || sum != 42 {
		t.Errorf("add after the restarts = %d, %v", sum, err)
	}
	t.Logf("SIGKILL → restarted → answering, %d kills: p50 %v, p99 %v, max %v",
		kills, percentile(took, 0.5), percentile(took, 0.99), percentile(took, 1))
}

// TestProcessIgnoringSIGTERMIsKilled: a child process that ignores
// SIGTERM is SIGKILLed once its shutdown timeout has passed. The issue's
// goal is within timeout + 100 ms; the test's bound is generous (the
// machine is shared), the figure is logged (ZMP_SUPERVISE_RUNS runs,
// default 3).
func TestProcessIgnoringSIGTERMIsKilled(t *testing.T) {
	const shutdown = 300 * time.Millisecond
	p := newProcSup(t, shutdown, Permanent, "deaf")
	ctx := testCtx(t, 60*time.Second)
	runs := envInt(t, "ZMP_SUPERVISE_RUNS", 3)
	var over []time.Duration
	for i := range runs {
		if i > 0 {
			if err := p.s.RestartChild(ctx, "deaf"); err != nil {
				t.Fatal(err)
			}
		}
		pid := p.childPID(t, "deaf")
		start := time.Now()
		if err := p.s.TerminateChild(ctx, "deaf"); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if !processGone(pid) {
			t.Fatalf("run %d: pid %d still there after TerminateChild", i, pid)
		}
		if took < shutdown {
			t.Errorf("run %d: killed after %v, before its shutdown %v: it was not given its time", i, took, shutdown)
		}
		if took > shutdown+3*time.Second {
			t.Errorf("run %d: killed after %v, shutdown %v", i, took, shutdown)
		}
		over = append(over, took-shutdown)
	}
	if st := p.s.Stats(); st.Killed != int64(runs) {
		t.Errorf("Stats.Killed = %d, want %d", st.Killed, runs)
	}
	t.Logf("ignoring SIGTERM, shutdown %v, %d runs: killed and reaped at shutdown + p50 %v, p99 %v", shutdown, runs,
		percentile(over, 0.5), percentile(over, 0.99))
}

// TestProcessBrutalKill: BrutalKill gives no time at all.
func TestProcessBrutalKill(t *testing.T) {
	p := newProcSup(t, BrutalKill, Permanent, "deaf")
	pid := p.childPID(t, "deaf")
	start := time.Now()
	if err := p.s.TerminateChild(testCtx(t, 30*time.Second), "deaf"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second || !processGone(pid) {
		t.Errorf("brutal kill took %v, gone=%v", took, processGone(pid))
	}
	if st := p.s.Stats(); st.Killed != 1 {
		t.Errorf("Stats.Killed = %d", st.Killed)
	}
}

// TestProcessExitClassification: a child process that ends itself
// cleanly (exit 0) exits normally; one whose node fails (exit 1) or
// that is killed by a signal (-1) does not. Transient children show it.
func TestProcessExitClassification(t *testing.T) {
	p := newProcSup(t, 2*time.Second, Transient, "calc", "quitter", "failer")
	waitFor(t, 20*time.Second, "quitter's exit and failer's restart", func() bool {
		k := p.s.Children()
		return k[1].LastExit != nil && k[2].LastExit != nil && k[2].State == ChildRunning
	})
	kids := p.s.Children()
	if q := kids[1]; q.State != ChildStopped || q.Restarts != 0 || !q.LastExit.Normal || q.LastExit.ExitCode != 0 {
		t.Errorf("quitter %+v %+v, want stopped after a normal exit", q, q.LastExit)
	}
	if f := kids[2]; f.Restarts != 1 || f.LastExit.Normal || f.LastExit.ExitCode != 1 || !strings.Contains(f.LastExit.Error, errFailOnce.Error()) {
		t.Errorf("failer %+v %+v, want restarted after exit code 1", f, f.LastExit)
	}
	old := p.childPID(t, "calc")
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.callUntil(t, "calc", old, 20*time.Second)
	if c := p.s.Children()[0]; c.Restarts != 1 || c.LastExit.Normal || c.LastExit.ExitCode != -1 {
		t.Errorf("calc %+v %+v, want restarted after a signal", c, c.LastExit)
	}
}

// processGone reports whether pid no longer runs: no such process, or a
// zombie waiting to be reaped.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	// The state follows the command name in parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

// TestNoOrphansAfterSupervisorKilled: a process supervising child
// processes is SIGKILLed; none of its children survives it.
func TestNoOrphansAfterSupervisorKilled(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=orphans", envTestDir+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var raw []byte
	waitFor(t, 30*time.Second, "the helper's children", func() bool {
		var err error
		raw, err = os.ReadFile(filepath.Join(dir, "pids"))
		return err == nil
	})
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 || pid == cmd.Process.Pid {
			t.Fatalf("bad pid %q (stderr: %s)", f, stderr.String())
		}
		if processGone(pid) {
			t.Fatalf("child %d is not running before the kill", pid)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("pids %v", pids)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	waitFor(t, 10*time.Second, fmt.Sprintf("children %v to die with their supervisor", pids), func() bool {
		return !slices.ContainsFunc(pids, func(pid int) bool { return !processGone(pid) })
	})
}
