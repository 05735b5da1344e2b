package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// testSystem is an in-process system in a directory registry that
// zmptool reaches with --registry: calc provides demo.add, demo.fail
// and demo.slow; sensor publishes demo.raw; relay subscribes to
// demo.raw and to every topic under "demo.".
type testSystem struct {
	dir    string
	reg    *core.DirRegistry
	opts   []core.Option
	sensor *core.Peer
}

func newTestSystem(t *testing.T, transport core.Transport) *testSystem {
	t.Helper()
	dir, err := os.MkdirTemp("", "zmptool-test-") // short: ipc socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	reg, err := core.NewDirRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := &testSystem{dir: dir, reg: reg, opts: []core.Option{core.WithRegistry(reg), core.WithTransport(transport), core.WithRuntimeDir(dir)}}
	calc := coretest.NewPeer(t, "calc", s.opts...)
	must(t, core.Provide(calc, "demo.add", func(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil }))
	must(t, core.Provide(calc, "demo.fail", func(_ context.Context, msg string) (string, error) {
		return "", core.NewError(1001, "failing on purpose: %s", msg)
	}))
	must(t, core.Provide(calc, "demo.slow", func(ctx context.Context, _ any) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	s.sensor = coretest.NewPeer(t, "sensor", s.opts...)
	must(t, s.sensor.Advertise("demo.raw"))
	relay := coretest.NewPeer(t, "relay", s.opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, sub := range []struct {
		topic string
		opts  []core.SubscribeOption
	}{{"demo.raw", nil}, {"demo.", []core.SubscribeOption{core.AsPrefix()}}} {
		sb, err := relay.Subscribe(sub.topic, sub.opts...)
		must(t, err)
		must(t, sb.WaitConnected(ctx, 1)) // to sensor: a settled system
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tool runs zmptool on the system's registry: --registry goes after
// the command (and the kind, for list).
func (s *testSystem) tool(args ...string) (int, string, string) {
	at := 1
	if args[0] == "list" {
		at = 2
	}
	withReg := append(append(args[:at:at], "--registry", s.dir), args[at:]...)
	return runTool(withReg...)
}

// publish publishes body on topic every interval until the test ends.
func (s *testSystem) publish(t *testing.T, topic string, body []byte, interval time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s.sensor.Publish(topic, body)
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

var transports = []core.Transport{core.TCP, core.IPC}

func TestListAgainstASystem(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			s := newTestSystem(t, tr)
			var nodes []core.NodeInfo
			runJSON(t, s, &nodes, "list", "nodes", "--json")
			if names := nodeNames(nodes); !reflect.DeepEqual(names, []string{"calc", "relay", "sensor"}) {
				t.Errorf("list nodes --json: %v", names)
			}
			var services []serviceEntry
			runJSON(t, s, &services, "list", "services", "--json")
			want := []serviceEntry{{"demo.add", []string{"calc"}}, {"demo.fail", []string{"calc"}}, {"demo.slow", []string{"calc"}}}
			if !reflect.DeepEqual(services, want) {
				t.Errorf("list services --json: %+v", services)
			}
			var topics []topicEntry
			runJSON(t, s, &topics, "list", "topics", "--json")
			wantTopics := []topicEntry{
				{"demo.*", []string{}, []string{"relay"}},
				{"demo.raw", []string{"sensor"}, []string{"relay", "relay (prefix demo.)"}},
			}
			if !reflect.DeepEqual(topics, wantTopics) {
				t.Errorf("list topics --json: %+v", topics)
			}
			expectOutput(t, s, []string{"list", "nodes"}, `(?m)^NAME +PID +HOST +UPTIME +SERVICES +TOPICS +RPC\ncalc +\d+ +\S+ +\S+ +3 +0 +`+string(tr)+`://`)
			expectOutput(t, s, []string{"list", "services"}, `(?m)^demo\.add +calc$`)
			expectOutput(t, s, []string{"list", "topics"}, `(?m)^demo\.raw +sensor +relay, relay \(prefix demo\.\)$`)
		})
	}
}

func nodeNames(nodes []core.NodeInfo) []string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names
}

// runJSON runs zmptool on s and decodes its stdout into v.
func runJSON(t *testing.T, s *testSystem, v any, args ...string) {
	t.Helper()
	code, stdout, stderr := s.tool(args...)
	if code != exitOK {
		t.Fatalf("%v: exit %d, stderr %s", args, code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stdout)
	}
}

// expectOutput runs zmptool on s and matches its stdout against re.
func expectOutput(t *testing.T, s *testSystem, args []string, re string) {
	t.Helper()
	code, stdout, stderr := s.tool(args...)
	if code != exitOK || !regexp.MustCompile(re).MatchString(stdout) {
		t.Errorf("%v: exit %d, stdout does not match %s:\n%s\nstderr: %s", args, code, re, stdout, stderr)
	}
}

func TestEmptyRegistry(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"nodes", "services", "topics"} {
		code, stdout, stderr := runTool("list", kind, "--registry", dir)
		if code != exitOK || stdout != "" || !strings.Contains(stderr, "no ") {
			t.Errorf("list %s: exit %d, stdout %q, stderr %q", kind, code, stdout, stderr)
		}
	}
}

func TestInfo(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	var r nodeReport
	runJSON(t, s, &r, "info", "--json", "calc")
	if r.Info.Name != "calc" || r.Info.PID != os.Getpid() || r.Info.GoVersion == "" || len(r.Info.Services) != 3 {
		t.Errorf("info --json: %+v", r.Info)
	}
	if _, ok := r.Stats.Services["demo.add"]; !ok {
		t.Errorf("stats lack demo.add: %+v", r.Stats)
	}
	// zmp.info has no lease expiry (that is the registry's): no
	// "expires" of 0001-01-01 (the zero time.Time); list nodes has one.
	for _, args := range [][]string{{"info", "--json", "calc"}, {"list", "nodes", "--json"}} {
		_, stdout, _ := s.tool(args...)
		if strings.Contains(stdout, "0001-01-01") {
			t.Errorf("%v shows a zero time:\n%s", args, stdout)
		}
		if hasExpires := strings.Contains(stdout, `"expires": "20`); hasExpires != (args[0] == "list") {
			t.Errorf("%v: has an expiry %v:\n%s", args, hasExpires, stdout)
		}
	}
	runJSON(t, s, &r, "info", "--json", "relay")
	if len(r.Stats.Subscriptions) != 2 {
		t.Errorf("relay's subscriptions: %+v", r.Stats.Subscriptions)
	}
	expectOutput(t, s, []string{"info", "relay"}, `(?s)node +relay\n.*pid \d+ on .*SUBSCRIPTION +PUBLISHERS +RECEIVED +DROPPED +MISSED +QUEUED\ndemo\.\* +1 .*\ndemo\.raw +1 `)
	expectOutput(t, s, []string{"info", "sensor"}, `(?s)TOPIC +PUBLISHED +DELIVERED +DROPPED +BYTES\ndemo\.raw +0 +0 +0 +0\n`)
	code, _, stderr := s.tool("info", "ghost")
	if code != exitFailure || !strings.Contains(stderr, `no live node or group named "ghost"`) {
		t.Errorf("info ghost: exit %d, stderr %q", code, stderr)
	}
}

func TestCall(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			s := newTestSystem(t, tr)
			tests := []struct {
				name   string
				args   []string
				code   int
				stdout string // exact
				stderr string // contained
			}{
				{"typed call", []string{"call", "demo.add", `{"a":17,"b":25}`}, exitOK, "42\n", ""},
				{"flags after the arguments", []string{"call", "demo.add", `{"a":1,"b":2}`, "--node", "calc", "--json"}, exitOK, "3\n", ""},
				{"pinned, one-line", []string{"call", "--node", "calc", "--json", "demo.add", `{"a":1,"b":2}`}, exitOK, "3\n", ""},
				{"pinned introspection", []string{"call", "--node", "sensor", "--json", "zmp.info"}, exitOK, "", ""},
				{"remote error", []string{"call", "demo.fail", `"boom"`}, exitFailure, "", "demo.fail on calc: remote error code 1001: failing on purpose: boom"},
				{"bad request", []string{"call", "demo.add", `"not an object"`}, exitFailure, "", "code 3 (bad request)"},
				{"no provider", []string{"call", "demo.nothing"}, exitFailure, "", "no provider"},
				{"introspection of a node that is not there", []string{"call", "--node", "ghost", "zmp.ping"}, exitFailure, "", `no provider for "zmp.ping" on node ghost (is ghost a live node? zmptool list nodes shows them)`},
				{"pinned to a node without it", []string{"call", "--node", "sensor", "demo.add", "{}"}, exitFailure, "", "no provider for \"demo.add\" on node sensor (zmptool list nodes shows the live nodes, zmptool list services what each provides)"},
				{"timeout", []string{"call", "--timeout", "300ms", "demo.slow"}, exitFailure, "", "timed out"},
				{"wait for a provider that never comes", []string{"call", "--wait", "--timeout", "300ms", "demo.nothing"}, exitFailure, "", "waiting for a provider"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, stdout, stderr := s.tool(tt.args...)
					if code != tt.code || (tt.stdout != "" && stdout != tt.stdout) || !strings.Contains(stderr, tt.stderr) {
						t.Errorf("exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", code, tt.code, stdout, tt.stdout, stderr, tt.stderr)
					}
				})
			}
			var info core.InfoReply
			runJSON(t, s, &info, "call", "--node", "sensor", "zmp.info")
			if info.Name != "sensor" || info.Topics[0] != "demo.raw" {
				t.Errorf("zmp.info of sensor: %+v", info)
			}
		})
	}
}

// A provider that registers after the call started is waited for.
func TestCallWaitsForAProvider(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	done := make(chan struct{})
	var code int
	var stdout, stderr string
	go func() {
		defer close(done)
		code, stdout, stderr = s.tool("call", "--wait", "--timeout", "20s", "late.echo", `"hi"`)
	}()
	time.Sleep(300 * time.Millisecond) // the call is waiting (or not yet started: either way it must succeed)
	late := coretest.NewPeer(t, "late", s.opts...)
	must(t, core.Provide(late, "late.echo", func(_ context.Context, s string) (string, error) { return s, nil }))
	<-done
	if code != exitOK || stdout != "\"hi\"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestEcho(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			s := newTestSystem(t, tr)
			s.publish(t, "demo.raw", []byte(`{"v":1}`), 10*time.Millisecond)
			code, stdout, stderr := s.tool("echo", "--count", "3", "--json", "demo.raw")
			if code != exitOK {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if len(lines) != 3 {
				t.Fatalf("want 3 lines:\n%s", stdout)
			}
			var last uint64
			for _, l := range lines {
				var m echoLine
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatal(err)
				}
				if m.Topic != "demo.raw" || m.Publisher != "sensor" || string(m.Data) != `{"v":1}` || m.Size != 7 || m.Seq <= last {
					t.Errorf("message %s (after seq %d)", l, last)
				}
				last = m.Seq
			}
			if stderr != "" {
				t.Errorf("--json printed progress: %q", stderr)
			}
			expectOutput(t, s, []string{"echo", "--count", "2", "--prefix", "demo."}, `^demo\.raw \[sensor #\d+\] \{"v":1\}\ndemo\.raw \[sensor #\d+\] \{"v":1\}\n$`)
		})
	}
}

func TestEchoReportsProgressAndBinary(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	s.publish(t, "demo.bin", []byte{0xff, 0x00}, 10*time.Millisecond)
	code, stdout, stderr := s.tool("echo", "--count", "1", "demo.bin")
	if code != exitOK || !strings.Contains(stdout, "<2 bytes: ff00>") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{"subscribed to demo.bin", "received 1 messages, 0 dropped, 0 missed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	code, stdout, _ = s.tool("echo", "--count", "1", "--json", "demo.bin")
	var m echoLine
	if code != exitOK || json.Unmarshal([]byte(stdout), &m) != nil || string(m.Raw) != "\xff\x00" || m.Data != nil {
		t.Errorf("--json of a binary body: exit %d, %s", code, stdout)
	}
}

func TestEchoDurationWithoutPublishers(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	start := time.Now()
	code, stdout, stderr := s.tool("echo", "--duration", "300ms", "demo.silent")
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "received 0 messages") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 10*time.Second {
		t.Errorf("echo --duration 300ms took %v", d)
	}
}

func TestPub(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			s := newTestSystem(t, tr)
			listener := coretest.NewPeer(t, "listener", s.opts...)
			sub, err := listener.Subscribe("ctl.cmd")
			must(t, err)
			var sum pubSummary
			runJSON(t, s, &sum, "pub", "--count", "3", "--rate", "50", "--json", "ctl.cmd", `{"go": true}`)
			if sum != (pubSummary{Topic: "ctl.cmd", Published: 3, Delivered: 3, Subscribers: 1}) {
				t.Errorf("summary %+v", sum)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for i := range 3 {
				m, err := sub.Next(ctx)
				if err != nil || string(m.Data) != `{"go": true}` || !strings.HasPrefix(m.Publisher, "zmptool-pub-") {
					t.Fatalf("message %d: %+v, %v", i, m, err)
				}
			}
		})
	}
}

func TestPubWithoutSubscribers(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	code, stdout, stderr := s.tool("pub", "--wait-timeout", "200ms", "ctl.nobody", "1")
	if code != exitOK || stdout != "published 1 messages on ctl.nobody: 0 delivered, 0 dropped (0 subscribers)\n" ||
		!strings.Contains(stderr, "warning: 0 of 1 subscribers after 200ms; publishing anyway") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = s.tool("pub", "--wait-subscribers", "0", "--count", "2", "--rate", "100", "ctl.nobody", "1")
	if code != exitOK || !strings.HasPrefix(stdout, "published 2 messages") || stderr != "" {
		t.Errorf("--wait-subscribers 0: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestHz(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	body := []byte(`"12345678"`) // 10 bytes
	s.publish(t, "demo.raw", body, 20*time.Millisecond)
	code, stdout, stderr := s.tool("hz", "--json", "--interval", "500ms", "--duration", "2600ms", "demo.raw")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	// About 5 reports; a loaded machine (2 cores, parallel test
	// binaries) can delay the first subscription and the ticker.
	if len(lines) < 2 || len(lines) > 6 {
		t.Fatalf("want 2 to 6 reports in 2.6 s at 500 ms:\n%s", stdout)
	}
	var r hzReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	// 50 Hz is published; a loaded machine may fire the ticker late.
	if r.Topic != "demo.raw" || r.Window < 10 || r.RateHz < 10 || r.RateHz > 60 || r.AvgBytes != 10 || r.Publishers != 1 {
		t.Errorf("report %+v", r)
	}
	if bw := r.RateHz * 10; r.BytesPerS < bw*0.999 || r.BytesPerS > bw*1.001 {
		t.Errorf("%.1f B/s for %.2f Hz of 10-byte messages", r.BytesPerS, r.RateHz)
	}
	if r.MinGapS > r.MaxGapS || r.MinGapS <= 0 || r.Total < uint64(r.Window) {
		t.Errorf("gaps %v..%v, total %d, window %d", r.MinGapS, r.MaxGapS, r.Total, r.Window)
	}
	expectOutput(t, s, []string{"hz", "--window", "5", "--interval", "300ms", "--duration", "700ms", "demo.raw"},
		`(?m)^rate [\d.]+ Hz  min \S+  max \S+  std \S+  [\d.]+ B/s  avg 10 B  window 5  dropped 0  missed 0$`)
}

func TestGraph(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	code, dot, stderr := s.tool("graph")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	for _, want := range []string{
		"digraph zmp {",
		`"node:calc" [label="calc\npid `,
		`"node:calc" -> "service:demo.add" [label="provides", style=dashed];`,
		`"node:sensor" -> "topic:demo.raw";`,
		`"topic:demo.raw" -> "node:relay";`,
		`"topic:demo.*" -> "node:relay";`,
		`"topic:demo.raw" -> "topic:demo.*" [style=dotted, arrowhead=none, label="matches"];`,
	} {
		if !strings.Contains(dot, want) {
			t.Errorf("DOT lacks %s:\n%s", want, dot)
		}
	}
	if strings.Contains(dot, "zmptool-graph") {
		t.Errorf("the graph shows zmptool's own peer:\n%s", dot)
	}
	file := filepath.Join(t.TempDir(), "system.dot")
	if code, _, stderr := s.tool("graph", "--out", file); code != exitOK {
		t.Fatalf("--out %s: exit %d, %s", file, code, stderr)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.HasPrefix(string(b), "digraph zmp {") {
		t.Errorf("%s: %v\n%s", file, err, b)
	}
}

func TestGraphRendersWithDot(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz's dot is not installed")
	}
	s := newTestSystem(t, core.TCP)
	file := filepath.Join(t.TempDir(), "system.svg")
	if code, _, stderr := s.tool("graph", "--out", file); code != exitOK {
		t.Fatalf("exit %d, %s", code, stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "demo.raw") {
		t.Fatalf("%s: %v\n%.300s", file, err, b)
	}
}

func TestGraphWithoutDot(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	t.Setenv("PATH", t.TempDir())
	file := filepath.Join(t.TempDir(), "system.svg")
	code, _, stderr := s.tool("graph", "--out", file)
	if code != exitFailure || !strings.Contains(stderr, "needs Graphviz's dot command") || !strings.Contains(stderr, "system.dot") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(file); err == nil {
		t.Errorf("%s written without dot", file)
	}
}

// Cancelling the context (what Ctrl-C does) ends streaming commands
// cleanly, with their final report.
func TestStreamingCommandsStopOnInterrupt(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	s.publish(t, "demo.raw", []byte("1"), 10*time.Millisecond)
	tests := []struct {
		args     []string
		started  *regexp.Regexp // in stdout+stderr before the interrupt
		finished string         // in stderr or stdout after it
	}{
		{[]string{"echo", "demo.raw"}, regexp.MustCompile(`demo\.raw \[sensor`), "received"},
		{[]string{"hz", "--interval", "100ms", "demo.raw"}, regexp.MustCompile(`rate [\d.]+ Hz`), "received"},
		{[]string{"pub", "--count", "0", "--rate", "100", "--wait-subscribers", "0", "demo.out", "1"}, nil, "published"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, errb := &syncBuffer{}, &syncBuffer{}
			done := make(chan error, 1)
			go func() {
				args := append([]string{"zmptool", tt.args[0], "--registry", s.dir}, tt.args[1:]...)
				done <- newApp(nil, out, errb).RunContext(ctx, args)
			}()
			if tt.started != nil {
				waitMatch(t, out, regexp.MustCompile(`(`+tt.started.String()+`)`))
			} else { // pub prints nothing until the end: wait for it in the registry
				coretest.WaitFor(t, 10*time.Second, "pub's peer registered", func() bool {
					nodes, _ := s.reg.Nodes(context.Background())
					for _, n := range nodes {
						if n.Publishes("demo.out") {
							return true
						}
					}
					return false
				})
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("interrupted %s returned %v", tt.args[0], err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s did not stop within 10 s of the interrupt", tt.args[0])
			}
			if !strings.Contains(out.String()+errb.String(), tt.finished) {
				t.Errorf("no final report %q:\nstdout %s\nstderr %s", tt.finished, out, errb)
			}
		})
	}
}
