package consensus

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func TestParseRegistryAddress(t *testing.T) {
	const k = "tcp://127.0.0.1:7001?key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	for _, tc := range []struct {
		addr  string
		name  string
		addrs []string
	}{
		{"kv://tcp://127.0.0.1:7001", "kv", []string{"tcp://127.0.0.1:7001"}},
		{"kv://" + k + ",tcp://h:2", "kv", []string{k, "tcp://h:2"}},
		{"kv://store@" + k, "store", []string{k}},
		{"kv://s@ipc:///run/a", "s", []string{"ipc:///run/a"}},
	} {
		name, addrs, err := ParseRegistryAddress(tc.addr)
		if err != nil || name != tc.name || !slices.Equal(addrs, tc.addrs) {
			t.Errorf("ParseRegistryAddress(%q) = %q %q %v", tc.addr, name, addrs, err)
		}
	}
	for _, bad := range []string{"", "tcp://127.0.0.1:1", "kv://", "kv://@tcp://a:1", "kv://name", "kv://tcp://a:1,", "kv://tcp://a:1,udp://b:2", "kv://n@"} {
		if _, _, err := ParseRegistryAddress(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("ParseRegistryAddress(%q) = %v, want ErrBadConfig", bad, err)
		}
	}
}

// An ordinary peer given only the registry's "kv://" address (as
// $ZMP_REGISTRY would) and the opener finds another one, and its
// Address round-trips.
func TestRegistryOpenedByAddress(t *testing.T) {
	kp := trKeys(t)
	c := newKVClusterWith(t, &kvCluster{trusted: []core.Key{kp.Public}}, 3)
	c.leader()
	var addrs []string
	for _, s := range c.servers {
		addrs = append(addrs, string(s.Address))
	}
	reg, err := NewRegistry(trCtx(t, 20*time.Second), addrs, "")
	if err != nil {
		t.Fatal(err)
	}
	addr := reg.Address()
	reg.Close()
	if name, got, err := ParseRegistryAddress(addr); err != nil || name != "kv" || !slices.Equal(got, addrs) {
		t.Fatalf("Address %q parses to %q %q %v", addr, name, got, err)
	}
	ctx := trCtx(t, 90*time.Second)
	sec := core.WithSecurity(trCurveSecurity(t, kp, c.trusted...))
	peer := func(name string) *core.Peer {
		p, err := core.NewPeer(ctx, name, core.WithRegistryAddress(addr),
			core.WithRegistryOpener(RegistryScheme, OpenRegistry), sec,
			core.WithDiscoveryInterval(50*time.Millisecond), core.WithLeaseTTL(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	srv := peer("echo-env")
	if err := srv.HandleFunc("echo", func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil }); err != nil {
		t.Fatal(err)
	}
	if a := srv.Registry().(core.Addresser).Address(); a != addr {
		t.Fatalf("the peer's registry says %q, want %q", a, addr)
	}
	cli := peer("caller-env")
	trWaitFor(t, 30*time.Second, "a peer reaches echo through a registry opened from its address", func() bool {
		b, err := cli.Call(ctx, "echo", []byte("hi"))
		return err == nil && string(b) == "hi"
	})
}

// A node of the store that is down, listed first, is skipped by the
// probe instead of holding every call for its share of the deadline.
func TestRegistryProbeSkipsDownNodes(t *testing.T) {
	_, r := regSetup(t)
	dead := "tcp://127.0.0.1:1" // refused
	r.addrs = append([]string{dead}, r.addrs...)
	if i := r.probe(trCtx(t, 20*time.Second), 0); i == 0 {
		t.Fatalf("the probe chose the dead address")
	}
	if i := (&Registry{p: r.p, addrs: []string{dead, "tcp://127.0.0.1:2"}}).probe(trCtx(t, 20*time.Second), 1); i != 1 {
		t.Fatalf("with no node answering the probe chose %d, want the fallback 1", i)
	}
}

// A name held by a node that died on this host is taken back at once,
// and the dead node's entry is not listed; one held by a live process
// is not.
func TestRegistryTakesBackDeadNodesName(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process tables are read on Linux only")
	}
	_, r := regSetup(t)
	ctx := trCtx(t, 60*time.Second)
	host, _ := os.Hostname()
	proc := func() *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	live, dead := proc(), proc()
	info := func(name, id string, pid int) core.NodeInfo {
		return core.NodeInfo{Name: name, ID: id, PID: pid, Host: host, Started: time.Now().Add(-time.Second), RPC: "tcp://127.0.0.1:9"}
	}
	for _, in := range []core.NodeInfo{info("w-live", "old-live", live.Process.Pid), info("w-dead", "old-dead", dead.Process.Pid)} {
		if err := r.Register(ctx, in, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	dead.Process.Kill()
	dead.Wait()
	nodes, err := r.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == "w-dead" {
			t.Fatalf("the dead node's entry is listed: %+v", n)
		}
	}
	if err := r.Register(ctx, info("w-live", "new", os.Getpid()), time.Minute); !errors.Is(err, core.ErrNameTaken) {
		t.Fatalf("the name of a live process's node: %v, want ErrNameTaken", err)
	}
	if err := r.Register(ctx, info("w-dead", "new", os.Getpid()), time.Minute); err != nil {
		t.Fatalf("the name of a dead process's node is not taken back: %v", err)
	}
	if n, err := core.Lookup(ctx, r, "w-dead"); err != nil || n.ID != "new" {
		t.Fatalf("after the takeover: %+v, %v", n, err)
	}
}
