package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// gate is a handler that holds every request until the test lets it
// go, counting the handlers running at once.
type gate struct {
	release  chan struct{} // one token lets one handler return
	running  atomic.Int64
	entered  atomic.Int64
	peak     atomic.Int64
	canceled atomic.Int64 // handlers that found their context cancelled
	onEnter  func(running int64, req *Request)
	obeyCtx  bool // return when the context ends (otherwise only on release)
}

func newGate() *gate { return &gate{release: make(chan struct{}, 1024)} }

func (g *gate) serve(ctx context.Context, req *Request) ([]byte, error) {
	n := g.running.Add(1)
	g.entered.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	if g.onEnter != nil {
		g.onEnter(n, req)
	}
	defer g.running.Add(-1)
	if g.obeyCtx {
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	} else {
		<-g.release
	}
	if ctx.Err() != nil {
		g.canceled.Add(1)
	}
	return req.Body, nil
}

// let releases n held handlers (present or future).
func (g *gate) let(n int) {
	for range n {
		g.release <- struct{}{}
	}
}

// callAsync calls service from cli on its own goroutine; its result
// arrives on the returned channel.
func callAsync(ctx context.Context, cli *Peer, service string, body []byte) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := cli.Call(ctx, service, body)
		ch <- err
	}()
	return ch
}

// svcStats returns the stats of service on p.
func svcStats(p *Peer, service string) ServiceStats { return p.Stats().Services[service] }

func mustLimit(t *testing.T, p *Peer, service string, l ServiceLimits) {
	t.Helper()
	if err := p.SetServiceLimits(service, l); err != nil {
		t.Fatalf("SetServiceLimits(%q, %+v): %v", service, l, err)
	}
}

// A service saturated in its own pool of one handler delays neither a
// service of the shared pool nor another limited service, and zmp.ping
// answers while every pool is saturated.
func TestServiceLimitsIsolate(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("srv", WithConcurrency(2, 16))
		slow, shared := newGate(), newGate()
		t.Cleanup(func() { slow.let(64); shared.let(64) })
		mustLimit(t, srv, "slow", ServiceLimits{Concurrency: 1, Queue: 8})
		mustHandle(t, srv, "slow", slow.serve)
		mustHandle(t, srv, "shared", shared.serve)
		mustHandle(t, srv, "fast", func(ctx context.Context, r *Request) ([]byte, error) { return r.Body, nil })
		mustHandle(t, srv, "other", func(ctx context.Context, r *Request) ([]byte, error) { return r.Body, nil })
		mustLimit(t, srv, "other", ServiceLimits{Concurrency: 1, Queue: 1})
		cli := e.peer("cli")
		ctx := e.ctx(30 * time.Second)

		for range 5 {
			callAsync(ctx, cli, "slow", nil)
		}
		waitCond(t, 10*time.Second, "slow saturated", func() bool {
			st := svcStats(srv, "slow")
			return st.Running == 1 && st.Queued == 4
		})
		for _, svc := range []string{"fast", "other"} {
			if _, err := cli.Call(e.ctx(5*time.Second), svc, []byte("x")); err != nil {
				t.Fatalf("%s while slow is saturated: %v", svc, err)
			}
		}
		// Saturate the shared pool too: both handlers busy, two waiting.
		for range 4 {
			callAsync(ctx, cli, "shared", nil)
		}
		if !pollFor(10*time.Second, func() bool { return shared.running.Load() == 2 && srv.Stats().Server.Queued == 4+2 }) {
			t.Fatalf("shared pool not saturated: %d running, stats %+v %+v", shared.running.Load(), srv.Stats().Server, srv.Stats().Services)
		}
		if _, err := cli.Call(e.ctx(5*time.Second), IntrospectPing, nil, OnNode("srv")); err != nil {
			t.Fatalf("zmp.ping with every pool saturated: %v", err)
		}
		if _, err := cli.Call(e.ctx(5*time.Second), "other", nil); err != nil {
			t.Fatalf("other with every pool saturated: %v", err)
		}
		if slow.peak.Load() != 1 {
			t.Fatalf("slow ran %d handlers at once, limit 1", slow.peak.Load())
		}
	})
}

// Inside a service's pool, connections are served in turn: one caller's
// flood delays another caller of the same service by one request, not
// by the whole flood.
func TestServiceLimitsFairTurns(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	g := newGate()
	var mu sync.Mutex
	var order []string
	g.onEnter = func(_ int64, r *Request) {
		mu.Lock()
		order = append(order, string(r.Body))
		mu.Unlock()
	}
	t.Cleanup(func() { g.let(64) })
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 1, Queue: 64})
	mustHandle(t, srv, "svc", g.serve)
	flooder, other := e.peer("flooder"), e.peer("other")
	ctx := e.ctx(30 * time.Second)

	const flood = 20
	var results []<-chan error
	for range flood {
		results = append(results, callAsync(ctx, flooder, "svc", []byte("flood")))
	}
	waitCond(t, 10*time.Second, "the flood queued", func() bool { return svcStats(srv, "svc").Queued == flood-1 })
	results = append(results, callAsync(ctx, other, "svc", []byte("other")))
	waitCond(t, 10*time.Second, "the other caller queued", func() bool { return svcStats(srv, "svc").Queued == flood })
	g.let(flood + 1)
	for _, ch := range results {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	pos := -1
	for i, who := range order {
		if who == "other" {
			pos = i
		}
	}
	// The flood's first request was running and its second was next in
	// line when the other caller's arrived.
	if pos < 0 || pos > 2 {
		t.Fatalf("the other caller's request ran at position %d of %d: %v", pos, len(order), order)
	}
}

// Growing a service's limit raises its parallelism at once; shrinking
// it cancels no handler, and once the surplus drains no more than the
// new limit run.
func TestServiceLimitsGrowShrink(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	g := newGate()
	g.obeyCtx = true
	var shrunk atomic.Bool
	var overLimit atomic.Int64
	g.onEnter = func(n int64, _ *Request) {
		if shrunk.Load() && n > 2 {
			overLimit.Add(1)
		}
	}
	t.Cleanup(func() { g.let(64) })
	mustHandle(t, srv, "svc", g.serve)
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 1, Queue: 100, ConnConcurrency: 3})
	cli := e.peer("cli")
	ctx := e.ctx(60 * time.Second)
	const calls = 12
	var results []<-chan error
	for range calls {
		results = append(results, callAsync(ctx, cli, "svc", nil))
	}
	waitCond(t, 10*time.Second, "one running, the rest queued", func() bool {
		st := svcStats(srv, "svc")
		// The pool counts a request running once a worker takes it, a
		// moment before its handler enters the gate.
		return st.Running == 1 && st.Queued == calls-1 && g.running.Load() == 1
	})
	if g.peak.Load() != 1 {
		t.Fatalf("%d ran at once with a limit of 1", g.peak.Load())
	}
	// More handlers: the connection in line gets them.
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 3, Queue: 100, ConnConcurrency: 3})
	waitCond(t, 10*time.Second, "three running after growth", func() bool { return g.running.Load() == 3 })
	// A larger share: the connection held at its share gets more.
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 4, Queue: 100, ConnConcurrency: 4})
	waitCond(t, 10*time.Second, "four running after the share grew", func() bool { return g.running.Load() == 4 })

	shrunk.Store(true)
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 2, Queue: 100, ConnConcurrency: 4})
	if got, ok := srv.ServiceLimits("svc"); !ok || got != (ServiceLimits{Concurrency: 2, Queue: 100, ConnConcurrency: 4}) {
		t.Fatalf("ServiceLimits = %+v, %v", got, ok)
	}
	if n := g.running.Load(); n != 4 {
		t.Fatalf("%d running just after the shrink, want the 4 to go on", n)
	}
	for range calls { // one at a time, so that the pool has a chance to overshoot
		entered := g.entered.Load()
		g.let(1)
		waitCond(t, 10*time.Second, "a handler to return", func() bool {
			return g.running.Load() < 4 || g.entered.Load() > entered
		})
	}
	for _, ch := range results {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if n := overLimit.Load(); n > 0 {
		t.Fatalf("%d handlers started with more than 2 running after the shrink", n)
	}
	if n := g.canceled.Load(); n > 0 {
		t.Fatalf("%d handlers cancelled by the shrink", n)
	}
	if g.entered.Load() != calls {
		t.Fatalf("%d handlers ran for %d calls", g.entered.Load(), calls)
	}
}

// A request beyond the service's queue bound is refused with
// CodeOverloaded and counted; a smaller queue keeps the requests that
// already wait and admits no new one until they are under it.
func TestServiceLimitsQueueRefusal(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	g := newGate()
	t.Cleanup(func() { g.let(64) })
	lim := ServiceLimits{Concurrency: 1, Queue: 3, ConnQueue: 3}
	mustLimit(t, srv, "svc", lim)
	mustHandle(t, srv, "svc", g.serve)
	cli := e.peer("cli")
	ctx := e.ctx(30 * time.Second)
	var held []<-chan error
	for range 4 {
		held = append(held, callAsync(ctx, cli, "svc", nil))
	}
	waitCond(t, 10*time.Second, "one running, three waiting", func() bool {
		st := svcStats(srv, "svc")
		return st.Running == 1 && st.Queued == 3
	})
	_, err := cli.Call(ctx, "svc", nil)
	remoteErr(t, err, CodeOverloaded)

	// Shrink the queue below what waits: the three stay.
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 1, Queue: 1, ConnQueue: 1})
	if st := svcStats(srv, "svc"); st.Queued != 3 {
		t.Fatalf("%d waiting after the shrink, want the 3 kept", st.Queued)
	}
	_, err = cli.Call(ctx, "svc", nil)
	remoteErr(t, err, CodeOverloaded)

	st, err := Call[Stats](ctx, cli, IntrospectStats, nil, OnNode("srv"))
	if err != nil {
		t.Fatal(err)
	}
	want := ServiceLimits{Concurrency: 1, Queue: 1, ConnQueue: 1}
	ss := st.Services["svc"]
	if ss.Refused != 2 || st.Server.Overloaded != 2 || ss.Queued != 3 || ss.Running != 1 || ss.Limits == nil || *ss.Limits != want {
		t.Fatalf("zmp.stats: service %+v (limits %+v), server overloaded %d", ss, ss.Limits, st.Server.Overloaded)
	}
	g.let(4)
	for _, ch := range held {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if st := svcStats(srv, "svc"); st.Queued != 0 || st.Running != 0 || st.Calls != 4 {
		t.Fatalf("after the release: %+v", st)
	}
	g.let(1)
	if _, err := cli.Call(ctx, "svc", nil); err != nil {
		t.Fatalf("a call under the bound again: %v", err)
	}
}

// A limit of zero queue refuses a request that finds every handler
// busy, and none that a free handler can take.
func TestServiceLimitsNoQueue(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	g := newGate()
	t.Cleanup(func() { g.let(64) })
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 2})
	mustHandle(t, srv, "svc", g.serve)
	cli := e.peer("cli")
	ctx := e.ctx(30 * time.Second)
	held := []<-chan error{callAsync(ctx, cli, "svc", nil), callAsync(ctx, cli, "svc", nil)}
	waitCond(t, 10*time.Second, "two running", func() bool { return g.running.Load() == 2 })
	_, err := cli.Call(ctx, "svc", nil)
	remoteErr(t, err, CodeOverloaded)
	g.let(2)
	for _, ch := range held {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if st := svcStats(srv, "svc"); st.Refused != 1 || st.Calls != 2 {
		t.Fatalf("%+v, want 2 calls and 1 refusal", st)
	}
}

// A caller's connection closing drops its waiting requests from the
// shared pool and from every service pool, while their handlers are
// still busy.
func TestServiceLimitsConnectionCloseDrops(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("srv", WithConcurrency(1, 16))
		a, b := newGate(), newGate() // deaf to their contexts: their workers stay busy
		t.Cleanup(func() { a.let(64); b.let(64) })
		mustLimit(t, srv, "a", ServiceLimits{Concurrency: 1, Queue: 16})
		mustLimit(t, srv, "b", ServiceLimits{Concurrency: 1, Queue: 16})
		mustHandle(t, srv, "a", a.serve)
		mustHandle(t, srv, "b", b.serve)
		sh := newGate()
		t.Cleanup(func() { sh.let(64) })
		mustHandle(t, srv, "shared", sh.serve)
		cli, err := NewPeer(e.ctx(10*time.Second), "cli", e.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx := e.ctx(30 * time.Second)
		for _, svc := range []string{"a", "b", "shared"} {
			for range 4 {
				callAsync(ctx, cli, svc, nil)
			}
		}
		waitCond(t, 10*time.Second, "three waiting in each pool", func() bool {
			st := srv.Stats()
			return st.Services["a"].Queued == 3 && st.Services["b"].Queued == 3 && st.Server.Queued == 9
		})
		cli.Close()
		waitCond(t, 10*time.Second, "the closed connection's requests dropped", func() bool {
			st := srv.Stats()
			return st.Services["a"].Queued == 0 && st.Services["b"].Queued == 0 && st.Server.Queued == 0
		})
		if a.running.Load() != 1 || b.running.Load() != 1 || sh.running.Load() != 1 {
			t.Fatal("a handler returned before its release: the drop is not what emptied the queues")
		}
		a.let(1)
		b.let(1)
		sh.let(1)
		waitCond(t, 10*time.Second, "every handler returned", func() bool {
			return a.running.Load()+b.running.Load()+sh.running.Load() == 0 && srv.srv.active.Load() == 0
		})
		if n := a.entered.Load() + b.entered.Load() + sh.entered.Load(); n != 3 {
			t.Fatalf("%d handlers ran, want the 3 that were running", n)
		}
	})
}

// Returning a service to the shared pool sends its new requests there
// at once, while those waiting in its own pool still run.
func TestServiceLimitsBackToShared(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	g := newGate()
	t.Cleanup(func() { g.let(64) })
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 1, Queue: 8})
	mustHandle(t, srv, "svc", g.serve)
	cli := e.peer("cli")
	ctx := e.ctx(30 * time.Second)
	var results []<-chan error
	for range 3 {
		results = append(results, callAsync(ctx, cli, "svc", nil))
	}
	waitCond(t, 10*time.Second, "one running, two waiting", func() bool { return svcStats(srv, "svc").Queued == 2 })
	mustLimit(t, srv, "svc", ServiceLimits{})
	if _, ok := srv.ServiceLimits("svc"); ok {
		t.Fatal("limits reported after returning to the shared pool")
	}
	if st := svcStats(srv, "svc"); st.Limits != nil {
		t.Fatalf("stats show limits %+v in the shared pool", *st.Limits)
	}
	for range 3 {
		results = append(results, callAsync(ctx, cli, "svc", nil))
	}
	waitCond(t, 10*time.Second, "the new requests running in the shared pool", func() bool { return g.running.Load() == 4 })
	g.let(6)
	for _, ch := range results {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if g.entered.Load() != 6 {
		t.Fatalf("%d handlers ran, want 6", g.entered.Load())
	}
	// Limits again: the same pool is fed again.
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 1, Queue: 8})
	g.let(1)
	if _, err := cli.Call(ctx, "svc", nil); err != nil {
		t.Fatal(err)
	}
	if st := svcStats(srv, "svc"); st.Limits == nil || st.Limits.Concurrency != 1 {
		t.Fatalf("stats after limiting again: %+v", st)
	}
}

// Limits belong to the name: set before Handle, kept across Withdraw;
// bad limits and reserved names are refused, and a closed peer says so.
func TestServiceLimitsAPI(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	for _, bad := range []ServiceLimits{{Concurrency: -1}, {Queue: 4}, {Concurrency: 1, Queue: -1}, {Concurrency: 1, ConnConcurrency: -1}, {ConnQueue: 2}} {
		if err := srv.SetServiceLimits("svc", bad); err == nil {
			t.Errorf("SetServiceLimits(%+v) accepted", bad)
		}
	}
	if err := srv.SetServiceLimits(IntrospectPing, ServiceLimits{Concurrency: 1}); !errors.Is(err, ErrBadName) {
		t.Errorf("limits on %s: %v, want ErrBadName", IntrospectPing, err)
	}
	if err := srv.SetServiceLimits("", ServiceLimits{Concurrency: 1}); !errors.Is(err, ErrBadName) {
		t.Errorf("limits on an empty name: %v, want ErrBadName", err)
	}
	if _, ok := srv.ServiceLimits("svc"); ok {
		t.Fatal("limits reported before any were set")
	}
	lim := ServiceLimits{Concurrency: 3, Queue: 5}
	mustLimit(t, srv, "svc", lim)
	mustHandle(t, srv, "svc", func(ctx context.Context, r *Request) ([]byte, error) { return r.Body, nil })
	if err := srv.Withdraw("svc"); err != nil {
		t.Fatal(err)
	}
	mustHandle(t, srv, "svc", func(ctx context.Context, r *Request) ([]byte, error) { return r.Body, nil })
	if got, ok := srv.ServiceLimits("svc"); !ok || got != lim {
		t.Fatalf("after Withdraw and Handle: %+v, %v", got, ok)
	}
	if st := svcStats(srv, "svc"); st.Limits == nil || *st.Limits != lim {
		t.Fatalf("stats: %+v", st)
	}
	// The JSON of a service without limits is unchanged but for the
	// counters added.
	mustHandle(t, srv, "plain", func(ctx context.Context, r *Request) ([]byte, error) { return nil, nil })
	js, _ := json.Marshal(svcStats(srv, "plain"))
	if string(js) != `{"calls":0,"errors":0,"bytes_in":0,"bytes_out":0,"refused":0,"queued":0,"running":0}` {
		t.Fatalf("ServiceStats JSON %s", js)
	}
	srv.Close()
	if err := srv.SetServiceLimits("svc", lim); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// SetServiceLimits races with calls from two callers, with Withdraw and
// Handle, and with itself; every call ends with a reply, a refusal or
// an unknown service, and afterwards the service serves normally.
func TestServiceLimitsRace(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	handler := func(ctx context.Context, r *Request) ([]byte, error) {
		time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		return r.Body, nil
	}
	mustHandle(t, srv, "svc", handler)
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 2, Queue: 4})
	callers := []*Peer{e.peer("c1"), e.peer("c2")}
	ctx := e.ctx(60 * time.Second)
	for _, c := range callers { // both know the service before the churn
		if _, err := c.Call(ctx, "svc", nil); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	churn := func(f func(i int) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for k := range 2 {
		churn(func(i int) error {
			l := ServiceLimits{Concurrency: 1 + rand.IntN(8), Queue: rand.IntN(16)}
			if (i+k)%7 == 0 {
				l = ServiceLimits{}
			}
			if err := srv.SetServiceLimits("svc", l); err != nil {
				return err
			}
			srv.ServiceLimits("svc")
			srv.Stats()
			time.Sleep(time.Millisecond)
			return nil
		})
	}
	churn(func(i int) error {
		if i%2 == 0 {
			if err := srv.Withdraw("svc"); err != nil {
				return err
			}
		} else if err := srv.HandleFunc("svc", handler); err != nil {
			return err
		}
		time.Sleep(3 * time.Millisecond)
		return nil
	})
	var replies, refused, unknown atomic.Int64
	for _, c := range callers {
		for range 4 {
			churn(func(i int) error {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				_, err := c.Call(cctx, "svc", []byte("x"), OnNode("srv"))
				var re *RemoteError
				switch {
				case err == nil:
					replies.Add(1)
				case errors.As(err, &re) && re.Code == CodeOverloaded:
					refused.Add(1)
				case errors.Is(err, ErrUnknownService) || errors.Is(err, ErrNoProvider): // withdrawn
					unknown.Add(1)
				default:
					return fmt.Errorf("call: %w", err)
				}
				return nil
			})
		}
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d replies, %d refused, %d unknown", replies.Load(), refused.Load(), unknown.Load())
	if replies.Load() == 0 {
		t.Fatal("no call succeeded during the churn")
	}
	mustHandle(t, srv, "svc", handler)
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 2, Queue: 4})
	for _, c := range callers {
		if _, err := c.Call(ctx, "svc", nil, OnNode("srv")); err != nil {
			t.Fatalf("after the churn: %v", err)
		}
	}
	waitCond(t, 10*time.Second, "every request answered", func() bool { return srv.srv.active.Load() == 0 })
}

// A service pool's workers follow its limit: idle surplus leaves at a
// shrink, and every worker leaves once the pool is detached and empty.
func TestPoolResizeWorkers(t *testing.T) {
	release := make(chan struct{})
	var running sync.WaitGroup
	p := newPool(poolLimits{}, func(job) { running.Done(); <-release })
	p.conns = map[*connQueue]struct{}{}
	p.detached = true
	defer p.close()
	live := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.live
	}
	spec := ServiceLimits{Concurrency: 4, Queue: 8, ConnConcurrency: 4}
	if !p.resize(spec, spec.pool(1<<20)) {
		t.Fatal("a new pool was not detached")
	}
	if live() != 0 {
		t.Fatal("workers started with nothing to run")
	}
	cq := &connQueue{}
	p.attach(cq)
	running.Add(4)
	for i := range 4 {
		if !p.submit(cq, poolJob(cq, uint64(i), 1)) {
			t.Fatal("refused")
		}
	}
	running.Wait()
	if n := live(); n != 4 {
		t.Fatalf("%d workers for 4 requests", n)
	}
	for range 4 {
		release <- struct{}{}
	}
	waitCond(t, 5*time.Second, "the workers idle", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.running == 0 && p.idle == 4
	})
	spec.Concurrency = 1
	p.resize(spec, spec.pool(1<<20))
	waitCond(t, 5*time.Second, "idle surplus gone", func() bool { return live() == 1 })
	p.detach()
	waitCond(t, 5*time.Second, "every worker gone from the detached pool", func() bool { return live() == 0 })
	// A late request to a detached pool still runs, and its worker leaves.
	running.Add(1)
	p.submit(cq, poolJob(cq, 9, 1))
	running.Wait()
	release <- struct{}{}
	waitCond(t, 5*time.Second, "the late request's worker gone", func() bool { return live() == 0 })
}

// What a feedback loop pays to move a service's limit (the pool's
// connections are reconsidered only when their share grows).
func BenchmarkSetServiceLimits(b *testing.B) {
	reg := NewMemRegistry()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := NewPeer(ctx, "srv", WithRegistry(reg))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.HandleFunc("svc", func(ctx context.Context, r *Request) ([]byte, error) { return r.Body, nil }); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := srv.SetServiceLimits("svc", ServiceLimits{Concurrency: 8 + i%8, Queue: 16}); err != nil {
			b.Fatal(err)
		}
	}
}

// A caller that floods a limited service and never reads its replies
// is held back inside the service's pool: once its replies back up, its
// waiting requests stay waiting instead of making more replies, while
// another caller of the same service is served; its close drops them.
func TestServiceLimitsNeverReader(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv", WithQueueBytes(1<<20), WithWriteTimeout(time.Minute))
	reply := make([]byte, 1<<20)
	mustLimit(t, srv, "big", ServiceLimits{Concurrency: 4, Queue: 128})
	mustHandle(t, srv, "big", func(context.Context, *Request) ([]byte, error) { return reply, nil })
	raw := dialZMTP(t, srv.Info().RPC, zmtp.Dealer)
	for i := range 96 { // 96 MiB of replies: far more than socket buffers hold
		if err := raw.WriteMessage(requestFrames(uint64(i+1), 60_000, "big", nil, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	held := func() bool {
		st := svcStats(srv, "big")
		return st.Queued > 0 && st.Running == 0
	}
	waitCond(t, 20*time.Second, "the never-reader's requests held back", held)
	cli := e.peer("cli")
	ctx := e.ctx(30 * time.Second)
	for range 10 {
		if _, err := cli.Call(ctx, "big", nil); err != nil {
			t.Fatalf("a reading caller of the service: %v", err)
		}
	}
	if !held() {
		t.Fatalf("the never-reader's requests ran meanwhile: %+v", svcStats(srv, "big"))
	}
	raw.Close()
	waitCond(t, 10*time.Second, "the never-reader's requests dropped", func() bool {
		return svcStats(srv, "big").Queued == 0 && srv.srv.active.Load() == 0
	})
}

// A caller that sends its next request as soon as it has the reply
// finds the handler's slot free: a pool with no queue refuses none of
// its calls.
func TestServiceLimitsSequentialNoQueue(t *testing.T) {
	e := newTenv(t, TCP)
	srv := e.peer("srv")
	mustLimit(t, srv, "svc", ServiceLimits{Concurrency: 1})
	mustHandle(t, srv, "svc", func(ctx context.Context, r *Request) ([]byte, error) { return r.Body, nil })
	cli := e.peer("cli")
	ctx := e.ctx(60 * time.Second)
	for i := range 2000 {
		if _, err := cli.Call(ctx, "svc", nil); err != nil {
			t.Fatalf("sequential call %d: %v", i, err)
		}
	}
}

// The per-connection shares derived from a service's limits.
func TestServiceLimitsShares(t *testing.T) {
	for _, c := range []struct {
		in                 ServiceLimits
		connRun, connQueue int
	}{
		{ServiceLimits{Concurrency: 1}, 1, 0},
		{ServiceLimits{Concurrency: 1, Queue: 1}, 1, 1},
		{ServiceLimits{Concurrency: 4, Queue: 10}, 3, 5},
		{ServiceLimits{Concurrency: 64, Queue: 1024}, 48, 512},
		{ServiceLimits{Concurrency: 8, Queue: 10, ConnConcurrency: 8, ConnQueue: 10}, 8, 10},
	} {
		l := c.in.pool(100)
		if l.workers != c.in.Concurrency || l.queue != c.in.Queue || l.connRun != c.connRun || l.connQueue != c.connQueue || l.connBytes != 100 || l.queueBytes != 800 {
			t.Errorf("%+v: %+v, want connRun %d connQueue %d", c.in, l, c.connRun, c.connQueue)
		}
	}
}

// BenchmarkLimitedCallsInFlight64 is BenchmarkCallsInFlight64 against a
// service with a pool of its own as large as the shared one: the cost
// of a service pool on the request path.
func BenchmarkLimitedCallsInFlight64(b *testing.B) {
	srv, cli := benchPeers(b, TCP)
	if err := srv.SetServiceLimits("echo", ServiceLimits{Concurrency: DefaultConcurrency, Queue: DefaultRequestQueue}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	msg := make([]byte, 64)
	var wg sync.WaitGroup
	var calls atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for range 64 {
		wg.Go(func() {
			for calls.Add(1) <= int64(b.N) {
				if _, err := cli.Call(ctx, "echo", msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	if st := srv.Stats().Services["echo"]; st.Limits == nil {
		b.Fatal("the service ran in the shared pool")
	}
}
