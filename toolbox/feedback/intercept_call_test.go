package feedback

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

func fixedFactory(t *testing.T, n int) func(string) (Limiter, error) {
	return func(string) (Limiter, error) { return fixedLimit(t, n), nil }
}

func newCallLimiter(t *testing.T, f func(string) (Limiter, error), opts ...CallLimiterOption) *CallLimiter {
	t.Helper()
	cl, err := NewCallLimiter(f, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// statsOf returns the stats of service's limit.
func statsOf(cl *CallLimiter, service string) CallLimitStats {
	for _, s := range cl.Stats() {
		if s.Service == service {
			return s
		}
	}
	return CallLimitStats{Service: "missing " + service}
}

// With a limit of 2 calls in flight per service, a third call to the
// same service fails at once with ErrLimited and reaches no provider,
// while a call to another service has a limit of its own.
func TestInterceptCallFailsFastPerService(t *testing.T) {
	e := newIenv(t)
	srv := e.peer("srv")
	g := newGate()
	defer g.release()
	e.serve(srv, "a", g.serve)
	e.serve(srv, "b", g.serve)
	cl := newCallLimiter(t, fixedFactory(t, 2))
	cli := e.peer("cli", core.WithCallInterceptors(cl.Interceptor()))
	ctx := timeout(t, 30*time.Second)

	errs := make(chan error, 4)
	for _, svc := range []string{"a", "a", "b", "b"} {
		go func() { errs <- call(ctx, cli, svc, "") }()
	}
	coretest.WaitFor(t, 10*time.Second, "4 calls held", func() bool { return g.started.Load() == 4 })
	start := time.Now()
	if err := call(ctx, cli, "a", ""); !errors.Is(err, ErrLimited) {
		t.Fatalf("third call to a: %v, want ErrLimited", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ErrLimited took %v", d)
	}
	if n := g.started.Load(); n != 4 {
		t.Fatalf("%d handlers started, want 4: the limited call reached the provider", n)
	}
	g.release()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a, b := statsOf(cl, "a"), statsOf(cl, "b")
	if a.InFlight != 0 || a.Admitted != 2 || a.Limited != 1 || b.Admitted != 2 || b.Limited != 0 {
		t.Fatalf("stats a %+v, b %+v", a, b)
	}
}

// WithOneLimit puts all services under one limit; WithWait lets a call
// wait, first come first served, for a slot; at most maxWaiters wait,
// and a waiter whose context ends gives up with ErrLimited and the
// context's error, leaking nothing.
func TestInterceptCallWaitAndOneLimit(t *testing.T) {
	e := newIenv(t)
	srv := e.peer("srv")
	g := newGate()
	defer g.release()
	e.serve(srv, "a", g.serve)
	e.serve(srv, "b", g.serve)
	cl := newCallLimiter(t, fixedFactory(t, 2), WithOneLimit(true), WithWait(2))
	cli := e.peer("cli", core.WithCallInterceptors(cl.Interceptor()))
	ctx := timeout(t, 30*time.Second)

	held := make(chan error, 4)
	for _, svc := range []string{"a", "b", "a", "b"} { // 2 run, 2 wait
		go func() { held <- call(ctx, cli, svc, "") }()
	}
	coretest.WaitFor(t, 10*time.Second, "2 held and 2 waiting", func() bool {
		s := statsOf(cl, "")
		return s.InFlight == 2 && s.Waiting == 2 && g.started.Load() == 2
	})
	if err := call(ctx, cli, "a", ""); !errors.Is(err, ErrLimited) {
		t.Fatalf("call beyond 2 waiters: %v, want ErrLimited", err)
	}
	g.release() // the waiters run in turn
	for range 4 {
		if err := <-held; err != nil {
			t.Fatalf("held or waiting call: %v", err)
		}
	}

	g2 := newGate()
	defer g2.release()
	if err := srv.HandleFunc("a", g2.serve); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		go func() { held <- call(ctx, cli, "a", "") }()
	}
	coretest.WaitFor(t, 10*time.Second, "2 held", func() bool { return g2.started.Load() == 2 })
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := call(short, cli, "b", "")
	cancel()
	if !errors.Is(err, ErrLimited) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiter past its deadline: %v, want ErrLimited and DeadlineExceeded", err)
	}
	g2.release()
	for range 2 {
		if err := <-held; err != nil {
			t.Fatal(err)
		}
	}
	s := cl.Stats()
	if len(s) != 1 || s[0].InFlight != 0 || s[0].Waiting != 0 || s[0].Admitted != 6 || s[0].Limited != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A caller limited by AIMD backs off when the service sheds: a provider
// limited to 2 calls at once sheds most of a 24-goroutine flood, each
// shed call is a dropped sample, and the caller's limit falls from 40
// to near what the service admits, so that it sends far fewer calls
// that are shed.
func TestInterceptCallBacksOffWhenShed(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	e.serve(srv, "work", sleepHandler(5*time.Millisecond))
	cl := newCallLimiter(t, func(string) (Limiter, error) {
		return NewAIMD(WithInitialLimit(40), WithLimitBounds(1, 100), WithBackoff(0.8))
	})
	cli := e.peer("cli", core.WithCallInterceptors(cl.Interceptor()))
	ctx := timeout(t, 60*time.Second)
	stop := make(chan struct{})
	wait := floodCalls(ctx, cli, "work", 24, stop)
	coretest.WaitFor(t, 20*time.Second, "the caller's limit to back off", func() bool {
		s := statsOf(cl, "work")
		return s.Admitted > 100 && s.Limit <= 10
	})
	close(stop)
	ok, limited := wait()
	s := statsOf(cl, "work")
	if s.Dropped == 0 || ok == 0 || limited == 0 || s.InFlight != 0 {
		t.Fatalf("caller stats %+v; %d served, %d limited", s, ok, limited)
	}
	if srvShed := sl.Stats().Shed; srvShed != s.Dropped {
		t.Fatalf("the service shed %d, the caller counted %d drops", srvShed, s.Dropped)
	}
}

// floodCalls runs n goroutines calling service until stop is closed,
// and returns a function that waits for them and gives the numbers of
// calls served and refused by the caller's limiter; other errors
// (the service shedding) are neither.
func floodCalls(ctx context.Context, c *core.Peer, service string, n int, stop <-chan struct{}) func() (ok, limited int) {
	type result struct{ ok, limited int }
	res := make(chan result, n)
	for range n {
		go func() {
			var r result
			defer func() { res <- r }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch err := call(ctx, c, service, ""); {
				case err == nil:
					r.ok++
				case errors.Is(err, ErrLimited):
					r.limited++
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	return func() (ok, limited int) {
		for range n {
			r := <-res
			ok, limited = ok+r.ok, limited+r.limited
		}
		return ok, limited
	}
}

// Options are checked: nil arguments, bad bounds, conflicting choices.
func TestInterceptOptions(t *testing.T) {
	lim := fixedLimit(t, 1)
	server := map[string][]ServerLimiterOption{
		"no partitions":    {WithPartitions()},
		"zero share":       {WithPartitions(Partition{"a", 0})},
		"shares over 1":    {WithPartitions(Partition{"a", 0.6}, Partition{"b", 0.6})},
		"duplicate":        {WithPartitions(Partition{"a", 0.2}, Partition{"a", 0.2})},
		"bad key":          {WithPriorityKey("Bad Key")},
		"nil classifier":   {WithClassifier(nil)},
		"key and function": {WithPriorityKey("class"), WithClassifier(func(*core.Request) string { return "" })},
		"function and key": {WithClassifier(func(*core.Request) string { return "" }), WithPriorityKey("class")},
		"nil option":       {nil},
	}
	for name, opts := range server {
		if _, err := NewServerLimiter(lim, opts...); !errors.Is(err, ErrInvalidInterceptOption) {
			t.Errorf("NewServerLimiter %s: %v", name, err)
		}
	}
	if _, err := NewServerLimiter(nil); !errors.Is(err, ErrInvalidInterceptOption) {
		t.Errorf("NewServerLimiter(nil): %v", err)
	}
	f := fixedFactory(t, 1)
	client := map[string][]CallLimiterOption{
		"no waiters":  {WithWait(0)},
		"no services": {WithMaxServices(0)},
		"nil option":  {nil},
	}
	for name, opts := range client {
		if _, err := NewCallLimiter(f, opts...); !errors.Is(err, ErrInvalidInterceptOption) {
			t.Errorf("NewCallLimiter %s: %v", name, err)
		}
	}
	if _, err := NewCallLimiter(nil); !errors.Is(err, ErrInvalidInterceptOption) {
		t.Errorf("NewCallLimiter(nil): %v", err)
	}
}

// Services beyond WithMaxServices share one more limit; a factory's
// error fails the call and is asked again next time.
func TestInterceptCallMaxServicesAndFactoryError(t *testing.T) {
	e := newIenv(t)
	srv := e.peer("srv")
	for _, s := range []string{"a", "b", "c", "bad"} {
		e.serve(srv, s, sleepHandler(0))
	}
	fails := errors.New("no limit for you")
	var asked []string
	cl := newCallLimiter(t, func(s string) (Limiter, error) {
		asked = append(asked, s) // calls below are sequential
		if s == "bad" {
			return nil, fails
		}
		return fixedLimit(t, 3), nil
	}, WithMaxServices(2))
	cli := e.peer("cli", core.WithCallInterceptors(cl.Interceptor()))
	ctx := timeout(t, 30*time.Second)
	for _, s := range []string{"a", "bad", "bad", "b", "c", "a"} {
		err := call(ctx, cli, s, "")
		if (s == "bad") != errors.Is(err, fails) {
			t.Fatalf("call %s: %v", s, err)
		}
	}
	var got []string
	for _, s := range cl.Stats() {
		got = append(got, s.Service)
	}
	if want := "[ a b]"; fmtList(got) != want || fmtList(asked) != "[a bad bad b ]" {
		t.Fatalf("limits %q (want %s), factory asked %q", got, want, asked)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
