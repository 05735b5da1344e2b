package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// nodeNamesOf lists the names of nodes, in order.
func nodeNamesOf(nodes []NodeInfo) []string {
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names
}

// nextState waits up to timeout for the next state of a watch; ok is
// false when the channel closed.
func nextState(t testing.TB, ch <-chan []NodeInfo, timeout time.Duration) (nodes []NodeInfo, ok bool) {
	t.Helper()
	select {
	case nodes, ok = <-ch:
		return nodes, ok
	case <-time.After(timeout):
		t.Fatalf("no state pushed within %v", timeout)
		return nil, false
	}
}

// waitWatchState reads states until one has exactly names, failing after
// timeout.
func waitWatchState(t testing.TB, ch <-chan []NodeInfo, timeout time.Duration, names ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []string
	for time.Now().Before(deadline) {
		select {
		case nodes, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed while waiting for %v (last %v)", names, last)
			}
			if last = nodeNamesOf(nodes); slices.Equal(last, names) {
				return
			}
		case <-time.After(time.Until(deadline)):
		}
	}
	t.Fatalf("no state %v within %v; last %v", names, timeout, last)
}

// expectClosed waits until a watch channel closes.
func expectClosed(t testing.TB, ch <-chan []NodeInfo, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch not closed within %v", timeout)
		}
	}
}

// testStarted is the start time of test entries: registering one
// again is a mere renewal.
var testStarted = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func testEntry(name string) NodeInfo {
	return NodeInfo{Name: name, ID: name + "-id", PID: os.Getpid(), Started: testStarted}
}

// watchRegistries are the registries whose watch tests share a table:
// each returns the registry to watch and one to change it through.
var watchRegistries = []struct {
	name string
	make func(t *testing.T) (watched RegistryWatcher, writer Registry)
}{
	{"mem", func(t *testing.T) (RegistryWatcher, Registry) { r := NewMemRegistry(); return r, r }},
	{"dir", func(t *testing.T) (RegistryWatcher, Registry) {
		dir := t.TempDir()
		a, err := NewDirRegistry(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewDirRegistry(dir) // another process would have its own
		return a, b
	}},
	{"remote-tcp", func(t *testing.T) (RegistryWatcher, Registry) {
		srv := newRegistryServer(t, "tcp://127.0.0.1:0")
		return newRemoteRegistry(t, srv.Address()), newRemoteRegistry(t, srv.Address())
	}},
	{"remote-ipc", func(t *testing.T) (RegistryWatcher, Registry) {
		srv := newRegistryServer(t, "ipc://"+shortTempDir(t)+"/reg")
		return newRemoteRegistry(t, srv.Address()), newRemoteRegistry(t, srv.Address())
	}},
}

// A watch starts with the current state, pushes registrations,
// removals and expired leases, not renewals, and closes with its ctx.
func TestRegistryWatch(t *testing.T) {
	for _, rc := range watchRegistries {
		t.Run(rc.name, func(t *testing.T) {
			watched, w := rc.make(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := w.Register(ctx, testEntry("before"), time.Minute); err != nil {
				t.Fatal(err)
			}
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			ch, err := watched.Watch(wctx)
			if errors.Is(err, ErrWatchUnsupported) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			remote := rc.name != "mem" && rc.name != "dir"
			want := []string{"before"}
			if remote {
				want = []string{"before", "zmp-registry"}
			}
			waitWatchState(t, ch, 10*time.Second, want...)

			if err := w.Register(ctx, testEntry("added"), time.Minute); err != nil {
				t.Fatal(err)
			}
			want = append([]string{"added"}, want...)
			waitWatchState(t, ch, 5*time.Second, want...)

			// A renewal changes only the expiry: nothing is pushed.
			if err := w.Register(ctx, testEntry("added"), time.Minute); err != nil {
				t.Fatal(err)
			}
			select {
			case nodes := <-ch:
				if !slices.Equal(nodeNamesOf(nodes), want) {
					t.Fatalf("after a renewal: %v", nodeNamesOf(nodes))
				}
				if !remote { // the registry node's own entry may change
					t.Fatalf("a renewal was pushed: %v", nodeNamesOf(nodes))
				}
			case <-time.After(300 * time.Millisecond):
			}

			if err := w.Deregister(ctx, "before", "before-id"); err != nil {
				t.Fatal(err)
			}
			want = slices.DeleteFunc(want, func(s string) bool { return s == "before" })
			waitWatchState(t, ch, 5*time.Second, want...)

			// An expiring lease is pushed when it runs out.
			if err := w.Register(ctx, testEntry("brief"), 500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			waitWatchState(t, ch, 5*time.Second, append([]string{"added", "brief"}, want[1:]...)...)
			start := time.Now()
			waitWatchState(t, ch, 5*time.Second, want...)
			t.Logf("expired lease pushed %v after the registration was seen", time.Since(start).Round(time.Millisecond))

			wcancel()
			expectClosed(t, ch, 5*time.Second)
		})
	}
}

// A watcher that never reads holds one state, the newest: no backlog
// grows however many changes there are.
func TestRegistryWatchNeverRead(t *testing.T) {
	for _, rc := range watchRegistries {
		t.Run(rc.name, func(t *testing.T) {
			watched, w := rc.make(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			ch, err := watched.Watch(ctx)
			if errors.Is(err, ErrWatchUnsupported) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			const changes = 200
			for i := range changes {
				e := testEntry(fmt.Sprintf("n%03d", i))
				e.Labels = map[string]string{"pad": string(make([]byte, 200))}
				if err := w.Register(ctx, e, time.Minute); err != nil {
					t.Fatal(err)
				}
				if len(ch) > cap(ch) || cap(ch) != 1 {
					t.Fatalf("watch channel holds %d of %d", len(ch), cap(ch))
				}
			}
			// The newest state arrives; at most one stale one before it.
			deadline := time.Now().Add(10 * time.Second)
			reads := 0
			for {
				nodes, ok := nextState(t, ch, time.Until(deadline))
				if !ok {
					t.Fatal("watch closed")
				}
				reads++
				if n := len(slices.DeleteFunc(nodes, func(n NodeInfo) bool { return n.Name == "zmp-registry" })); n == changes {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("newest state not seen; last had %d nodes", len(nodes))
				}
			}
			t.Logf("%d changes made, %d states read by the late reader", changes, reads)
			if reads > changes/10 { // pushes still in flight when it reads may add a few
				t.Errorf("the late reader read %d states: a backlog", reads)
			}
		})
	}
}

// A local entry whose process exited disappears from a directory watch
// (no file event says so) within the slow poll.
func TestDirRegistryWatchDeadProcess(t *testing.T) {
	dir := t.TempDir()
	reg, err := NewDirRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	host, _ := os.Hostname()
	e := NodeInfo{Name: "doomed", ID: "doomed-id", PID: cmd.Process.Pid, Host: host, Started: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.Register(ctx, e, time.Hour); err != nil {
		t.Fatal(err)
	}
	ch, err := reg.Watch(ctx)
	if errors.Is(err, ErrWatchUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 5*time.Second, "doomed")
	cmd.Process.Kill()
	cmd.Wait()
	start := time.Now()
	waitWatchState(t, ch, 10*time.Second)
	t.Logf("dead process noticed after %v", time.Since(start).Round(time.Millisecond))
}

// Removing the watched directory breaks the watch: the channel closes.
func TestDirRegistryWatchBreaks(t *testing.T) {
	dir := t.TempDir()
	reg, err := NewDirRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := reg.Watch(ctx)
	if errors.Is(err, ErrWatchUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 5*time.Second)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, ch, 10*time.Second)
}

// A registry node restart breaks a client's watch, and a new watch
// works against the new node.
func TestRemoteRegistryWatchRestart(t *testing.T) {
	srv := newRegistryServer(t, "tcp://127.0.0.1:0")
	addr := srv.Address()
	reg := newRemoteRegistry(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch, err := reg.Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 10*time.Second, "zmp-registry")
	srv.Close()
	expectClosed(t, ch, 10*time.Second)
	if _, err := reg.Watch(ctx); err == nil {
		t.Fatal("Watch succeeded with the registry node down")
	}
	srv2 := newRegistryServer(t, srv.Endpoint())
	var ch2 <-chan []NodeInfo
	waitCond(t, 20*time.Second, "a watch of the restarted node", func() bool {
		ch2, err = reg.Watch(ctx)
		return err == nil
	})
	w := newRemoteRegistry(t, srv2.Address())
	if err := w.Register(ctx, testEntry("after"), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch2, 10*time.Second, "after", "zmp-registry")
}

// A registry node that does not push (here a plain peer, which lacks
// zmp.registry.watch) makes Watch report ErrWatchUnsupported, and
// peers poll it.
func TestRemoteRegistryWatchUnsupported(t *testing.T) {
	p := newPeerT(t, "not-a-registry", WithRegistry(NewMemRegistry()))
	reg := newRemoteRegistry(t, p.Info().RPC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := reg.Watch(ctx); !errors.Is(err, ErrWatchUnsupported) {
		t.Fatalf("Watch = %v, want ErrWatchUnsupported", err)
	}
}

// Under CURVE the pushes come over a CURVE connection to the registry
// node's PUB socket, authenticated with the node's key.
func TestRemoteRegistryWatchCurve(t *testing.T) {
	c := newCluster(t, "registry", "watcher", "writer")
	_, client := curveRegistry(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch, err := client("watcher").Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 10*time.Second, "zmp-registry")
	if err := client("writer").Register(ctx, testEntry("secure"), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 10*time.Second, "secure", "zmp-registry")
}

// A registry node pushes from the pub endpoint it is given, else from
// one beside its RPC endpoint.
func TestRegistryServerPubEndpoint(t *testing.T) {
	for _, tc := range []struct{ rpc, want string }{
		{"tcp://0.0.0.0:5550", "tcp://0.0.0.0:0"},
		{"tcp://[::1]:5550", "tcp://[::1]:0"},
		{"ipc:///run/zmp/reg", "ipc:///run/zmp/reg.pub"},
	} {
		if got := registryPubEndpoint(tc.rpc); got != tc.want {
			t.Errorf("registryPubEndpoint(%q) = %q, want %q", tc.rpc, got, tc.want)
		}
	}
	dir := shortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := NewRegistryServer(ctx, "ipc://"+dir+"/reg", nil, WithEndpoints("", "ipc://"+dir+"/push"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if got := srv.Peer().Info().Pub; got != "ipc://"+dir+"/push" {
		t.Fatalf("pub endpoint %q", got)
	}
	ch, err := newRemoteRegistry(t, srv.Address()).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 10*time.Second, "zmp-registry")
}
