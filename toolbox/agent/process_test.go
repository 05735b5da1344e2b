package agent

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// startAgentProcess runs an agent named name as a process of its own
// (this test binary, see agentProcess) in the registry directory dir.
func startAgentProcess(t *testing.T, name, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envAgentProcess+"="+name, envAgentRegistry+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent process did not get ready")
	}
	return cmd
}

// An agent killed with SIGKILL leaves no node behind: the kernel kills
// its children (core.Launcher), and their registry entries go.
func TestAgentKilledLeavesNoOrphans(t *testing.T) {
	h := newHarness(t)
	cmd := startAgentProcess(t, "doomed", h.dir)
	var pids []int
	for _, n := range []string{"o1", "o2", "o3"} {
		st, err := h.client.Start(h.ctx, "doomed", Spec{Name: n, Kind: "calc"})
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, st.PID)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	h.waitFor(10*time.Second, "the nodes to die with their agent", func() bool {
		for _, pid := range pids {
			if !processGone(pid) {
				return false
			}
		}
		return true
	})
	h.waitFor(10*time.Second, "the registry to forget them", func() bool {
		nodes, err := h.reg.Nodes(h.ctx)
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.Labels[LabelAgent] == "doomed" || n.Name == "doomed" {
				return false
			}
		}
		return true
	})
	if _, err := core.Lookup(h.ctx, h.reg, "o1"); err == nil {
		t.Error("o1 still listed")
	}
}

// An agent process stopped by SIGTERM stops its nodes and exits 0.
func TestAgentProcessTerminated(t *testing.T) {
	h := newHarness(t)
	cmd := startAgentProcess(t, "polite", h.dir)
	st, err := h.client.Start(h.ctx, "polite", Spec{Name: "p1", Kind: "calc"})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	if !processGone(st.PID) {
		t.Errorf("node %d outlived its agent", st.PID)
	}
	if _, err := core.Lookup(h.ctx, h.reg, "p1"); err == nil {
		t.Error("p1 still listed")
	}
}
