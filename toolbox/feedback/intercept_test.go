package feedback

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// fixedLimit is an AIMD limiter pinned to n by its bounds: a real
// Limiter whose limit cannot move, for tests about admission.
func fixedLimit(t *testing.T, n int) Limiter {
	t.Helper()
	l, err := NewAIMD(WithLimitBounds(n, n), WithInitialLimit(n))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ienv is a test's zmp system: one registry, a provider and callers.
type ienv struct {
	t   *testing.T
	reg core.Registry
}

func newIenv(t *testing.T) *ienv {
	return &ienv{t: t, reg: coretest.NewRegistry(t)}
}

// peer makes a peer on 127.0.0.1:0 with a big handler pool, so that
// the limiter, not the pool, is what sheds.
func (e *ienv) peer(name string, opts ...core.Option) *core.Peer {
	e.t.Helper()
	base := []core.Option{core.WithRegistry(e.reg), core.WithConcurrency(128, 512),
		core.WithConnectionShare(128, 512), core.WithDiscoveryInterval(25 * time.Millisecond)}
	return coretest.NewPeer(e.t, name, append(base, opts...)...)
}

// serve provides service on p with f and waits until it is listed.
func (e *ienv) serve(p *core.Peer, service string, f func(ctx context.Context, r *core.Request) ([]byte, error)) {
	e.t.Helper()
	if err := p.HandleFunc(service, f); err != nil {
		e.t.Fatal(err)
	}
	coretest.WaitProviders(e.t, e.reg, service, 1, 10*time.Second)
}

// call calls service from c with the priority class (none if "").
func call(ctx context.Context, c *core.Peer, service, class string) error {
	var opts []core.CallOption
	if class != "" {
		opts = append(opts, core.WithMetadata(core.Metadata{core.MetaPriority: class}))
	}
	_, err := c.Call(ctx, service, nil, opts...)
	return err
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// gateHandler blocks each call until the gate is opened (or the call's
// context ends) and counts the calls that started.
type gateHandler struct {
	open    chan struct{}
	once    sync.Once
	started atomic.Int64
}

func newGate() *gateHandler { return &gateHandler{open: make(chan struct{})} }

func (g *gateHandler) serve(ctx context.Context, r *core.Request) ([]byte, error) {
	g.started.Add(1)
	select {
	case <-g.open:
		return []byte("ok"), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gateHandler) release() { g.once.Do(func() { close(g.open) }) }

// A limit of 4 with handlers that hold their slot: of 20 calls at
// once, 4 run and 16 are shed at once with CodeOverloaded; once the
// handlers finish, in flight is back to 0 and the next call is served.
func TestInterceptServerShedsBeyondLimit(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	g := newGate()
	defer g.release()
	e.serve(srv, "work", g.serve)
	cli := e.peer("cli")
	ctx := timeout(t, 30*time.Second)

	errs := make(chan error, 20)
	for range 20 {
		go func() { errs <- call(ctx, cli, "work", "") }()
	}
	var shed int
	for range 16 { // the shed ones answer while the others are held
		err := <-errs
		var re *core.RemoteError
		if !errors.As(err, &re) || re.Code != core.CodeOverloaded || !errors.Is(err, core.ErrOverloaded) {
			t.Fatalf("call beyond the limit: %v, want CodeOverloaded", err)
		}
		shed++
	}
	if st := sl.Stats(); st.InFlight != 4 || st.Shed != 16 || st.Admitted != 4 || st.Limit != 4 {
		t.Fatalf("with 4 held: %+v", st)
	}
	if n := g.started.Load(); n != 4 {
		t.Fatalf("%d handlers started, want 4", n)
	}
	g.release()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("admitted call: %v", err)
		}
	}
	coretest.WaitFor(t, 10*time.Second, "in flight back to 0", func() bool { return sl.Stats().InFlight == 0 })
	if err := call(ctx, cli, "work", ""); err != nil {
		t.Fatalf("call after the flood: %v", err)
	}
}

// floodUntil runs n goroutines calling service from c as fast as they
// can, with class, until stop is closed; it returns a function that
// waits for them and gives the numbers of calls served and shed.
func floodUntil(ctx context.Context, c *core.Peer, service, class string, n int, stop <-chan struct{}) func() (ok, shed, other int64) {
	var wg sync.WaitGroup
	var okN, shedN, otherN atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch err := call(ctx, c, service, class); {
				case err == nil:
					okN.Add(1)
				case errors.Is(err, core.ErrOverloaded):
					shedN.Add(1)
				default:
					otherN.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64, int64) {
		wg.Wait()
		return okN.Load(), shedN.Load(), otherN.Load()
	}
}

// sleepHandler answers after d of simulated work, or when the call's
// context ends.
func sleepHandler(d time.Duration) func(ctx context.Context, r *core.Request) ([]byte, error) {
	return func(ctx context.Context, r *core.Request) ([]byte, error) {
		select {
		case <-time.After(d):
			return []byte("done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// 16 flooding callers on their own peer are shed while a well-behaved
// caller, one call at a time with a short pause when shed, gets every
// one of its calls served; the node answers zmp.ping throughout.
func TestInterceptServerFloodWellBehavedServed(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	e.serve(srv, "work", sleepHandler(2*time.Millisecond))
	ctx := timeout(t, 60*time.Second)
	stop := make(chan struct{})
	wait := floodUntil(ctx, e.peer("flood"), "work", "", 16, stop)
	defer func() {
		close(stop)
		wait()
	}()
	coretest.WaitFor(t, 10*time.Second, "the flood to be shed", func() bool { return sl.Stats().Shed > 0 })

	good := e.peer("good")
	for i := range 20 {
		for {
			err := call(ctx, good, "work", "")
			if err == nil {
				break
			}
			if !errors.Is(err, core.ErrOverloaded) {
				t.Fatalf("well-behaved call %d: %v", i, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if _, err := good.Call(ctx, core.IntrospectPing, nil, core.OnNode(srv.Name())); err != nil {
		t.Fatalf("ping during the flood: %v", err)
	}
	close(stop)
	ok, shed, other := wait()
	stop = make(chan struct{}) // for the deferred close
	if shed == 0 || ok == 0 || other != 0 {
		t.Fatalf("flood: %d served, %d shed, %d other errors", ok, shed, other)
	}
	coretest.WaitFor(t, 10*time.Second, "in flight back to 0", func() bool { return sl.Stats().InFlight == 0 })
	if st := sl.Stats(); st.Admitted != uint64(ok+20) || st.Shed < uint64(shed) {
		t.Fatalf("stats %+v after %d+20 served, %d shed", st, ok, shed)
	}
}

// Both limiters' counters appear in the peer's zmp.stats, as another
// process reads them, until removed.
func TestInterceptStatsInZmpStats(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 3), WithPartitions(Partition{"interactive", 0.5}, Partition{"batch", 0.5}))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	removeSrv, err := sl.AddStatsTo(srv, "feedback.limiter")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sl.AddStatsTo(srv, "feedback.limiter"); !errors.Is(err, core.ErrStatsTaken) {
		t.Fatalf("second AddStatsTo under the same name: %v", err)
	}
	e.serve(srv, "work", sleepHandler(0))
	cl := newCallLimiter(t, fixedFactory(t, 5))
	cli := e.peer("cli", core.WithCallInterceptors(cl.Interceptor()))
	if _, err := cl.AddStatsTo(cli, "feedback.calls"); err != nil {
		t.Fatal(err)
	}
	ctx := timeout(t, 30*time.Second)
	for _, class := range []string{"interactive", "batch", "other"} {
		if err := call(ctx, cli, "work", class); err != nil {
			t.Fatal(err)
		}
	}
	var ss struct {
		Extra struct {
			Limiter ServerLimiterStats `json:"feedback.limiter"`
		} `json:"extra"`
	}
	body, err := cli.Call(ctx, core.IntrospectStats, nil, core.OnNode(srv.Name()))
	if err == nil {
		err = json.Unmarshal(body, &ss)
	}
	if err != nil {
		t.Fatal(err)
	}
	got := ss.Extra.Limiter
	if got.Limit != 3 || got.Admitted != 3 || len(got.Partitions) != 2 ||
		got.Partitions[0].Admitted != 1 || got.Partitions[1].Admitted != 2 || got.Partitions[0].Guaranteed != 1 {
		t.Fatalf("zmp.stats of the server limiter: %+v", got)
	}
	if calls := cli.Stats().Extra["feedback.calls"]; !strings.Contains(string(calls), `"service":"work"`) ||
		!strings.Contains(string(calls), `"admitted":3`) || strings.Contains(string(calls), "zmp.") {
		t.Fatalf("zmp.stats of the call limiter: %s", calls)
	}
	removeSrv()
	if _, ok := srv.Stats().Extra["feedback.limiter"]; ok {
		t.Fatal("stats still there after remove")
	}
}
