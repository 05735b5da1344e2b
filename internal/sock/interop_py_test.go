package sock

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

const python = "/usr/bin/python3"

var (
	pyzmqOnce sync.Once
	pyzmqErr  error
)

// requirePyzmq skips the test when python3-zmq is missing, unless
// ZMP_REQUIRE_INTEROP=1 makes that a failure.
func requirePyzmq(t *testing.T) {
	t.Helper()
	pyzmqOnce.Do(func() {
		out, err := exec.Command(python, "-c", "import zmq").CombinedOutput()
		if err != nil {
			pyzmqErr = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if pyzmqErr == nil {
		return
	}
	if os.Getenv("ZMP_REQUIRE_INTEROP") == "1" {
		t.Fatalf("python3-zmq required (ZMP_REQUIRE_INTEROP=1) but unusable: %v", pyzmqErr)
	}
	t.Skip("python3-zmq not installed: apt-get install python3-zmq")
}

// pyScript returns the path of a script under testdata/interop.
func pyScript(name string) string { return filepath.Join("testdata", "interop", name) }

// runPy runs a python script to completion within timeout and fails the
// test unless it prints "ok" as its last line.
func runPy(t *testing.T, timeout time.Duration, script string, args ...string) {
	t.Helper()
	runPyEnv(t, nil, timeout, script, args...)
}

// runPyEnv is runPy with extra environment entries.
func runPyEnv(t *testing.T, env []string, timeout time.Duration, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{pyScript(script)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	checkPyOutput(t, script, out, err)
}

func checkPyOutput(t *testing.T, script string, out []byte, err error) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "ok" {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

func TestInteropPyzmqDealerToRouter(t *testing.T) {
	requirePyzmq(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		forEachSecurity(t, func(t *testing.T, sv secVariant) {
			var n atomic.Int64
			var identity, user atomic.Value
			listen := ListenConfig{ZMTP: zmtp.Config{Type: zmtp.Router, Security: sv.server}}
			r := startRouter(t, tr.endpoint(t), RouterConfig{Listen: listen, OnMessage: func(p *Link, f [][]byte) {
				n.Add(1)
				identity.Store(p.Conn().PeerMetadata().Get("Identity"))
				user.Store(p.Conn().PeerAuth().UserID)
				echo(p, f)
			}})
			runPyEnv(t, []string{pyEnv(t, sv.pyClient)}, 60*time.Second, "dealer_echo.py", r.Endpoint())
			if n.Load() != 207 {
				t.Fatalf("router saw %d messages, want 207", n.Load())
			}
			if id := identity.Load(); id != "py-dealer" {
				t.Fatalf("peer identity %q", id)
			}
			wantUser := map[string]string{"null": "", "plain": "alice", "curve": "client-c"}[sv.name]
			if u := user.Load(); u != wantUser {
				t.Fatalf("peer user id %q, want %q", u, wantUser)
			}
			if got := r.Listener().Stats(); got.Accepted != 1 || got.HandshakeFailed != 0 {
				t.Fatalf("listener stats %+v", got)
			}
		})
	})
}

func TestInteropPyzmqSubToPub(t *testing.T) {
	requirePyzmq(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		forEachSecurity(t, func(t *testing.T, sv secVariant) { testInteropPyzmqSubToPub(t, tr, sv) })
	})
}

func testInteropPyzmqSubToPub(t *testing.T, tr transport, sv secVariant) {
	{
		p := startPub(t, tr.endpoint(t), PubConfig{Listen: ListenConfig{ZMTP: zmtp.Config{Type: zmtp.Pub, Security: sv.server}}})
		const want = 20
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, pyScript("sub_prefix.py"), p.Endpoint(), "keep.", fmt.Sprint(want))
		cmd.Env = append(os.Environ(), pyEnv(t, sv.pyClient))
		cmd.WaitDelay = time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		waitFor(t, 20*time.Second, func() bool { return p.Stats().Subscribers == 1 })
		// libzmq subscribes asynchronously after the handshake: publish
		// until python has seen enough. Topics that do not match must
		// never be sent to it (matched == 0: filtered on our side).
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var sent, keepMatched int
		var err error
	loop:
		for {
			select {
			case err = <-exited:
				break loop
			case <-tick.C:
			}
			for _, topic := range []string{"drop.a", "kee", "keep", "KEEP.x"} {
				if m, _ := p.Publish([][]byte{[]byte(topic), []byte("payload:" + topic)}); m != 0 {
					t.Fatalf("topic %q matched %d subscribers", topic, m)
				}
			}
			topic := fmt.Sprintf("keep.%d", sent)
			sent++
			if m, _ := p.Publish([][]byte{[]byte(topic), []byte("payload:" + topic)}); m == 1 {
				keepMatched++
			}
		}
		checkPyOutput(t, "sub_prefix.py", out.Bytes(), err)
		if keepMatched < want {
			t.Fatalf("python got %d messages but only %d were sent to it", want, keepMatched)
		}
	}
}

func TestInteropSessionToPyzmqRouter(t *testing.T) {
	requirePyzmq(t)
	forEachSecurity(t, testInteropSessionToPyzmqRouter)
}

func testInteropSessionToPyzmqRouter(t *testing.T, sv secVariant) {
	const count = 300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, pyScript("router_echo.py"), fmt.Sprint(count))
	cmd.Env = append(os.Environ(), pyEnv(t, sv.pyServ))
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	var ep string
	select {
	case ep = <-lines:
	case <-ctx.Done():
		t.Fatal("python ROUTER did not report its endpoint")
	}
	if !strings.HasPrefix(ep, "tcp://127.0.0.1:") {
		cancel()
		<-exited
		t.Fatalf("python printed %q; stderr:\n%s", ep, stderr.String())
	}

	got := make(chan [][]byte, count)
	s := startSession(t, SessionConfig{
		Endpoint: ep,
		ZMTP:     zmtp.Config{Type: zmtp.Dealer, Identity: []byte("zmp-dealer"), Security: sv.client},
		Link:     LinkConfig{OnMessage: func(_ *Link, f [][]byte) { got <- f }},
	})
	l := sessionLink(t, s)
	if pt := l.Conn().PeerType(); pt != zmtp.Router {
		t.Fatalf("peer type %q", pt)
	}
	big := bytes.Repeat([]byte("z"), 70000)
	for i := range count {
		m := [][]byte{[]byte(fmt.Sprint(i)), {}}
		if i%50 == 0 {
			m = append(m, big)
		}
		if err := l.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range count {
		select {
		case m := <-got:
			if len(m) < 2 || string(m[0]) != fmt.Sprint(i) || len(m[1]) != 0 {
				t.Fatalf("reply %d: %q", i, m)
			}
			if i%50 == 0 && (len(m) != 3 || !bytes.Equal(m[2], big)) {
				t.Fatalf("reply %d lost its 70000-byte frame", i)
			}
		case <-ctx.Done():
			t.Fatalf("timeout waiting for reply %d; stderr:\n%s", i, stderr.String())
		}
	}
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	if err := <-exited; err != nil || len(rest) == 0 || rest[len(rest)-1] != "ok" {
		t.Fatalf("python ROUTER: %v, output %q, stderr:\n%s", err, rest, stderr.String())
	}
}

func TestInteropPyzmqHeartbeats(t *testing.T) {
	requirePyzmq(t)
	var mu sync.Mutex
	var got []string
	var realAt atomic.Int64
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{OnMessage: func(p *Link, f [][]byte) {
		mu.Lock()
		for _, fr := range f {
			got = append(got, string(fr))
		}
		mu.Unlock()
		if string(f[0]) == "real" {
			realAt.Store(time.Now().UnixNano())
		}
		echo(p, f)
	}})
	messages := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, pyScript("dealer_heartbeat.py"), r.Endpoint())
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// While python idles after "real", its PINGs reach us (they advance
	// the link's receive count) yet OnMessage sees nothing new.
	l := onlyLink(t, r)
	waitFor(t, 20*time.Second, func() bool { return realAt.Load() != 0 })
	atReal := l.Conn().Received()
	pinged := poll(20*time.Second, func() bool {
		return l.Conn().Received() >= atReal+2 || len(messages()) > 1
	})
	if !pinged || len(messages()) > 1 {
		t.Errorf("no PING seen while the peer idled (messages %q)", messages())
	}
	err := <-exited
	checkPyOutput(t, "dealer_heartbeat.py", out.Bytes(), err)
	if m := messages(); fmt.Sprint(m) != "[real end]" {
		t.Fatalf("OnMessage saw %q, want only [real end] (PINGs must not surface)", m)
	}
	if st := r.Listener().Stats(); st.Accepted != 1 {
		t.Fatalf("listener stats %+v: the peer reconnected", st)
	}
}
