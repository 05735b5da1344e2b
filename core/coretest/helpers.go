package coretest

import (
	"context"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// NewRegistry returns an in-memory registry private to the test.
func NewRegistry(t testing.TB) *core.MemRegistry {
	t.Helper()
	return core.NewMemRegistry()
}

// NewPeer makes a peer that t.Cleanup closes.
func NewPeer(t testing.TB, name string, opts ...core.Option) *core.Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := core.NewPeer(ctx, name, opts...)
	if err != nil {
		t.Fatalf("coretest: NewPeer(%q): %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// StartNode starts n and has t.Cleanup close it.
func StartNode(t testing.TB, n *core.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("coretest: starting %s: %v", n.Name(), err)
	}
	t.Cleanup(func() { n.Close() })
}

// WaitProviders waits up to timeout for n providers of service.
func WaitProviders(t testing.TB, reg core.Registry, service string, n int, timeout time.Duration) []core.NodeInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	nodes, err := core.Discover(ctx, reg, service, n)
	if err != nil {
		t.Fatalf("coretest: %v", err)
	}
	return nodes
}

// WaitFor polls cond every 10 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("coretest: %s: not true after %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
