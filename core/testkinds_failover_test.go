package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Child kinds and helpers of failover_test.go, registry_outage_test.go
// and soak_test.go: registry nodes and providers that a test can
// SIGSTOP, SIGKILL and start again at the same endpoint.

// markEndpoint is the mark a failover-registry node reads its endpoint
// from: the test writes <name>.endpoint before starting it.
const markEndpoint = "endpoint"

// failoverRegistryKind serves a registry node (NewRegistryServer with a
// fresh MemRegistry) at the endpoint in its mark "endpoint". Its own
// peer is listed in the registry the test gives it, not in the one it
// serves. Child processes only: tests SIGKILL it and start it again on
// the same endpoint.
func failoverRegistryKind() Behavior {
	var srv *RegistryServer
	return Behavior{
		Setup: func(ctx context.Context, p *Peer) error {
			dir := os.Getenv(envTestDir)
			if dir == "" {
				return fmt.Errorf("test kind: $%s is not set", envTestDir)
			}
			ep, err := os.ReadFile(markPath(dir, p.Name(), markEndpoint))
			if err != nil {
				return err
			}
			srv, err = NewRegistryServer(ctx, string(ep), nil)
			return err
		},
		Teardown: func(context.Context, *Peer) error {
			if srv == nil {
				return nil
			}
			return srv.Close()
		},
	}
}

// failoverEchoKind provides "echo", which answers at once with the
// request body.
func failoverEchoKind() Behavior {
	return Behavior{Setup: func(_ context.Context, p *Peer) error {
		return p.HandleFunc("echo", func(_ context.Context, r *Request) ([]byte, error) { return r.Body, nil })
	}}
}

// freeTCPEndpoint returns tcp://127.0.0.1:port with a port that was
// free a moment ago, for a node that must come back at the same
// endpoint after a restart. The port is below Linux's default range of
// ephemeral ports (32768-60999), so that while the node is down no
// outgoing connection of this or another test process takes it as its
// source port.
func freeTCPEndpoint(t testing.TB) string {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		return "tcp://127.0.0.1:" + strconv.Itoa(port)
	}
	t.Fatal("no free port below 32000")
	return ""
}

// registryChild is a registry node in a child process, served at a
// fixed TCP endpoint so that it can be killed and started again there.
type registryChild struct {
	n        *Node
	endpoint string
}

// startRegistryChild starts a failover-registry child named name.
func startRegistryChild(e *nodeEnv, name string) *registryChild {
	e.t.Helper()
	ep := freeTCPEndpoint(e.t)
	if err := os.WriteFile(markPath(e.dir, name, markEndpoint), []byte(ep), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return &registryChild{n: e.started(modeChild, "failover-registry", name), endpoint: ep}
}

// killNode SIGKILLs a child-process node and waits until it is seen
// dead, so that it can be started again.
func killNode(n *Node) error {
	pid := n.Status().PID
	if pid <= 0 || pid == os.Getpid() {
		return fmt.Errorf("%s has no child process (pid %d)", n.Name(), pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing %s: %w", n.Name(), err)
	}
	if !pollFor(10*time.Second, func() bool { return !n.Status().Alive() }) {
		return fmt.Errorf("%s (pid %d) still alive 10 s after SIGKILL", n.Name(), pid)
	}
	return nil
}

// soakSeconds is the length of the long forms, from $ZMP_SOAK_SECONDS;
// 0 selects the short forms.
func soakSeconds(t testing.TB) int {
	t.Helper()
	s := os.Getenv("ZMP_SOAK_SECONDS")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("ZMP_SOAK_SECONDS=%q: want a positive number of seconds", s)
	}
	return n
}

// registryOutage is how long tests keep the registry node dead: 3 s,
// or 10 s (as in the report) in the long form.
func registryOutage(t testing.TB) time.Duration {
	if soakSeconds(t) > 0 {
		return 10 * time.Second
	}
	return 3 * time.Second
}
