package core

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newRegistryServer(t *testing.T, endpoint string) *RegistryServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := NewRegistryServer(ctx, endpoint, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newRemoteRegistry(t *testing.T, endpoint string) *RemoteRegistry {
	t.Helper()
	reg, err := NewRemoteRegistry(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

func registered(reg Registry, name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Lookup(ctx, reg, name)
	return err == nil
}

// A node killed outright leaves a registry node at once, long before
// its lease would expire: entries are bound to their connection.
func TestRegistryNodeDropsKilledChildAtOnce(t *testing.T) {
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	srv := newRegistryServer(t, "tcp://127.0.0.1:0")
	reg := newRemoteRegistry(t, srv.Endpoint())
	n, err := testLauncher.NewNode("calc", "remote-calc", WithRegistry(reg), WithOutput(io.Discard), WithLeaseTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if !registered(reg, "remote-calc") {
		t.Fatal("the child is not in the registry node")
	}
	if err := syscall.Kill(n.Status().PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitCond(t, 10*time.Second, "killed child leaves the registry", func() bool { return !registered(reg, "remote-calc") })
	// The lease is a minute: only the closed connection can explain this.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("entry removed after %v", d)
	}
}

// A registry node that restarts empty is refilled by its clients as
// soon as they reconnect, not at their next lease renewal.
func TestRemoteRegistryRegistersAgainAfterRegistryRestart(t *testing.T) {
	first := newRegistryServer(t, "tcp://127.0.0.1:0")
	endpoint := first.Endpoint()
	reg := newRemoteRegistry(t, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := NewPeer(ctx, "survivor", WithRegistry(reg), WithLeaseTTL(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if !registered(reg, "survivor") {
		t.Fatal("not registered")
	}
	first.Close()
	second := newRegistryServer(t, endpoint)
	// Renewal would come after 20 s; the reconnect replays at once.
	waitCond(t, 8*time.Second, "entry registered again", func() bool { return registered(reg, "survivor") })
	nodes, err := second.Peer().Registry().Nodes(ctx)
	if err != nil || len(nodes) != 2 { // zmp-registry itself and survivor
		t.Fatalf("restarted registry holds %v, %v", nodes, err)
	}
}

// Deregistering removes the entry's binding too: a later close of the
// connection must not remove an entry registered again elsewhere.
func TestRegistryNodeNameTakenAcrossClients(t *testing.T) {
	srv := newRegistryServer(t, "tcp://127.0.0.1:0")
	a := newRemoteRegistry(t, srv.Endpoint())
	b := newRemoteRegistry(t, srv.Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info := NodeInfo{Name: "dup", ID: "one", PID: 1, Host: "elsewhere"}
	if err := a.Register(ctx, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	info.ID = "two"
	if err := b.Register(ctx, info, time.Minute); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second holder: %v, want ErrNameTaken", err)
	}
	if err := a.Deregister(ctx, "dup", "one"); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, info, time.Minute); err != nil {
		t.Fatalf("after deregistration: %v", err)
	}
	a.Close()
	if !registered(b, "dup") {
		t.Fatal("closing another client removed the entry")
	}
}

func TestDefaultRegistryDirMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZMP_RUNTIME_DIR", dir)
	if _, err := ParseRegistry(""); err != nil {
		t.Fatalf("private dir refused: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRegistry(""); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Fatalf("world-writable default dir accepted: %v", err)
	}
}
