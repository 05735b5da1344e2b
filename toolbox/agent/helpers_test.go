package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Settings of an agent run as a process of its own (agentProcess).
const (
	envAgentProcess  = "ZMP_AGENT_TEST_PROCESS" // its name
	envAgentRegistry = "ZMP_AGENT_TEST_REGISTRY"
)

// agentProcess runs an insecure loopback agent named $ZMP_AGENT_TEST_PROCESS
// in the registry directory $ZMP_AGENT_TEST_REGISTRY until SIGTERM, and
// prints "ready" once it serves.
func agentProcess() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := New(testLauncher, WithName(os.Getenv(envAgentProcess)), WithInsecure(true),
		WithPeerOptions(core.WithRegistryAddress(os.Getenv(envAgentRegistry))),
		WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err == nil {
		err = a.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 2
	}
	fmt.Println("ready", a.Endpoint())
	<-ctx.Done()
	if err := a.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	return 0
}

// harness is an agent of this test binary's kinds, in a registry
// directory of its own, and a controller: a peer and a Client.
type harness struct {
	t      *testing.T
	ctx    context.Context
	dir    string // the registry
	reg    *core.DirRegistry
	agent  *Agent
	peer   *core.Peer
	client *Client
}

// quietLogger drops the agent's and its supervisors' logs.
var quietLogger = slog.New(slog.DiscardHandler)

// newHarness starts an insecure loopback agent "a1" with opts (which
// may override its name) and a controller peer.
func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	h := &harness{t: t, ctx: ctx, dir: t.TempDir()}
	var err error
	if h.reg, err = core.NewDirRegistry(h.dir); err != nil {
		t.Fatal(err)
	}
	h.agent = h.startAgent("a1", opts...)
	h.peer, err = core.NewPeer(ctx, "controller", core.WithRegistry(h.reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.peer.Close() })
	h.client = NewClient(h.peer)
	return h
}

// startAgent starts another agent in the harness's registry.
func (h *harness) startAgent(name string, opts ...Option) *Agent {
	h.t.Helper()
	base := []Option{WithName(name), WithInsecure(true), WithPeerOptions(core.WithRegistry(h.reg)), WithLogger(quietLogger)}
	a, err := New(testLauncher, append(base, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := a.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		if err := a.Close(); err != nil {
			h.t.Errorf("closing agent %s: %v", name, err)
		}
	})
	return a
}

// start places spec on agent a1 and fails the test on an error.
func (h *harness) start(spec Spec) NodeStatus {
	h.t.Helper()
	st, err := h.client.Start(h.ctx, h.agent.Name(), spec)
	if err != nil {
		h.t.Fatalf("start %+v: %v", spec, err)
	}
	return st
}

// pid asks the node name for its PID.
func (h *harness) pid(name string) (int, error) {
	ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
	defer cancel()
	return core.Call[int](ctx, h.peer, name+".pid", nil, core.OnNode(name))
}

// waitFor polls cond until it holds, failing the test after timeout.
func (h *harness) waitFor(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ps returns the status of node name on a1, or a zero status.
func (h *harness) ps(name string) NodeStatus {
	for _, n := range h.agent.Nodes() {
		if n.Name == name {
			return n
		}
	}
	return NodeStatus{}
}

// processGone reports whether pid no longer runs (or is a zombie).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z") || strings.HasPrefix(after, "X")
}

// readAll reads a logs stream to its end.
func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading logs: %v (got %q)", err, b)
	}
	return string(b)
}
