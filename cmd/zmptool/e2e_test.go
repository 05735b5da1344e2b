package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// e2e is a system of separate processes sharing one registry directory:
// `zmptool demo` (itself four child-process nodes) and `rpc serve` from
// examples/rpc, inspected and driven by zmptool processes.
type e2e struct {
	t    *testing.T
	bin  string // zmptool
	env  []string
	ctx  context.Context
	dir  string
	pids map[string]int // demo nodes, from its output
}

func buildBinary(t *testing.T, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// run runs zmptool to completion.
func (e *e2e) run(args ...string) (code int, stdout, stderr string) {
	cmd := exec.CommandContext(e.ctx, e.bin, args...)
	cmd.Env = e.env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("zmptool %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// mustRun runs zmptool and fails the test unless it exits 0.
func (e *e2e) mustRun(args ...string) string {
	e.t.Helper()
	code, stdout, stderr := e.run(args...)
	if code != exitOK {
		e.t.Fatalf("zmptool %v: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	}
	return stdout
}

// proc is a long-running process whose stdout is read line by line.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
}

func (e *e2e) start(bin string, args ...string) *proc {
	e.t.Helper()
	cmd := exec.CommandContext(e.ctx, bin, args...)
	cmd.Env = e.env
	p := &proc{cmd: cmd, lines: make(chan string, 1000), stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { // after a failure: end it
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			for range p.lines {
			}
			p.cmd.Wait()
		}
	})
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
	}()
	return p
}

// waitLine returns the first line matching re (and the lines before it).
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp) (match []string, before []string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%v ended before printing %v; saw %q; stderr: %s", p.cmd.Args, re, before, p.stderr)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m, before
			}
			before = append(before, l)
		case <-timeout:
			t.Fatalf("%v printed no %v in 30 s; saw %q; stderr: %s", p.cmd.Args, re, before, p.stderr)
		}
	}
}

// stop sends sig and returns the exit code and the rest of stdout.
func (p *proc) stop(t *testing.T, sig os.Signal) (int, []string) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	var rest []string
	for l := range p.lines {
		rest = append(rest, l)
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", p.cmd.Args, err)
	}
	return p.cmd.ProcessState.ExitCode(), rest
}

func TestEndToEndAgainstProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and starts processes")
	}
	dir, err := os.MkdirTemp("", "zmptool-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := &e2e{t: t, ctx: ctx, dir: dir, pids: map[string]int{},
		bin: buildBinary(t, ".", "zmptool"),
		env: append(envWithoutZMP(), "ZMP_REGISTRY="+dir, "ZMP_RUNTIME_DIR="+dir)}
	rpc := buildBinary(t, "../../examples/rpc", "rpc")

	demo := e.start(e.bin, "demo", "--sensor-interval", "50ms")
	_, started := demo.waitLine(t, regexp.MustCompile(`^demo running in registry`))
	for _, l := range started {
		if m := regexp.MustCompile(`^started (\S+) +pid (\d+)$`).FindStringSubmatch(l); m != nil {
			e.pids[m[1]] = atoi(t, m[2])
		}
	}
	if len(e.pids) != 4 {
		t.Fatalf("demo started %v", started)
	}
	serve := e.start(rpc, "serve")
	m, _ := serve.waitLine(t, regexp.MustCompile(`^(node-\S+) serving add`))
	rpcNode := m[1]

	t.Run("echo", e.checkEcho) // first: returns once data flows through sensor and relay
	t.Run("list", func(t *testing.T) { e.checkList(t, rpcNode) })
	t.Run("info", e.checkInfo)
	t.Run("call", e.checkCall)
	t.Run("pub to echo", e.checkPubEcho)
	t.Run("hz", e.checkHz)
	t.Run("graph", e.checkGraph)
	t.Run("interrupt", e.checkInterrupt)

	if code, _ := serve.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("rpc serve exited %d", code)
	}
	code, rest := demo.stop(t, syscall.SIGINT)
	if code != 0 || len(rest) == 0 || rest[len(rest)-1] != "demo stopped" {
		t.Errorf("demo: exit %d after SIGINT, printed %q; stderr %s", code, rest, demo.stderr)
	}
	for name, pid := range e.pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) outlived demo: %v", name, pid, err)
		}
	}
	if out := e.mustRun("list", "nodes", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("nodes left in the registry: %s", out)
	}
}

// envWithoutZMP is this process's environment less every ZMP_ variable.
func envWithoutZMP() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZMP_") {
			env = append(env, kv)
		}
	}
	return env
}

func atoi(t *testing.T, s string) int {
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *e2e) checkList(t *testing.T, rpcNode string) {
	var nodes []core.NodeInfo
	if err := json.Unmarshal([]byte(e.mustRun("list", "nodes", "--json")), &nodes); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, n := range nodes {
		got[n.Name] = n.PID
	}
	for name, pid := range e.pids {
		if got[name] != pid {
			t.Errorf("list nodes: %s has pid %d, demo started it as %d", name, got[name], pid)
		}
	}
	if got[rpcNode] == 0 || len(got) != 5 {
		t.Errorf("list nodes: %v, want the 4 demo nodes and %s", got, rpcNode)
	}
	services := e.mustRun("list", "services")
	for _, re := range []string{`(?m)^add +` + rpcNode + `$`, `(?m)^selftest\.add +calc-1, calc-2$`, `(?m)^selftest\.fail +calc-1, calc-2$`} {
		if !regexp.MustCompile(re).MatchString(services) {
			t.Errorf("list services lacks %s:\n%s", re, services)
		}
	}
	var topics []topicEntry
	if err := json.Unmarshal([]byte(e.mustRun("list", "topics", "--json")), &topics); err != nil {
		t.Fatal(err)
	}
	want := []topicEntry{{"selftest.raw", []string{"sensor"}, []string{"relay"}}, {"selftest.scaled", []string{"relay"}, []string{}}}
	if len(topics) != 2 || topics[0].Topic != want[0].Topic || topics[0].Publishers[0] != "sensor" || topics[0].Subscribers[0] != "relay" ||
		topics[1].Topic != want[1].Topic || topics[1].Publishers[0] != "relay" || len(topics[1].Subscribers) != 0 {
		t.Errorf("list topics: %+v, want %+v", topics, want)
	}
}

func (e *e2e) checkInfo(t *testing.T) {
	var r nodeReport
	if err := json.Unmarshal([]byte(e.mustRun("info", "--json", "relay")), &r); err != nil {
		t.Fatal(err)
	}
	if r.Info.PID != e.pids["relay"] || len(r.Stats.Subscriptions) != 1 || r.Stats.Subscriptions[0].Topic != "selftest.raw" ||
		r.Stats.Subscriptions[0].Received == 0 || r.Stats.Topics["selftest.scaled"].Published == 0 {
		t.Errorf("info relay: %+v", r)
	}
	out := e.mustRun("info", "calc-2")
	if !regexp.MustCompile(`(?m)^process +pid \d+ on `).MatchString(out) || !regexp.MustCompile(`(?m)^selftest\.add +\d+ +0 `).MatchString(out) {
		t.Errorf("info calc-2:\n%s", out)
	}
}

func (e *e2e) checkCall(t *testing.T) {
	if out := e.mustRun("call", "selftest.add", `{"a":17,"b":25}`); out != "42\n" {
		t.Errorf("selftest.add: %q", out)
	}
	if out := e.mustRun("call", "--json", "add", `{"A":2,"B":3}`); out != "5\n" {
		t.Errorf("add of examples/rpc: %q", out)
	}
	if out := e.mustRun("call", "selftest.add", `{"a":1,"b":2}`, "--node", "calc-1", "--json"); out != "3\n" {
		t.Errorf("selftest.add with flags after the arguments: %q", out)
	}
	var ping struct{ Name string }
	if err := json.Unmarshal([]byte(e.mustRun("call", "--node", "calc-2", "zmp.ping")), &ping); err != nil || ping.Name != "calc-2" {
		t.Errorf("zmp.ping on calc-2: %+v, %v", ping, err)
	}
	code, stdout, stderr := e.run("call", "selftest.fail", `"boom"`)
	if code != exitFailure || stdout != "" || !regexp.MustCompile(`selftest\.fail on calc-\d: remote error code 1001: failing on purpose: boom`).MatchString(stderr) {
		t.Errorf("selftest.fail: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, _, _ := e.run("call", "--bogus", "x"); code != exitUsage {
		t.Errorf("unknown flag: exit %d", code)
	}
}

func (e *e2e) checkEcho(t *testing.T) {
	out := e.mustRun("echo", "--count", "3", "--json", "selftest.scaled")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("echo --count 3:\n%s", out)
	}
	for _, l := range lines {
		var m struct {
			echoLine
			Data int `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil || m.Publisher != "relay" || m.Data%10 != 0 || m.Data == 0 {
			t.Errorf("echo line %s: %v", l, err)
		}
	}
}

// A pub process and an echo process talk through the registry.
func (e *e2e) checkPubEcho(t *testing.T) {
	echo := e.start(e.bin, "echo", "--count", "3", "e2e.greeting")
	code, stdout, stderr := e.run("pub", "--count", "3", "--rate", "20", "e2e.greeting", `{"hello":"world"}`)
	// The summary counts the subscribers left at the end: echo exits
	// once it has its three messages, possibly before pub's summary.
	summary := regexp.MustCompile(`^published 3 messages on e2e\.greeting: 3 delivered, 0 dropped \([01] subscribers\)\n$`)
	if code != exitOK || !summary.MatchString(stdout) ||
		!strings.Contains(stderr, "1 subscriber(s) connected") {
		t.Errorf("pub: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var lines []string
	for l := range echo.lines {
		lines = append(lines, l)
	}
	if err := echo.cmd.Wait(); err != nil {
		t.Errorf("echo: %v; stderr %s", err, echo.stderr)
	}
	re := regexp.MustCompile(`^e2e\.greeting \[zmptool-pub-[0-9a-f]+ #\d\] \{"hello":"world"\}$`)
	if len(lines) != 3 || !re.MatchString(lines[0]) || !re.MatchString(lines[2]) {
		t.Errorf("echo printed %q", lines)
	}
}

func (e *e2e) checkHz(t *testing.T) {
	out := e.mustRun("hz", "--json", "--interval", "500ms", "--duration", "2100ms", "selftest.raw")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var r hzReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// sensor publishes every 50 ms: 20 Hz, with generous bounds for a loaded machine.
	if len(lines) < 3 || r.RateHz < 5 || r.RateHz > 30 || r.AvgBytes < 1 || r.Publishers != 1 {
		t.Errorf("hz selftest.raw: %+v\n%s", r, out)
	}
}

func (e *e2e) checkGraph(t *testing.T) {
	dot := e.mustRun("graph")
	for _, want := range []string{
		`"node:sensor" -> "topic:selftest.raw";`,
		`"topic:selftest.raw" -> "node:relay";`,
		`"node:relay" -> "topic:selftest.scaled";`,
		`"node:calc-1" -> "service:selftest.add"`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("graph lacks %s:\n%s", want, dot)
		}
	}
	if _, err := exec.LookPath("dot"); err != nil {
		return
	}
	svg := filepath.Join(t.TempDir(), "system.svg")
	e.mustRun("graph", "--out", svg)
	if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "selftest.scaled") {
		t.Errorf("%s: %v", svg, err)
	}
}

// SIGINT (Ctrl-C) ends a streaming zmptool with exit code 0 and its
// final report.
func (e *e2e) checkInterrupt(t *testing.T) {
	for _, args := range [][]string{{"echo", "selftest.raw"}, {"hz", "--interval", "200ms", "selftest.raw"}} {
		p := e.start(e.bin, args...)
		p.waitLine(t, regexp.MustCompile(`selftest\.raw \[sensor|^rate `))
		code, _ := p.stop(t, syscall.SIGINT)
		if code != 0 || !regexp.MustCompile(`received [1-9]\d* messages, 0 dropped`).MatchString(p.stderr.String()) {
			t.Errorf("%v: exit %d after SIGINT; stderr %s", args, code, p.stderr)
		}
	}
}

// Ctrl-C stops `zmptool demo` within a few seconds, with exit code 0,
// also when its registry node is unreachable: from the start (SIGINT
// while the first node waits to register), or since it went down while
// the demo ran (each node's deregistration then waits for its stop
// timeout, which must not add up).
func TestDemoInterruptWithRegistryDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and starts processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := buildBinary(t, ".", "zmptool")
	const bound = 3 * time.Second
	interrupt := func(t *testing.T, demo *proc) {
		t.Helper()
		start := time.Now()
		code, rest := demo.stop(t, syscall.SIGINT)
		if took := time.Since(start); took > bound {
			t.Errorf("demo took %v to stop after SIGINT, want at most %v", took.Round(time.Millisecond), bound)
		}
		if code != exitOK || len(rest) == 0 || rest[len(rest)-1] != "demo stopped" {
			t.Errorf("demo: exit %d after SIGINT, printed %q; stderr %s", code, rest, demo.stderr)
		}
	}

	t.Run("unreachable from the start", func(t *testing.T) {
		e := &e2e{t: t, ctx: ctx, bin: bin, env: append(envWithoutZMP(), "ZMP_REGISTRY=tcp://"+closedPort(t))}
		demo := e.start(e.bin, "demo")
		coretest.WaitFor(t, 10*time.Second, "demo starting its first node", func() bool { return len(childPIDs(demo.cmd.Process.Pid)) > 0 })
		interrupt(t, demo)
	})

	t.Run("went down while the demo ran", func(t *testing.T) {
		e := &e2e{t: t, ctx: ctx, bin: bin, env: envWithoutZMP()}
		reg := e.start(e.bin, "registry", "--listen", "tcp://127.0.0.1:0")
		m, _ := reg.waitLine(t, regexp.MustCompile(`^nodes use ZMP_REGISTRY=(\S+)$`))
		e.env = append(e.env, "ZMP_REGISTRY="+m[1])
		demo := e.start(e.bin, "demo")
		demo.waitLine(t, regexp.MustCompile(`^demo running in registry`))
		if code, _ := reg.stop(t, syscall.SIGINT); code != exitOK {
			t.Fatalf("registry: exit %d; stderr %s", code, reg.stderr)
		}
		interrupt(t, demo)
	})
}

// closedPort returns host:port of a TCP port on 127.0.0.1 that nothing
// listens on (it was free a moment ago).
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// childPIDs returns the processes pid started (from any of its threads).
func childPIDs(pid int) []string {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		pids = append(pids, strings.Fields(string(b))...)
	}
	return pids
}
