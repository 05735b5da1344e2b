package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/toolbox/agent"
)

// toolCommand is this test binary run as zmptool with args, in the
// environment without ZMP_ variables, plus env.
func toolCommand(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(proxyEnv(), envToolMain+"=1", "GORACE=atexit_sleep_ms=0"), env...)
	return cmd
}

// startAgentTool runs `zmptool agent ARGS` as a process until the test
// ends, and returns it once it serves.
func startAgentTool(t *testing.T, env []string, args ...string) *proxyProc {
	t.Helper()
	p := startToolProc(t, toolCommand(t, env, append([]string{"agent"}, args...)...))
	p.expect(t, regexp.MustCompile(`^agent \S+ serving on tcp://`))
	return p
}

func TestAgentUsage(t *testing.T) {
	reg := t.TempDir()
	t.Setenv("ZMP_REGISTRY", reg)
	keys := t.TempDir()
	if code, _, stderr := runTool("keygen", "--dir", keys, "a"); code != exitOK {
		t.Fatal(stderr)
	}
	secret := filepath.Join(keys, "a.key_secret")
	users := filepath.Join(keys, "users")
	if err := os.WriteFile(users, []byte("u:p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []runCase{
		{"agent without security", []string{"agent"}, exitUsage, "", "refusing to run unauthenticated"},
		{"insecure on a routable address", []string{"agent", "--insecure", "--bind", "tcp://10.1.2.3:5000"}, exitUsage, "", "loopback addresses only"},
		{"wildcard bind", []string{"agent", "--insecure", "--bind", "tcp://0.0.0.0:5000"}, exitUsage, "", "wildcard"},
		{"any key", []string{"agent", "--curve-secret", secret, "--allow-any-key"}, exitUsage, "", "admits any client key"},
		{"plain", []string{"agent", "--plain-user", "u", "--plain-password", "p", "--plain-users", users}, exitUsage, "", "CURVE only, not PLAIN"},
		{"bad labels", []string{"agent", "--insecure", "--labels", "Zone=eu"}, exitUsage, "", "--labels"},
		{"bad name", []string{"agent", "--insecure", "--name", "a b"}, exitUsage, "", "WithName"},
		{"agent with an argument", []string{"agent", "--insecure", "x"}, exitUsage, "", "agent takes no arguments"},
		{"run without --on", []string{"run", "echo"}, exitUsage, "", "placement is explicit"},
		{"run, --on after the kind", []string{"run", "echo", "--on", "a"}, exitUsage, "", "give run's flags before KIND"},
		{"run without a kind", []string{"run", "--on", "a"}, exitUsage, "", "run takes 1"},
		{"run, bad restart", []string{"run", "--on", "a", "--restart", "always", "echo"}, exitUsage, "", "--restart must be"},
		{"run, bad name", []string{"run", "--on", "a", "--name", "a/b", "echo"}, exitUsage, "", "--name"},
		{"run, bad selector", []string{"run", "--on", "zone=a,=b", "echo"}, exitFailure, "", "bad label"},
		{"run, no agent", []string{"run", "--on", "nosuch", "echo"}, exitFailure, "", "no agent matches \"nosuch\""},
		{"ps, no agent", []string{"ps"}, exitFailure, "", "no agent in the registry"},
		{"logs, negative tail", []string{"logs", "--tail", "-1", "x"}, exitUsage, "", "--tail"},
		{"stop without a name", []string{"stop"}, exitUsage, "", "stop takes 1 argument"},
		{"restart, two names", []string{"restart", "a", "b"}, exitUsage, "", "restart takes 1 argument"},
	}
	checkRunCases(t, tests)
}

// The agent and its clients as a user drives them: run (started, then
// adopted), call the node, ps, agents, logs, restart, stop, and Ctrl-C
// of the agent, which stops its nodes and exits 0.
func TestAgentCommands(t *testing.T) {
	reg := t.TempDir()
	t.Setenv("ZMP_REGISTRY", reg)
	env := []string{"ZMP_REGISTRY=" + reg}
	ag := startAgentTool(t, env, "--name", "host-t", "--labels", "zone=z1,disk=ssd", "--insecure", "--bind", freeTCPEndpoint(t), "--quiet")
	startAgentTool(t, env, "--name", "host-u", "--labels", "zone=z2,disk=ssd", "--insecure", "--bind", freeTCPEndpoint(t), "--quiet")

	code, out, stderr := runTool("run", "--on", "host-t", "echo", "--service", "hello.t")
	m := regexp.MustCompile(`^started echo-host-t on host-t \(pid (\d+)\)\n$`).FindStringSubmatch(out)
	if code != exitOK || m == nil {
		t.Fatalf("run: exit %d, %q, %s", code, out, stderr)
	}
	pid, _ := strconv.Atoi(m[1])
	code, out, _ = runTool("run", "--on", "zone=z1", "echo", "--service", "hello.t")
	if code != exitOK || out != fmt.Sprintf("adopted echo-host-t on host-t (pid %d, already running)\n", pid) {
		t.Fatalf("run again: exit %d, %q", code, out)
	}
	code, _, stderr = runTool("run", "--on", "host-t", "echo", "--service", "other")
	if code != exitFailure || !strings.Contains(stderr, "conflicting placement") {
		t.Errorf("a conflicting run: exit %d, %s", code, stderr)
	}
	code, _, stderr = runTool("run", "--on", "disk=ssd", "echo")
	if code != exitFailure || !strings.Contains(stderr, `"disk=ssd" matches 2 agents: host-t (disk=ssd,zone=z1), host-u (disk=ssd,zone=z2)`) {
		t.Errorf("an ambiguous run: exit %d, %s", code, stderr)
	}
	code, out, stderr = runTool("run", "--on", "disk=ssd", "--all", "--name", "c", "--restart", "transient", "cache", "--max-entries", "10")
	if code != exitOK || !strings.Contains(out, "started c-host-t on host-t") || !strings.Contains(out, "started c-host-u on host-u") {
		t.Fatalf("run --all: exit %d, %q, %s", code, out, stderr)
	}

	code, out, _ = runTool("call", "hello.t", `"hi"`)
	if code != exitOK || !strings.Contains(out, `"node": "echo-host-t"`) || !strings.Contains(out, `"said": "\"hi\""`) {
		t.Errorf("call the placed node: exit %d, %s", code, out)
	}
	code, out, _ = runTool("ps", "--on", "host-t")
	if code != exitOK || !regexp.MustCompile(`(?m)^AGENT +NODE +KIND +STATE +PID +RESTARTS +UPTIME\nhost-t +echo-host-t +echo +running +`+m[1]+` +0 +\S+\nhost-t +c-host-t +cache +running +\d+ +0 `).MatchString(out) {
		t.Errorf("ps:\n%s", out)
	}
	var ps []agentPS
	runToolJSON(t, &ps, "ps", "--json")
	if len(ps) != 2 || ps[0].Agent != "host-t" || len(ps[0].Nodes) != 2 || len(ps[1].Nodes) != 1 || ps[1].Nodes[0].Restart != agent.Transient {
		t.Errorf("ps --json: %+v", ps)
	}
	code, out, _ = runTool("agents")
	if code != exitOK || !regexp.MustCompile(`(?m)^host-t +\S+ +tcp://127.0.0.1:\d+ +NULL +2 +2 +0 +disk=ssd,zone=z1$`).MatchString(out) {
		t.Errorf("agents:\n%s", out)
	}
	var agents []agentStatus
	runToolJSON(t, &agents, "agents", "--json", "--on", "zone=z2")
	if len(agents) != 1 || agents[0].Status == nil || agents[0].Status.Counts.Nodes != 1 || !strings.Contains(strings.Join(agents[0].Status.Kinds, ","), "echo") {
		t.Errorf("agents --json: %+v", agents)
	}
	code, out, _ = runTool("logs", "echo-host-t")
	if code != exitOK || !strings.Contains(out, "echo: echo-host-t serving hello.t on tcp://") {
		t.Errorf("logs: exit %d, %q", code, out)
	}

	code, out, _ = runTool("restart", "c-host-u")
	if code != exitOK || !strings.HasPrefix(out, "restarted c-host-u on host-u (pid ") {
		t.Errorf("restart: exit %d, %q", code, out)
	}
	code, out, _ = runTool("stop", "c-host-u")
	if code != exitOK || out != "stopped c-host-u on host-u\n" {
		t.Errorf("stop: exit %d, %q", code, out)
	}
	code, _, stderr = runTool("stop", "c-host-u")
	if code != exitFailure || !strings.Contains(stderr, "no such node") {
		t.Errorf("stop again: exit %d, %s", code, stderr)
	}

	follow := startToolProc(t, toolCommand(t, env, "logs", "-f", "--tail", "1", "echo-host-t"))
	follow.expect(t, regexp.MustCompile(`^echo: echo-host-t serving`))
	if code, _ := follow.interrupt(t); code != exitOK {
		t.Errorf("logs -f after Ctrl-C: exit %d, stderr %s", code, follow.errb)
	}

	code, rest := ag.interrupt(t)
	if code != exitOK || !strings.Contains(rest, "stopping 2 nodes") {
		t.Errorf("agent after Ctrl-C: exit %d, %q, stderr %s", code, rest, ag.errb)
	}
	waitGone(t, pid)
	if code, out, _ := runTool("ps", "--on", "host-t"); code != exitFailure {
		t.Errorf("ps of the stopped agent: exit %d, %s", code, out)
	}
}

// runToolJSON runs zmptool and decodes its stdout.
func runToolJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	code, out, stderr := runTool(args...)
	if code != exitOK {
		t.Fatalf("zmptool %v: exit %d, %s", args, code, stderr)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("zmptool %v: %v\n%s", args, err, out)
	}
}

// waitGone waits for process pid to end (or be a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(b), ") Z") {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("process %d still runs", pid)
}
