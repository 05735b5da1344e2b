package proxy

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
	"testing"
	"time"
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

// runPy runs a script from testdata to completion and returns its
// output lines; it fails the test unless the last one is "ok".
func runPy(t *testing.T, script string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "ok" {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return lines
}

func TestInteropPyzmqPubForwarderSub(t *testing.T) {
	requirePyzmq(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		f := newForwarder(t, tr)
		lines := runPy(t, "pub_sub_forwarder.py", f.FrontendEndpoint(), f.BackendEndpoint(), "50")
		var keep, drop uint64
		if _, err := fmt.Sscanf(lines[len(lines)-2], "published %d %d", &keep, &drop); err != nil {
			t.Fatalf("output %q: %v", lines, err)
		}
		// libzmq's PUB filters with the subscription the forwarder sent
		// upstream: no drop.* topic ever reached the forwarder.
		if st := f.Stats(); st.Frontend.MsgsIn > keep || st.Frontend.MsgsIn < 50 {
			t.Fatalf("forwarder received %d publications; python published %d wanted and %d unwanted", st.Frontend.MsgsIn, keep, drop)
		}
	})
}

func TestInteropPyzmqReqQueueGoWorkers(t *testing.T) {
	requirePyzmq(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		q := newQueue(t, tr)
		for _, name := range []string{"w1", "w2"} {
			newWorker(t, q.BackendEndpoint(), echo(name))
		}
		waitUntil(t, wait, "workers ready", func() bool { return q.Stats().Idle == 2 })
		lines := runPy(t, "req_client.py", q.FrontendEndpoint(), "40")
		if got := lines[len(lines)-2]; got != "workers w1,w2" {
			t.Fatalf("python saw %q, want both workers", got)
		}
	})
}

func TestInteropPyzmqWorkerFromSpec(t *testing.T) {
	requirePyzmq(t)
	q := newQueue(t, transports[0])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "pp_worker.py"), q.BackendEndpoint(), "20")
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(stdout)
	waitUntil(t, wait, "python worker ready", func() bool { return q.Stats().Idle == 1 })
	c := newQueueClient(t, q.FrontendEndpoint())
	for i := range 20 {
		if got := doRequest(t, c, fmt.Sprint(i)); got != fmt.Sprint("py:", i) {
			t.Fatalf("reply %q", got)
		}
	}
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := cmd.Wait(); err != nil || out[len(out)-1] != "ok" {
		t.Fatalf("python worker: %v %q", err, out)
	}
}

func TestInteropPyzmqMajordomoClient(t *testing.T) {
	requirePyzmq(t)
	b := newBroker(t, transports[0])
	newServiceWorker(t, b.BackendEndpoint(), "echo", HandlerFunc(func(_ context.Context, body [][]byte) ([][]byte, error) {
		return body, nil
	}))
	waitUntil(t, wait, "worker ready", func() bool { return b.Stats().Idle == 1 })
	runPy(t, "mdp_client.py", b.FrontendEndpoint())
}
