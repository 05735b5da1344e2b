package main

import (
	"bufio"
	"bytes"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/toolbox/proxy"
)

func TestProxyUsage(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"proxy", "--help"}, exitOK, "forwarder", ""},
		{"no proxy shows help", []string{"proxy"}, exitOK, "queue", ""},
		{"queue help", []string{"proxy", "queue", "--help"}, exitOK, "ZMP_PROXY_RETRIES", ""},
		{"forwarder help", []string{"proxy", "forwarder", "--help"}, exitOK, "--cache", ""},
		{"unknown proxy", []string{"proxy", "relay"}, exitUsage, "", "unknown proxy"},
		{"bad duration", []string{"proxy", "queue", "--heartbeat", "often"}, exitUsage, "", "heartbeat"},
		{"negative retries", []string{"proxy", "queue", "--retries", "-1"}, exitUsage, "", "retries"},
		{"zero liveness", []string{"proxy", "broker", "--liveness", "0"}, exitUsage, "", "liveness"},
		{"negative cache", []string{"proxy", "forwarder", "--cache", "-1"}, exitUsage, "", "cache"},
		{"zero peer queue", []string{"proxy", "forwarder", "--peer-queue", "0"}, exitUsage, "", "peer-queue"},
		{"bad endpoint", []string{"proxy", "queue", "--frontend", "udp://127.0.0.1:1"}, exitFailure, "", "bad endpoint"},
		{"endpoint in use", []string{"proxy", "broker", "--frontend", "tcp://" + busy.Addr().String()}, exitFailure, "", "in use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runTool(tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q lacks %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
		})
	}
}

// runProxyInProcess runs `zmptool proxy ARGS...` in this process until
// the returned stop is called; stop returns the command's error.
func runProxyInProcess(t *testing.T, args ...string) (out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- newApp(nil, out, io.Discard).RunContext(ctx, append([]string{"zmptool", "proxy"}, args...))
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

// jsonLines decodes the JSON lines of out.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestProxyForwarderCommand(t *testing.T) {
	out, stop := runProxyInProcess(t, "forwarder", "--frontend", "tcp://127.0.0.1:0", "--backend", "tcp://127.0.0.1:0",
		"--stats", "20ms", "--json", "--cache", "10")
	waitMatch(t, out, regexp.MustCompile(`(\{.*"kind":"forwarder".*\})`))
	first := jsonLines(t, strings.SplitN(out.String(), "\n", 2)[0])[0]
	front, back := first["frontend"].(string), first["backend"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pubConn, err := sock.Dial(ctx, front, zmtp.Config{Type: zmtp.Pub}, 0)
	if err != nil {
		t.Fatal(err)
	}
	pub := sock.StartLink(pubConn, sock.LinkConfig{})
	defer pub.Close()
	if err := pub.Send(ctx, [][]byte{[]byte("t.1"), []byte("v")}); err != nil {
		t.Fatal(err)
	}
	got := make(chan [][]byte, 10)
	subConn, err := sock.Dial(ctx, back, zmtp.Config{Type: zmtp.Sub}, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub := sock.StartLink(subConn, sock.LinkConfig{OnMessage: func(_ *sock.Link, f [][]byte) { got <- f }})
	defer sub.Close()
	// The last-value cache gives the late subscriber t.1 at once.
	waitMatch(t, out, regexp.MustCompile(`("cached":1)`))
	sub.Send(ctx, [][]byte{[]byte("\x01t.")})
	select {
	case m := <-got:
		if string(m[0]) != "t.1" || string(m[1]) != "v" {
			t.Fatalf("subscriber got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("no cached value")
	}
	if err := stop(); err != nil {
		t.Fatalf("command returned %v", err)
	}
	lines := jsonLines(t, out.String())
	last := lines[len(lines)-1]
	if fe := last["frontend"].(map[string]any); fe["msgs_in"].(float64) != 1 || last["kind"] != "forwarder" {
		t.Fatalf("final stats %v", last)
	}
}

func TestProxyQueueCommandHumanOutput(t *testing.T) {
	out, stop := runProxyInProcess(t, "queue", "--frontend", "tcp://127.0.0.1:0", "--backend", "tcp://127.0.0.1:0",
		"--stats", "20ms", "--heartbeat", "50ms")
	m := waitMatch(t, out, regexp.MustCompile(`queue listening (frontend=\S+ backend=\S+)`))
	var front, back string
	fmt.Sscanf(strings.ReplaceAll(m, " ", "\n"), "frontend=%s\nbackend=%s", &front, &back)
	w, err := proxy.NewWorker(back, proxy.HandlerFunc(func(_ context.Context, b [][]byte) ([][]byte, error) { return b, nil }),
		proxy.WithHeartbeat(50*time.Millisecond, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := proxy.NewQueueClient(front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r, err := c.Request(ctx, []byte("hi")); err != nil || string(r[0]) != "hi" {
		t.Fatalf("request: %q %v", r, err)
	}
	waitMatch(t, out, regexp.MustCompile(`(workers=1 idle=1 queued=0 in-flight=0)`))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`stopped: .* front in=1 out=1 `).MatchString(out.String()) {
		t.Fatalf("no final stats line:\n%s", out)
	}
}

// --- end-to-end: zmptool proxy as a real process ---

// proxyProc is a running `zmptool proxy` process.
type proxyProc struct {
	cmd   *exec.Cmd
	lines chan string
	errb  *syncBuffer
	done  chan struct{}
}

func startProxyProc(t *testing.T, bin string, args ...string) *proxyProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"proxy"}, args...)...)
	cmd.Env = proxyEnv()
	return startToolProc(t, cmd)
}

// startToolProc starts a zmptool process whose stdout lines arrive on
// its lines channel; it is killed when the test ends.
func startToolProc(t *testing.T, cmd *exec.Cmd) *proxyProc {
	t.Helper()
	p := &proxyProc{cmd: cmd, lines: make(chan string, 1000), errb: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
		cmd.Wait()
	})
	return p
}

// proxyEnv is the environment without ZMP_ variables that would change flags.
func proxyEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZMP_") {
			env = append(env, kv)
		}
	}
	return env
}

// expect returns the submatches of the first line matching re.
func (p *proxyProc) expect(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%v exited before printing %v; saw %q; stderr: %s", p.cmd.Args, re, seen, p.errb)
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
			seen = append(seen, l)
		case <-timeout:
			t.Fatalf("%v printed no %v; saw %q; stderr: %s", p.cmd.Args, re, seen, p.errb)
		}
	}
}

// interrupt sends SIGINT and returns the exit code and remaining output.
func (p *proxyProc) interrupt(t *testing.T) (int, string) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGINT)
	var rest []string
	for l := range p.lines {
		rest = append(rest, l)
	}
	<-p.done
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return p.cmd.ProcessState.ExitCode(), strings.Join(rest, "\n")
}

func buildZmptool(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "zmptool")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeTCPEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

var listeningRE = regexp.MustCompile(`listening frontend=(\S+)(?: backend=(\S+))?`)

// TestProxyQueueProcess runs `zmptool proxy queue` as a process with Go
// workers, kills it (SIGKILL) and restarts it on the same endpoints:
// the workers come back by themselves. Then Ctrl-C drains it.
func TestProxyQueueProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zmptool and starts processes")
	}
	bin := buildZmptool(t)
	front, back := freeTCPEndpoint(t), freeTCPEndpoint(t)
	args := []string{"queue", "--frontend", front, "--backend", back, "--heartbeat", "100ms", "--stats", "100ms"}
	p := startProxyProc(t, bin, args...)
	p.expect(t, listeningRE)

	opts := []proxy.Option{proxy.WithHeartbeat(100*time.Millisecond, 3), proxy.WithReconnect(20*time.Millisecond, 200*time.Millisecond)}
	for _, name := range []string{"w1", "w2"} {
		w, err := proxy.NewWorker(back, proxy.HandlerFunc(func(_ context.Context, b [][]byte) ([][]byte, error) {
			return [][]byte{[]byte(name + ":" + string(b[0]))}, nil
		}), opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
	}
	p.expect(t, regexp.MustCompile(`workers=2 idle=2`))
	c, err := proxy.NewQueueClient(front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	requestAll := func(tag string) map[string]int {
		served := map[string]int{}
		for i := range 10 {
			body := fmt.Sprint(tag, i)
			r, err := c.Request(ctx, []byte(body))
			for errors.Is(err, proxy.ErrConnectionLost) { // sent to the killed queue
				r, err = c.Request(ctx, []byte(body))
			}
			if err != nil {
				t.Fatalf("request %s: %v", body, err)
			}
			name, got, _ := strings.Cut(string(r[0]), ":")
			if got != body {
				t.Fatalf("reply %q to %q", r[0], body)
			}
			served[name]++
		}
		return served
	}
	if s := requestAll("a"); s["w1"] == 0 || s["w2"] == 0 {
		t.Fatalf("requests not spread over both workers: %v", s)
	}

	// Broker restart: kill -9, start again on the same endpoints.
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p = startProxyProc(t, bin, args...)
	p.expect(t, listeningRE)
	p.expect(t, regexp.MustCompile(`workers=2 idle=2`))
	if s := requestAll("b"); len(s) != 2 {
		t.Fatalf("after restart served by %v", s)
	}

	// SIGUSR1 pauses: a request waits in the queue until SIGUSR2.
	p.cmd.Process.Signal(syscall.SIGUSR1)
	p.expect(t, regexp.MustCompile(`^paused$`))
	reply := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, []byte("held"))
		reply <- err
	}()
	p.expect(t, regexp.MustCompile(`queued=1 .*\(paused\)`))
	p.cmd.Process.Signal(syscall.SIGUSR2)
	p.expect(t, regexp.MustCompile(`^resumed$`))
	if err := <-reply; err != nil {
		t.Fatalf("request held while paused: %v", err)
	}

	// pyzmq REQ client through the same process, when available.
	if pyzmqAvailable() {
		runProxyPy(t, "req_client.py", front, "20")
	}

	code, rest := p.interrupt(t)
	if code != exitOK || !strings.Contains(rest, "stopped:") {
		t.Fatalf("after Ctrl-C: exit %d, output %q, stderr %s", code, rest, p.errb)
	}
}

func TestProxyForwarderAndBrokerProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zmptool and starts processes")
	}
	bin := buildZmptool(t)
	fwd := startProxyProc(t, bin, "forwarder", "--frontend", "tcp://127.0.0.1:0", "--backend", "tcp://127.0.0.1:0", "--json", "--stats", "1s")
	var l struct{ Kind, Frontend, Backend string }
	line := <-fwd.lines
	if err := json.Unmarshal([]byte(line), &l); err != nil || l.Kind != "forwarder" {
		t.Fatalf("first line %q: %v", line, err)
	}
	if pyzmqAvailable() {
		runProxyPy(t, "pub_sub_forwarder.py", l.Frontend, l.Backend, "30")
	}

	brk := startProxyProc(t, bin, "broker", "--frontend", "tcp://127.0.0.1:0", "--heartbeat", "100ms")
	front := brk.expect(t, listeningRE)[1]
	w, err := proxy.NewServiceWorker(front, "echo", proxy.HandlerFunc(func(_ context.Context, b [][]byte) ([][]byte, error) { return b, nil }),
		proxy.WithHeartbeat(100*time.Millisecond, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := proxy.NewBrokerClient(front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Request(ctx, "echo", []byte("x"))
	if err != nil || string(r[0]) != "x" {
		t.Fatalf("broker request: %q %v", r, err)
	}
	if pyzmqAvailable() {
		runProxyPy(t, "mdp_client.py", front)
	}
	for _, p := range []*proxyProc{fwd, brk} {
		if code, rest := p.interrupt(t); code != exitOK || !strings.Contains(rest, "stopped:") && !strings.Contains(rest, `"kind"`) {
			t.Errorf("%v after Ctrl-C: exit %d, output %q", p.cmd.Args, code, rest)
		}
	}
}

// pyzmqAvailable reports whether python3-zmq can run; with
// ZMP_REQUIRE_INTEROP=1 its absence is a test failure elsewhere.
func pyzmqAvailable() bool {
	return exec.Command("/usr/bin/python3", "-c", "import zmq").Run() == nil || os.Getenv("ZMP_REQUIRE_INTEROP") == "1"
}

// runProxyPy runs a script of toolbox/proxy/testdata and fails unless
// it prints "ok" last.
func runProxyPy(t *testing.T, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join("..", "..", "toolbox", "proxy", "testdata", script)
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{path}, args...)...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "ok" {
		t.Fatalf("%s: %v\n%s", script, err, bytes.TrimSpace(out))
	}
}

// --- security: the flags of the node commands, on every proxy ---

// proxyKeys writes a CURVE key pair for the proxy, one for an admitted
// peer and one for a stranger; allowed is the directory of the keys the
// proxy admits (only the peer's).
type proxyKeys struct {
	secret, allowed       string
	proxy, peer, outsider core.KeyPair
}

func writeProxyKeys(t *testing.T) proxyKeys {
	t.Helper()
	dir, allowed := t.TempDir(), t.TempDir()
	k := proxyKeys{allowed: allowed}
	for _, kp := range []*core.KeyPair{&k.proxy, &k.peer, &k.outsider} {
		var err error
		if *kp, err = core.GenerateKeyPair(); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if _, k.secret, err = k.proxy.WriteFiles(dir, "proxy"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = k.peer.WriteFiles(allowed, "peer"); err != nil {
		t.Fatal(err)
	}
	return k
}

// peerSecurity is how a Go peer holding kp dials the proxy.
func (k proxyKeys) peerSecurity(t *testing.T, kp core.KeyPair) proxy.Option {
	t.Helper()
	auth, err := core.NewAuthenticator(core.AllowKeys(k.proxy.Public))
	if err != nil {
		t.Fatal(err)
	}
	return proxy.WithSecurity(core.Curve(kp, auth))
}

func TestProxySecurityUsage(t *testing.T) {
	k := writeProxyKeys(t)
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("alice:pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ep := []string{"--frontend", "tcp://127.0.0.1:0", "--backend", "tcp://127.0.0.1:0"}
	args := func(kind string, more ...string) []string {
		return append(append([]string{"proxy", kind}, ep...), more...)
	}
	checkRunCases(t, []runCase{
		{"help lists the security flags", []string{"proxy", "broker", "--help"}, exitOK, "ZMP_CURVE_SECRET", ""},
		{"help lists --secure", []string{"proxy", "forwarder", "--help"}, exitOK, "ZMP_PROXY_SECURE", ""},
		{"curve without admitted keys", args("queue", "--curve-secret", k.secret), exitUsage, "", "--allow-keys"},
		{"curve and plain", args("broker", "--curve-secret", k.secret, "--allow-any-key", "--plain-user", "u"), exitUsage, "", "exclude"},
		{"bad --secure", args("queue", "--secure", "sideways"), exitUsage, "", "--secure"},
		{"missing key directory", args("forwarder", "--curve-secret", k.secret, "--allow-keys", filepath.Join(k.allowed, "nope")), exitUsage, "", "nope"},
		{"missing secret file", args("queue", "--curve-secret", k.secret+".gone", "--allow-any-key"), exitFailure, "", "gone"},
		{"bad users file", args("broker", "--plain-user", "u", "--plain-users", filepath.Join(t.TempDir(), "none")), exitFailure, "", "none"},
		{"curve connect without key", args("forwarder", "--curve-secret", k.secret, "--allow-any-key", "--connect", "tcp://127.0.0.1:9"), exitFailure, "", "?key="},
	})
}

// A CURVE queue: the listening line gives its key; admitted Go peers
// work through it, a NULL client and a stranger are refused and
// counted, and the queue keeps serving.
func TestProxyCurveQueueCommand(t *testing.T) {
	k := writeProxyKeys(t)
	out, stop := runProxyInProcess(t, "queue", "--frontend", "tcp://127.0.0.1:0", "--backend", "ipc://"+filepath.Join(t.TempDir(), "b"),
		"--json", "--heartbeat", "50ms", "--curve-secret", k.secret, "--allow-keys", k.allowed)
	waitMatch(t, out, regexp.MustCompile(`(\{.*"kind":"queue".*\})`))
	first := jsonLines(t, strings.SplitN(out.String(), "\n", 2)[0])[0]
	if first["key"] != k.proxy.Public.String() || first["frontend_security"] != "CURVE" || first["backend_security"] != "CURVE" {
		t.Fatalf("listening line %v", first)
	}
	front, back := first["frontend"].(string), first["backend"].(string)

	w, err := proxy.NewWorker(core.KeyedEndpoint(back, k.proxy.Public), proxy.HandlerFunc(func(_ context.Context, b [][]byte) ([][]byte, error) { return b, nil }),
		proxy.WithHeartbeat(50*time.Millisecond, 3), k.peerSecurity(t, k.peer))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	c, err := proxy.NewQueueClient(core.KeyedEndpoint(front, k.proxy.Public), k.peerSecurity(t, k.peer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sock.Dial(ctx, front, zmtp.Config{Type: zmtp.Dealer}, 5*time.Second); err == nil {
		t.Fatal("a NULL client got through")
	}
	stranger, err := proxy.NewQueueClient(core.KeyedEndpoint(front, k.proxy.Public), k.peerSecurity(t, k.outsider))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if _, err := stranger.Request(short, []byte("no")); err == nil {
		t.Fatal("a stranger's request was answered")
	}
	if r, err := c.Request(ctx, []byte("hi")); err != nil || string(r[0]) != "hi" {
		t.Fatalf("request: %q %v", r, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lines := jsonLines(t, out.String())
	fe := lines[len(lines)-1]["frontend"].(map[string]any)
	if fe["handshake_failed"].(float64) < 2 || fe["msgs_in"].(float64) != 1 || fe["mechanism"] != "CURVE" {
		t.Fatalf("final frontend stats %v", fe)
	}
}

// PLAIN from the environment on the frontend only (--secure frontend
// through ZMP_PROXY_SECURE): a pyzmq PLAIN publisher, a NULL subscriber.
func TestProxyPlainForwarderFromEnv(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("# publishers\nalice:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ZMP_PLAIN_USER", "proxy")
	t.Setenv("ZMP_PLAIN_USERS", users)
	t.Setenv("ZMP_PROXY_SECURE", "frontend")
	out, stop := runProxyInProcess(t, "forwarder", "--frontend", "tcp://127.0.0.1:0", "--backend", "tcp://127.0.0.1:0")
	m := regexp.MustCompile(`listening frontend=(\S+) backend=(\S+) security=PLAIN/NULL$`).FindStringSubmatch(
		waitMatch(t, out, regexp.MustCompile(`(forwarder listening .*)\n`)))
	if m == nil {
		t.Fatalf("listening line %q", out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sock.Dial(ctx, m[1], zmtp.Config{Type: zmtp.Pub}, 5*time.Second); err == nil {
		t.Fatal("a NULL publisher got through the PLAIN frontend")
	}
	if pyzmqAvailable() {
		runProxyPyEnv(t, []string{"ZMP_PY_SEC_PUB=plain alice s3cret"}, "pub_sub_forwarder.py", m[1], m[2], "30")
		// A wrong password gets nothing through: the subscriber waits in vain.
		runProxyPyEnv(t, []string{"ZMP_PY_SEC_CLIENT=plain alice guess"}, "refused_client.py", m[1])
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// A CURVE broker as a process, with a pyzmq worker, a pyzmq client and
// a Go client holding an admitted key; Ctrl-C exits 0.
func TestProxyCurveBrokerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zmptool and starts processes")
	}
	if !pyzmqAvailable() {
		t.Skip("python3-zmq not installed")
	}
	k := writeProxyKeys(t)
	bin := buildZmptool(t)
	// A liveness of 5 s: a python worker starved on a loaded machine keeps its place.
	p := startProxyProc(t, bin, "broker", "--frontend", "tcp://127.0.0.1:0", "--heartbeat", "200ms", "--liveness", "25",
		"--curve-secret", k.secret, "--allow-keys", k.allowed)
	m := p.expect(t, regexp.MustCompile(`listening frontend=(\S+) security=CURVE key=(\S+)$`))
	if m[2] != k.proxy.Public.String() {
		t.Fatalf("printed key %s, want %s", m[2], k.proxy.Public)
	}
	spec := fmt.Sprintf("ZMP_PY_SEC=curve %s %s %s", k.proxy.Public, k.peer.Public, k.peer.Secret)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	worker := exec.CommandContext(ctx, "/usr/bin/python3", filepath.Join("..", "..", "toolbox", "proxy", "testdata", "mdp_worker.py"), m[1], "echo", "11")
	worker.Env = append(os.Environ(), spec)
	worker.WaitDelay = time.Second
	var wout bytes.Buffer
	worker.Stdout, worker.Stderr = &wout, &wout
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	runProxyPyEnv(t, []string{spec}, "mdp_client.py", m[1]) // 10 requests
	c, err := proxy.NewBrokerClient(core.KeyedEndpoint(m[1], k.proxy.Public), k.peerSecurity(t, k.peer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Request(ctx, "echo", []byte("go")); err != nil || string(r[0]) != "go" {
		t.Fatalf("Go client: %q %v", r, err)
	}
	if err := worker.Wait(); err != nil || !strings.HasSuffix(strings.TrimSpace(wout.String()), "ok") {
		t.Fatalf("python worker: %v\n%s", err, wout.String())
	}
	if code, rest := p.interrupt(t); code != exitOK || !strings.Contains(rest, "stopped:") {
		t.Fatalf("after Ctrl-C: exit %d, output %q, stderr %s", code, rest, p.errb)
	}
}

// runProxyPyEnv is runProxyPy with extra environment variables.
func runProxyPyEnv(t *testing.T, env []string, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	path := filepath.Join("..", "..", "toolbox", "proxy", "testdata", script)
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "ok" {
		t.Fatalf("%s: %v\n%s", script, err, bytes.TrimSpace(out))
	}
}
