package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Service behaviours, as pyzmp's service tests check them, over every transport.

func TestRPCTypedAdd(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		cli := e.peer("caller")
		callAdd(t, e.ctx(10*time.Second), cli, 17, 25)
		if n := serviceCalls(srv, "add"); n != 1 {
			t.Fatalf("add served %d calls, want 1", n)
		}
	})
}

func TestRPCBadRequestBody(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		cli := e.peer("caller")
		_, err := cli.Call(e.ctx(10*time.Second), "add", []byte("{not json"))
		re := remoteErr(t, err, CodeBadRequest)
		if !strings.Contains(re.Message, "json") {
			t.Fatalf("message %q does not name the codec", re.Message)
		}
	})
}

func TestRPCDiscoverBeforeStartAndAfterClose(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		cli := e.peer("caller")
		short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := Discover(short, e.reg, "add", 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Discover without a provider: %v, want a deadline error", err)
		}

		type result struct {
			nodes []NodeInfo
			err   error
		}
		found := make(chan result, 1)
		ctx := e.ctx(15 * time.Second)
		go func() {
			nodes, err := Discover(ctx, e.reg, "add", 1)
			found <- result{nodes, err}
		}()
		srv := e.peer("calc")
		provideAdd(t, srv)
		r := <-found
		if r.err != nil || len(r.nodes) != 1 || r.nodes[0].ID != srv.ID() {
			t.Fatalf("Discover = %+v, %v; want the entry of %s", r.nodes, r.err, srv.ID())
		}
		callAdd(t, ctx, cli, 17, 25)

		if err := srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if nodes, err := Providers(ctx, e.reg, "add"); err != nil || len(nodes) != 0 {
			t.Fatalf("Providers after Close = %+v, %v", nodes, err)
		}
		expectNoProvider(t, ctx, cli, "add")
	})
}

// expectNoProvider calls service until it fails with ErrNoProvider. A
// caller may first see the connection to a provider that just closed
// break (ErrConnectionLost); nothing else is acceptable.
func expectNoProvider(t *testing.T, ctx context.Context, p *Peer, service string, opts ...CallOption) {
	t.Helper()
	waitCond(t, 10*time.Second, service+" failing with ErrNoProvider", func() bool {
		_, err := p.Call(ctx, service, []byte("{}"), opts...)
		switch {
		case errors.Is(err, ErrNoProvider):
			return true
		case errors.Is(err, ErrConnectionLost):
			return false
		}
		t.Fatalf("call to %s: %v, want ErrNoProvider", service, err)
		return false
	})
}

// twoAdders starts two providers of add and a caller that sees both.
func twoAdders(t *testing.T, e *tenv) (a, b, cli *Peer) {
	t.Helper()
	a, b = e.peer("adder-a"), e.peer("adder-b")
	provideAdd(t, a)
	provideAdd(t, b)
	if _, err := Discover(e.ctx(10*time.Second), e.reg, "add", 2); err != nil {
		t.Fatal(err)
	}
	return a, b, e.peer("caller")
}

func TestRPCRoundRobin(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		a, b, cli := twoAdders(t, e)
		ctx := e.ctx(20 * time.Second)
		// A call goes to a connected provider rather than wait for a
		// dial: connect to both first.
		callAdd(t, ctx, cli, 0, 0, OnNode(a.Name()))
		callAdd(t, ctx, cli, 0, 0, OnNode(b.Name()))
		const n = 20
		for i := range n {
			callAdd(t, ctx, cli, i, 1)
		}
		if ca, cb := serviceCalls(a, "add")-1, serviceCalls(b, "add")-1; ca+cb != n || ca < n/2-1 || cb < n/2-1 {
			t.Fatalf("calls per provider %d and %d, want %d each (±1)", ca, cb, n/2)
		}
	})
}

func TestRPCOnNodePins(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		a, b, cli := twoAdders(t, e)
		ctx := e.ctx(20 * time.Second)
		for i := range 10 {
			callAdd(t, ctx, cli, i, 2, OnNode(b.Name()))
		}
		if ca, cb := serviceCalls(a, "add"), serviceCalls(b, "add"); ca != 0 || cb != 10 {
			t.Fatalf("calls per provider %d and %d, want 0 and 10", ca, cb)
		}
		_, err := cli.Call(ctx, "add", []byte("{}"), OnNode("nobody"))
		if !errors.Is(err, ErrNoProvider) {
			t.Fatalf("call pinned to a missing node: %v, want ErrNoProvider", err)
		}
	})
}

func TestRPCConcurrentCallers(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		cli := e.peer("caller")
		ctx := e.ctx(60 * time.Second)
		const goroutines, calls = 8, 50
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range calls {
					got, err := Call[int](ctx, cli, "add", addArgs{g * 1000, i})
					if err != nil || got != g*1000+i {
						t.Errorf("goroutine %d call %d: %v, %v", g, i, got, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if n := serviceCalls(srv, "add"); n != goroutines*calls {
			t.Fatalf("served %d calls, want %d", n, goroutines*calls)
		}
	})
}

func TestRPCSlowCallDoesNotBlockFast(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		entered, release := make(chan struct{}), make(chan struct{})
		t.Cleanup(func() { closeOnce(release) })
		err := srv.HandleFunc("slow", func(ctx context.Context, _ *Request) ([]byte, error) {
			close(entered)
			select {
			case <-release:
				return []byte("slow"), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		cli := e.peer("caller")
		ctx := e.ctx(20 * time.Second)
		slow := make(chan error, 1)
		go func() {
			reply, err := cli.Call(ctx, "slow", nil)
			if err == nil && string(reply) != "slow" {
				err = fmt.Errorf("reply %q", reply)
			}
			slow <- err
		}()
		<-entered
		callAdd(t, e.ctx(5*time.Second), cli, 1, 2)
		select {
		case err := <-slow:
			t.Fatalf("slow call ended before it was released: %v", err)
		default:
		}
		if n := srv.Stats().Server.RPCPeers; n != 1 {
			t.Fatalf("provider has %d RPC connections, want the caller's one", n)
		}
		close(release)
		if err := <-slow; err != nil {
			t.Fatalf("slow call: %v", err)
		}
	})
}

// closeOnce closes ch unless it is already closed (single goroutine use).
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// mustHandle registers a function handler or fails the test.
func mustHandle(t *testing.T, p *Peer, service string, f func(ctx context.Context, req *Request) ([]byte, error)) {
	t.Helper()
	if err := p.HandleFunc(service, f); err != nil {
		t.Fatal(err)
	}
}

func TestRPCHandlerError(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		mustHandle(t, srv, "fail", func(context.Context, *Request) ([]byte, error) {
			return nil, errors.New("boom: bad input")
		})
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		_, err := cli.Call(ctx, "fail", []byte("x"))
		re := remoteErr(t, err, CodeHandler)
		if re.Message != "boom: bad input" || re.Node != "calc" || re.Service != "fail" {
			t.Fatalf("remote error %+v", re)
		}
		if errors.Is(err, ErrUnknownService) || errors.Is(err, ErrTimeout) {
			t.Fatalf("handler error %v matches an unrelated sentinel", err)
		}
		callAdd(t, ctx, cli, 2, 3)
		if st := srv.Stats().Services["fail"]; st.Calls != 1 || st.Errors != 1 {
			t.Fatalf("fail stats %+v, want 1 call, 1 error", st)
		}
	})
}

func TestRPCHandlerPanic(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		mustHandle(t, srv, "explode", func(context.Context, *Request) ([]byte, error) { panic("kaboom") })
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		for range 3 { // the worker must survive each panic
			_, err := cli.Call(ctx, "explode", nil)
			re := remoteErr(t, err, CodePanic)
			if re.Message != "kaboom" || !strings.Contains(re.Detail, "goroutine") || !strings.Contains(re.Detail, "panic") {
				t.Fatalf("panic error: message %q, detail %q", re.Message, re.Detail)
			}
		}
		callAdd(t, ctx, cli, 2, 3)
	})
}

func TestRPCErrorCodePropagates(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		mustHandle(t, srv, "quota", func(context.Context, *Request) ([]byte, error) {
			return nil, fmt.Errorf("checking quota: %w", NewError(1042, "quota %d exceeded", 7))
		})
		mustHandle(t, srv, "busy", func(context.Context, *Request) ([]byte, error) {
			return nil, NewError(CodeOverloaded, "try later")
		})
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		_, err := cli.Call(ctx, "quota", nil)
		re := remoteErr(t, err, 1042)
		if re.Message != "quota 7 exceeded" {
			t.Fatalf("message %q", re.Message)
		}
		if !errors.Is(err, &RemoteError{Code: 1042}) || errors.Is(err, &RemoteError{Code: 1043}) {
			t.Fatalf("errors.Is by code is wrong for %v", err)
		}
		_, err = cli.Call(ctx, "busy", nil)
		if !errors.Is(err, ErrOverloaded) {
			t.Fatalf("NewError(CodeOverloaded) arrived as %v", err)
		}
	})
}

func TestRPCUnknownServicePinned(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		_, err := cli.Call(ctx, "zmp.nosuch", nil, OnNode("calc"))
		if !errors.Is(err, ErrUnknownService) {
			t.Fatalf("reserved unknown service: %v, want ErrUnknownService", err)
		}
		remoteErr(t, err, CodeUnknownService)
		if n := srv.Stats().Server.UnknownService; n != 1 {
			t.Fatalf("UnknownService = %d, want 1", n)
		}
		// A user service the registry does not list is never sent.
		_, err = cli.Call(ctx, "nosuch", nil, OnNode("calc"))
		if !errors.Is(err, ErrNoProvider) {
			t.Fatalf("unlisted service: %v, want ErrNoProvider", err)
		}
	})
}

func TestRPCWithdraw(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		// A caller that re-reads the registry rarely still sends to the
		// node after the withdrawal: the node answers unknown service.
		stale := e.peer("stale-caller", WithDiscoveryInterval(time.Hour))
		ctx := e.ctx(20 * time.Second)
		callAdd(t, ctx, stale, 1, 1, OnNode("calc"))
		if err := srv.Withdraw("add"); err != nil {
			t.Fatal(err)
		}
		if err := srv.Withdraw("add"); !errors.Is(err, ErrUnknownService) {
			t.Fatalf("second Withdraw: %v, want ErrUnknownService", err)
		}
		if nodes, err := Providers(ctx, e.reg, "add"); err != nil || len(nodes) != 0 {
			t.Fatalf("Providers after Withdraw = %+v, %v", nodes, err)
		}
		_, err := stale.Call(ctx, "add", []byte("{}"), OnNode("calc"))
		if !errors.Is(err, ErrUnknownService) {
			t.Fatalf("call with a stale view: %v, want ErrUnknownService", err)
		}
		fresh := e.peer("fresh-caller")
		_, err = fresh.Call(ctx, "add", []byte("{}"), OnNode("calc"))
		if !errors.Is(err, ErrNoProvider) {
			t.Fatalf("call with a fresh view: %v, want ErrNoProvider", err)
		}
	})
}

func TestRPCTimeout(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		cancelled := make(chan error, 1)
		deadlines := make(chan time.Time, 1)
		mustHandle(t, srv, "sleepy", func(ctx context.Context, r *Request) ([]byte, error) {
			deadlines <- r.Deadline
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		})
		cli := e.peer("caller")
		const timeout = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		_, err := cli.Call(ctx, "sleepy", nil)
		took := time.Since(start)
		if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("slow call: %v, want ErrTimeout and context.DeadlineExceeded", err)
		}
		if took < timeout-10*time.Millisecond || took > timeout+3*time.Second {
			t.Fatalf("timed out after %v, deadline was %v", took, timeout)
		}
		if d := <-deadlines; d.IsZero() || d.After(start.Add(timeout+time.Second)) {
			t.Fatalf("handler saw deadline %v for a call started %v with %v", d, start, timeout)
		}
		select {
		case err := <-cancelled:
			if err == nil {
				t.Fatal("handler context ended without an error")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler context not cancelled 5 s after the caller gave up")
		}
	})
}

func TestRPCDefaultCallTimeout(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		mustHandle(t, srv, "sleepy", func(ctx context.Context, _ *Request) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		cli := e.peer("caller", WithCallTimeout(200*time.Millisecond))
		start := time.Now()
		_, err := cli.Call(context.Background(), "sleepy", nil)
		if !errors.Is(err, ErrTimeout) || time.Since(start) > 5*time.Second {
			t.Fatalf("call without a deadline: %v after %v, want ErrTimeout after 200ms", err, time.Since(start))
		}
	})
}

func TestRPCRequestTooLarge(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideEcho(t, srv, "echo")
		cli := e.peer("caller", WithMaxMessageSize(1024))
		ctx := e.ctx(10 * time.Second)
		_, err := cli.Call(ctx, "echo", make([]byte, 2048))
		var re *RemoteError
		if !errors.Is(err, ErrTooLarge) || errors.As(err, &re) {
			t.Fatalf("oversized request: %v, want a local ErrTooLarge", err)
		}
		if n, peers := serviceCalls(srv, "echo"), srv.Stats().Server.RPCPeers; n != 0 || peers != 0 {
			t.Fatalf("oversized request reached the provider: %d calls, %d connections", n, peers)
		}
		if reply, err := cli.Call(ctx, "echo", make([]byte, 512)); err != nil || len(reply) != 512 {
			t.Fatalf("small request after the refused one: %d bytes, %v", len(reply), err)
		}
	})
}

func TestRPCReplyTooLarge(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc", WithMaxMessageSize(4096))
		mustHandle(t, srv, "big", func(_ context.Context, r *Request) ([]byte, error) {
			return make([]byte, 64<<10), nil
		})
		provideEcho(t, srv, "echo")
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		_, err := cli.Call(ctx, "big", nil)
		remoteErr(t, err, CodeTooLarge)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("oversized reply: %v does not match ErrTooLarge", err)
		}
		if reply, err := cli.Call(ctx, "echo", []byte("hi")); err != nil || string(reply) != "hi" {
			t.Fatalf("echo after the oversized reply: %q, %v", reply, err)
		}
	})
}

func TestRPCClosedPeer(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		callAdd(t, ctx, cli, 1, 2)
		if err := cli.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := cli.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		checks := map[string]error{
			"Call":      func() error { _, err := cli.Call(ctx, "add", nil); return err }(),
			"typed":     func() error { _, err := Call[int](ctx, cli, "add", addArgs{1, 2}); return err }(),
			"Handle":    cli.HandleFunc("x", func(context.Context, *Request) ([]byte, error) { return nil, nil }),
			"Withdraw":  cli.Withdraw("x"),
			"Publish":   cli.Publish("topic", nil),
			"Advertise": cli.Advertise("topic"),
			"Subscribe": func() error { _, err := cli.Subscribe("topic"); return err }(),
		}
		for op, err := range checks {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s on a closed peer: %v, want ErrClosed", op, err)
			}
		}
		if _, err := Lookup(ctx, e.reg, "caller"); !errors.Is(err, ErrNotFound) {
			t.Errorf("closed peer still registered: %v", err)
		}
	})
}

func TestRPCOverloaded(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("busy", WithConcurrency(1, 1))
		release := make(chan struct{})
		t.Cleanup(func() { closeOnce(release) })
		mustHandle(t, srv, "block", func(ctx context.Context, r *Request) ([]byte, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return r.Body, nil
		})
		cli := e.peer("caller")
		ctx := e.ctx(30 * time.Second)
		results := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := cli.Call(ctx, "block", nil)
				results <- err
			}()
		}
		// One handler and one queue slot: the third request is refused
		// while the other two wait for release.
		select {
		case err := <-results:
			remoteErr(t, err, CodeOverloaded)
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("%v does not match ErrOverloaded", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("three calls held by a node with one handler and one queue slot")
		}
		close(release)
		overloaded := 1
		for range 2 {
			err := <-results
			if errors.Is(err, ErrOverloaded) {
				overloaded++
			} else if err != nil {
				t.Fatalf("held call: %v", err)
			}
		}
		if n := srv.Stats().Server.Overloaded; n != uint64(overloaded) {
			t.Fatalf("Stats().Server.Overloaded = %d, callers saw %d", n, overloaded)
		}
	})
}

func TestRPCRegistryNode(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		ctx := e.ctx(20 * time.Second)
		netOpts := []Option{WithTransport(e.tr)}
		if e.dir != "" {
			netOpts = append(netOpts, WithRuntimeDir(e.dir))
		}
		rs, err := NewRegistryServer(ctx, e.endpoint("registry"), nil, netOpts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rs.Close() })
		remote := func() *RemoteRegistry {
			r, err := NewRemoteRegistry(rs.Endpoint())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			return r
		}
		r1, r2 := remote(), remote()
		srv := e.peer("calc", WithRegistry(r1))
		provideAdd(t, srv)
		cli := e.peer("caller", WithRegistry(r2))
		nodes, err := Discover(ctx, r2, "add", 1)
		if err != nil || nodes[0].ID != srv.ID() {
			t.Fatalf("Discover through the registry node: %+v, %v", nodes, err)
		}
		callAdd(t, ctx, cli, 17, 25)
		if n, err := Lookup(ctx, r1, "caller"); err != nil || n.ID != cli.ID() {
			t.Fatalf("Lookup(caller) = %+v, %v", n, err)
		}
		_, err = NewPeer(ctx, "calc", append(e.opts(), WithRegistry(r2))...)
		if !errors.Is(err, ErrNameTaken) {
			t.Fatalf("second peer named calc: %v, want ErrNameTaken", err)
		}
	})
}

func TestRPCIntrospection(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("calc")
		provideAdd(t, srv)
		cli := e.peer("caller")
		ctx := e.ctx(10 * time.Second)
		callAdd(t, ctx, cli, 1, 2, OnNode("calc"))

		body, err := cli.Call(ctx, IntrospectPing, nil, OnNode("calc"))
		var ping struct{ Name, ID string }
		if err != nil || json.Unmarshal(body, &ping) != nil || ping.Name != "calc" || ping.ID != srv.ID() {
			t.Fatalf("zmp.ping = %s, %v", body, err)
		}
		info, err := Call[InfoReply](ctx, cli, IntrospectInfo, nil, OnNode("calc"))
		if err != nil || info.ID != srv.ID() || !slices.Equal(info.Services, []string{"add"}) ||
			info.PID != os.Getpid() || info.GoVersion != runtime.Version() || info.Goroutines <= 0 || info.RPC != srv.Info().RPC {
			t.Fatalf("zmp.info = %+v, %v", info, err)
		}
		st, err := Call[Stats](ctx, cli, IntrospectStats, nil, OnNode("calc"))
		if err != nil || st.Services["add"].Calls != 1 {
			t.Fatalf("zmp.stats = %+v, %v", st, err)
		}
		// Introspection services are not listed: unpinned calls find no provider.
		if _, err := cli.Call(ctx, IntrospectPing, nil); !errors.Is(err, ErrNoProvider) {
			t.Fatalf("unpinned zmp.ping: %v, want ErrNoProvider", err)
		}
		if err := srv.HandleFunc(IntrospectPing, nil); !errors.Is(err, ErrBadName) {
			t.Fatalf("providing a zmp. service: %v, want ErrBadName", err)
		}
	})
}

// A call with no deadline in its context ends at the call timeout even
// when the handler ignores its own context and never answers in time.
func TestRPCCallTimeoutWithoutContextDeadline(t *testing.T) {
	e := newTenv(t, TCP)
	release := make(chan struct{})
	srv := e.peer("stubborn")
	mustHandle(t, srv, "stuck", func(context.Context, *Request) ([]byte, error) {
		<-release
		return nil, nil
	})
	cli := e.peer("caller", WithCallTimeout(200*time.Millisecond))
	t.Cleanup(func() { close(release) }) // runs before the peers close (LIFO)
	start := time.Now()
	_, err := cli.Call(context.Background(), "stuck", nil)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	var re *RemoteError
	if errors.As(err, &re) {
		t.Fatalf("got the provider's error %v; the caller must time out by itself", err)
	}
	if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("timed out after %v, want about 200 ms", elapsed)
	}
}
