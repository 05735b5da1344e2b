package core

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// pollOnly hides a registry's watch: the view polls it.
type pollOnly struct{ Registry }

// viewRegistries make a registry for a client peer to watch and a
// second client of the same registry to change it through.
var viewRegistries = []struct {
	name string
	make func(t *testing.T) (watched, writer Registry)
}{
	{"mem", func(t *testing.T) (Registry, Registry) { r := NewMemRegistry(); return r, r }},
	{"dir", func(t *testing.T) (Registry, Registry) {
		dir := t.TempDir()
		a, err := NewDirRegistry(dir)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewDirRegistry(dir)
		return a, b
	}},
	{"remote-tcp", func(t *testing.T) (Registry, Registry) {
		srv := newRegistryServer(t, "tcp://127.0.0.1:0")
		return newRemoteRegistry(t, srv.Address()), newRemoteRegistry(t, srv.Address())
	}},
	{"remote-ipc", func(t *testing.T) (Registry, Registry) {
		srv := newRegistryServer(t, "ipc://"+shortTempDir(t)+"/reg")
		return newRemoteRegistry(t, srv.Address()), newRemoteRegistry(t, srv.Address())
	}},
}

// inView reports whether p's view lists a provider of service.
func inView(p *Peer, service string) bool {
	v := p.watch.cur.Load()
	return v != nil && len(v.providers[service]) > 0
}

// useView makes a call so that p's view is in use (a provider of
// "base" must exist) and waits until the view follows a watch, when
// live says it should.
func useView(t *testing.T, p *Peer, live bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Call(ctx, "base", []byte(`"x"`)); err != nil {
		t.Fatalf("call base: %v", err)
	}
	if live {
		waitCond(t, 20*time.Second, "the view to follow the watch", func() bool {
			p.watch.touch()
			return p.watch.isLive()
		})
	}
}

// propagation registers count entries providing new services through
// w and returns how long each took to appear in p's view.
func propagation(t *testing.T, p *Peer, w Registry, count int) []time.Duration {
	t.Helper()
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []time.Duration
	for i := range count {
		p.watch.touch()
		svc := fmt.Sprintf("late.%d", i)
		e := NodeInfo{Name: "late-" + svc, ID: newID(), PID: os.Getpid(), Host: host,
			RPC: p.Info().RPC, Services: []string{svc}, Started: testStarted}
		start := time.Now()
		if err := w.Register(ctx, e, time.Minute); err != nil {
			t.Fatal(err)
		}
		for !inView(p, svc) {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s not in the view after 20 s", svc)
			}
			time.Sleep(200 * time.Microsecond)
		}
		out = append(out, time.Since(start))
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond) // not in step with the polling
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// How soon a registration reaches a peer's view, with the watch and by
// polling at the default discovery interval. With the watch it must
// not wait for polling: its peers poll every 3 s.
func TestViewWatchPropagation(t *testing.T) {
	const samples = 9
	for _, rc := range viewRegistries {
		t.Run(rc.name, func(t *testing.T) {
			if rc.name == "dir" && runtime.GOOS != "linux" {
				t.Skip("the directory registry watches on Linux only")
			}
			var report []string
			for _, mode := range []struct {
				name     string
				watch    bool
				interval time.Duration
			}{{"poll", false, DefaultDiscoveryInterval}, {"watch", true, DefaultDiscoveryInterval}, {"watch-slow-poll", true, 3 * time.Second}} {
				watched, w := rc.make(t)
				if !mode.watch {
					watched = pollOnly{watched}
				}
				opts := []Option{WithRegistry(watched), WithDiscoveryInterval(mode.interval)}
				base := newPeerT(t, "base-"+mode.name, opts...)
				provideEcho(t, base, "base")
				p := newPeerT(t, "client-"+mode.name, opts...)
				useView(t, p, mode.watch)
				ds := propagation(t, p, w, samples)
				report = append(report, fmt.Sprintf("%s: median %v, max %v", mode.name, median(ds).Round(10*time.Microsecond), slices.Max(ds).Round(10*time.Microsecond)))
				if mode.interval > time.Second {
					if m := slices.Max(ds); m >= mode.interval/2 {
						t.Errorf("%s: a registration took %v to reach the view: it waited for polling", mode.name, m)
					}
				}
			}
			t.Logf("registration to view, %d samples: %s", samples, strings.Join(report, "; "))
		})
	}
}

// newPeerT starts a peer closed when the test ends.
func newPeerT(t *testing.T, name string, opts ...Option) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := NewPeer(ctx, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// A registry node outage breaks the watch: the view keeps serving
// calls from the last view, polls meanwhile, and follows a watch of
// the restarted node again.
func TestViewWatchRegistryOutage(t *testing.T) {
	for _, tr := range testTransports {
		t.Run(string(tr), func(t *testing.T) {
			ep := "tcp://127.0.0.1:0"
			if tr == IPC {
				ep = "ipc://" + shortTempDir(t) + "/reg"
			}
			srv := newRegistryServer(t, ep)
			ep = srv.Endpoint()
			cliReg, provReg := newRemoteRegistry(t, ep), newRemoteRegistry(t, ep)
			opts := []Option{WithTransport(tr), WithDiscoveryInterval(50 * time.Millisecond)}
			if tr == IPC {
				opts = append(opts, WithRuntimeDir(shortTempDir(t)))
			}
			prov := newPeerT(t, "prov", append(opts, WithRegistry(provReg))...)
			provideEcho(t, prov, "base")
			cli := newPeerT(t, "cli", append(opts, WithRegistry(cliReg))...)
			useView(t, cli, true)

			srv.Close()
			waitCond(t, 20*time.Second, "the watch to break", func() bool {
				cli.watch.touch()
				return !cli.watch.isLive()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := cli.Call(ctx, "base", []byte(`"during"`)); err != nil {
				t.Fatalf("call during the outage: %v", err)
			}

			newRegistryServer(t, ep)
			waitCond(t, 30*time.Second, "the watch to resume", func() bool {
				cli.watch.touch()
				return cli.watch.isLive()
			})
			cli.watch.mu.Lock()
			pushes := cli.watch.pushes
			cli.watch.mu.Unlock()
			late := newPeerT(t, "late", append(opts, WithRegistry(provReg))...)
			provideEcho(t, late, "late")
			waitCond(t, 10*time.Second, "late in the view", func() bool { cli.watch.touch(); return inView(cli, "late") })
			cli.watch.mu.Lock()
			defer cli.watch.mu.Unlock()
			if cli.watch.pushes == pushes {
				t.Error("the new provider reached the view without a push")
			}
		})
	}
}

// A directory watch that breaks (the directory was removed) falls back
// to polling, and the view follows a new watch once it is back.
func TestViewWatchDirBreaks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the directory registry watches on Linux only")
	}
	dir := t.TempDir()
	reg, err := NewDirRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithRegistry(reg), WithDiscoveryInterval(50 * time.Millisecond)}
	prov := newPeerT(t, "prov", opts...)
	provideEcho(t, prov, "base")
	cli := newPeerT(t, "cli", opts...)
	useView(t, cli, true)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 20*time.Second, "the watch to break", func() bool {
		cli.watch.touch()
		return !cli.watch.isLive()
	})
	// The provider's next renewal recreates the directory; ask for it.
	if err := prov.Advertise("again"); err != nil {
		t.Fatal(err)
	}
	waitCond(t, 30*time.Second, "the watch to resume", func() bool {
		cli.watch.touch()
		return cli.watch.isLive()
	})
	provideEcho(t, prov, "later")
	waitCond(t, 10*time.Second, "later in the view", func() bool { cli.watch.touch(); return inView(cli, "later") })
}

// A subscriber to a registry node's pushes that never reads does not
// hold the node up: other watchers still converge, and what it cannot
// take is dropped and counted.
func TestRegistryPushNeverReadingSubscriber(t *testing.T) {
	for _, tr := range testTransports {
		t.Run(string(tr), func(t *testing.T) {
			ep := "tcp://127.0.0.1:0"
			if tr == IPC {
				ep = "ipc://" + shortTempDir(t) + "/reg"
			}
			backing := NewMemRegistry()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			srv, err := NewRegistryServer(ctx, ep, backing)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			rep, err := newRemoteRegistry(t, srv.Address()).readWatch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			raw := dialZMTP(t, rep.Pub, zmtp.Sub)
			if err := raw.WriteMessage([][]byte{append([]byte{1}, topicFrame(registryChanges)...)}); err != nil {
				t.Fatal(err)
			}
			raw.Flush()
			good := newRemoteRegistry(t, srv.Address())
			ch, err := good.Watch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			waitWatchState(t, ch, 10*time.Second, "zmp-registry")
			probe := 0
			waitCond(t, 20*time.Second, "both subscribers subscribed", func() bool {
				before := srv.Peer().Stats().Topics[registryChanges]
				probe++
				backing.Register(ctx, testEntry(fmt.Sprintf("probe%d", probe)), time.Minute)
				var after TopicStats
				pollFor(2*time.Second, func() bool {
					after = srv.Peer().Stats().Topics[registryChanges]
					return after.Published > before.Published
				})
				pub := after.Published - before.Published
				return pub > 0 && after.Delivered+after.Dropped-before.Delivered-before.Dropped == 2*pub
			})
			for i := 1; i <= probe; i++ {
				backing.Deregister(ctx, fmt.Sprintf("probe%d", i), fmt.Sprintf("probe%d-id", i))
			}
			labels := map[string]string{}
			for i := range 8 {
				labels[fmt.Sprintf("pad%d", i)] = strings.Repeat("x", 250)
			}
			const entries = 300
			for i := range entries {
				e := testEntry(fmt.Sprintf("n%03d", i))
				e.Labels = labels
				if err := backing.Register(ctx, e, time.Minute); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // let each change be pushed
			}
			start := time.Now()
			for {
				nodes, ok := nextState(t, ch, 20*time.Second)
				if !ok {
					t.Fatal("the good watch closed")
				}
				if len(nodes) == entries+1 {
					break
				}
			}
			t.Logf("good watcher converged %v after the last change", time.Since(start).Round(time.Millisecond))
			t.Logf("server stats: %+v; topic %+v", srv.Peer().Stats().Server, srv.Peer().Stats().Topics[registryChanges])
			// The node drops what the silent subscriber cannot take, and
			// then the subscriber itself (it reads nothing).
			waitCond(t, 20*time.Second, "drops for the silent subscriber, or its disconnection", func() bool {
				st := srv.Peer().Stats().Server
				return st.PublishDropped > 0 || st.Subscribers < 2
			})
		})
	}
}

// A client that watches a registry node and never reads its channel
// keeps one state, not the pushes it did not take: its heap stays flat
// while many times that much is pushed.
func TestRemoteWatchNeverReadMemory(t *testing.T) {
	backing := NewMemRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := NewRegistryServer(ctx, "tcp://127.0.0.1:0", backing)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ch, err := newRemoteRegistry(t, srv.Address()).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitWatchState(t, ch, 10*time.Second, "zmp-registry") // then never read again
	labels := map[string]string{}
	for i := range 8 {
		labels[fmt.Sprintf("pad%d", i)] = strings.Repeat("x", 250)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	pushedBefore := srv.Peer().Stats().Topics[registryChanges].Bytes
	const entries = 220
	for i := range entries {
		e := testEntry(fmt.Sprintf("n%03d", i))
		e.Labels = labels
		published := srv.Peer().Stats().Topics[registryChanges].Published
		if err := backing.Register(ctx, e, time.Minute); err != nil {
			t.Fatal(err)
		}
		pollFor(time.Second, func() bool { // each change pushed on its own
			return srv.Peer().Stats().Topics[registryChanges].Published > published
		})
	}
	time.Sleep(500 * time.Millisecond) // let the last pushes arrive
	pushed := srv.Peer().Stats().Topics[registryChanges].Bytes - pushedBefore
	after := heap()
	growth := int64(after) - int64(before)
	t.Logf("pushed %d MiB to a client that never reads; heap %d KiB -> %d KiB (growth %d KiB); channel holds %d", pushed>>20, before>>10, after>>10, growth>>10, len(ch))
	const budget = 8 << 20
	if pushed < 4*budget {
		t.Fatalf("only %d MiB pushed: the test proves nothing", pushed>>20)
	}
	if growth > budget {
		t.Errorf("heap grew %d MiB, budget %d MiB", growth>>20, budget>>20)
	}
	if len(ch) > 1 {
		t.Errorf("channel holds %d states", len(ch))
	}
}
