package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// counted is a service that counts its runs and answers "<n>:<body>",
// or fails with code 1001 for a body "fail".
type counted struct {
	runs atomic.Int64
	gate chan struct{} // when set, each run waits for a value on it
	meta core.Metadata // set as the reply's metadata
}

func (c *counted) handle(ctx context.Context, req *core.Request) ([]byte, error) {
	n := c.runs.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if string(req.Body) == "fail" {
		return nil, core.NewError(1001, "failing run %d", n)
	}
	req.ReplyMeta = c.meta
	return []byte(fmt.Sprintf("%d:%s", n, req.Body)), nil
}

func newMemo(t testing.TB, opts ...MemoOption) *Memo {
	t.Helper()
	m, err := NewMemo(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// memoPair is a provider of "svc" and a caller, with a memo on the
// provider's side (server) or the caller's.
func memoPair(t *testing.T, e *menv, m *Memo, server bool, popts ...core.Option) (*counted, *core.Peer) {
	t.Helper()
	svc := &counted{}
	var copts []core.Option
	if server {
		popts = append(popts, core.WithServerInterceptors(m.Server()))
	} else {
		copts = append(copts, core.WithCallInterceptors(m.Client()))
	}
	p := e.peer("provider", popts...)
	if err := p.HandleFunc("svc", svc.handle); err != nil {
		t.Fatal(err)
	}
	return svc, e.peer("caller", copts...)
}

func call(t testing.TB, ctx context.Context, p *core.Peer, body string, opts ...core.CallOption) string {
	t.Helper()
	b, err := p.Call(ctx, "svc", []byte(body), opts...)
	if err != nil {
		t.Fatalf("call %q: %v", body, err)
	}
	return string(b)
}

func TestMemo(t *testing.T) {
	for _, side := range []string{"server", "client"} {
		memoTransports(t, func(t *testing.T, e *menv) {
			t.Run(side, func(t *testing.T) {
				m := newMemo(t, MemoTTL(time.Hour))
				svc, cli := memoPair(t, e, m, side == "server")
				ctx := e.ctx(20 * time.Second)
				for range 5 {
					if got := call(t, ctx, cli, "a"); got != "1:a" {
						t.Fatalf("got %q, want the first run's 1:a", got)
					}
				}
				if got := call(t, ctx, cli, "b"); got != "2:b" {
					t.Fatalf("another body: %q", got)
				}
				if n := svc.runs.Load(); n != 2 {
					t.Fatalf("service ran %d times, want 2", n)
				}
				st := m.Stats()
				if st.MemoHits != 4 || st.MemoMisses != 2 || st.Entries != 2 || st.Fills != 2 {
					t.Fatalf("stats %+v", st)
				}
				// A reply is the caller's: changing it changes no other.
				b, err := cli.Call(ctx, "svc", []byte("a"))
				if err != nil {
					t.Fatal(err)
				}
				copy(b, "XX")
				if got := call(t, ctx, cli, "a"); got != "1:a" {
					t.Fatalf("after the caller changed its reply: %q", got)
				}
				// Invalidation by service prefix drops every key.
				m.InvalidatePrefix(ServicePrefix("svc"))
				if got := call(t, ctx, cli, "a"); got != "3:a" {
					t.Fatalf("after invalidation: %q", got)
				}
			})
		})
	}
}

func TestMemoErrors(t *testing.T) {
	e := newMenv(t, core.TCP)
	for _, cacheErrs := range []bool{false, true} {
		opts := []MemoOption{}
		if cacheErrs {
			opts = append(opts, MemoErrors(time.Hour, 1001))
		}
		m := newMemo(t, opts...)
		svc := &counted{}
		p := e.peer(fmt.Sprint("provider-", cacheErrs), core.WithServerInterceptors(m.Server()))
		if err := p.HandleFunc(fmt.Sprint("svc", cacheErrs), svc.handle); err != nil {
			t.Fatal(err)
		}
		ctx := e.ctx(10 * time.Second)
		for range 3 {
			_, err := p.Call(ctx, fmt.Sprint("svc", cacheErrs), []byte("fail"), core.OnNode(p.Name()))
			var re *core.RemoteError
			if !errors.As(err, &re) || re.Code != 1001 {
				t.Fatalf("error %v", err)
			}
		}
		want := int64(3)
		if cacheErrs {
			want = 1
		}
		if n := svc.runs.Load(); n != want {
			t.Fatalf("errors cached %v: service ran %d times, want %d", cacheErrs, n, want)
		}
	}
}

func TestMemoCacheControl(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t, MemoTTL(time.Hour))
	svc, cli := memoPair(t, e, m, true)
	ctx := e.ctx(20 * time.Second)
	cc := func(v string) core.CallOption { return core.WithMetadata(core.Metadata{core.MetaCacheControl: v}) }
	steps := []struct {
		opt  core.CallOption
		want string
	}{
		{nil, "1:a"},
		{cc("no-store"), "2:a"}, // bypasses: runs, keeps nothing
		{nil, "1:a"},
		{cc("no-cache"), "3:a"}, // runs and keeps the fresh reply
		{nil, "3:a"},
		{cc("max-age=3600"), "3:a"},
		{cc("max-age=0"), "4:a"}, // too old: a fill
		{nil, "4:a"},
	}
	for i, s := range steps {
		var opts []core.CallOption
		if s.opt != nil {
			opts = append(opts, s.opt)
		}
		if got := call(t, ctx, cli, "a", opts...); got != s.want {
			t.Fatalf("step %d: %q, want %q", i, got, s.want)
		}
	}
	// A reply that says no-store is not kept; max-age shortens its TTL.
	svc.meta = core.Metadata{core.MetaCacheControl: "no-store"}
	call(t, ctx, cli, "b")
	if got := call(t, ctx, cli, "b"); got != "6:b" {
		t.Fatalf("no-store reply kept: %q", got)
	}
	svc.meta = core.Metadata{core.MetaCacheControl: "max-age=1"}
	call(t, ctx, cli, "c")
	it, ok := m.cache.Peek(ServiceKey("svc", []byte("c")))
	if !ok || it.Expires.Sub(it.Stored) != time.Second {
		t.Fatalf("max-age=1 reply: %+v %v", it, ok)
	}
	// The reply's metadata is replayed on hits to callers that ask.
	var md core.Metadata
	call(t, ctx, cli, "c", core.WithMetadata(core.Metadata{}), core.ReplyMetadata(&md))
	if md[core.MetaCacheControl] != "max-age=1" {
		t.Fatalf("hit's reply metadata %v", md)
	}
}

func TestMemoTTLAndEvictCallback(t *testing.T) {
	e := newMenv(t, core.TCP)
	evs := make(chan Reason, 10)
	m := newMemo(t, MemoTTL(100*time.Millisecond), MemoOnEvict(func(k string, why Reason) { evs <- why }))
	svc, cli := memoPair(t, e, m, false)
	ctx := e.ctx(20 * time.Second)
	call(t, ctx, cli, "a")
	select {
	case why := <-evs:
		if why != Expired {
			t.Fatalf("reason %v", why)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no expiry reported")
	}
	if got := call(t, ctx, cli, "a"); got != "2:a" || svc.runs.Load() != 2 {
		t.Fatalf("after expiry: %q", got)
	}
}

func TestMemoRefreshAhead(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t, MemoTTL(5*time.Second), MemoRefreshAhead(0.2))
	svc, cli := memoPair(t, e, m, true)
	ctx := e.ctx(20 * time.Second)
	call(t, ctx, cli, "a")
	time.Sleep(1200 * time.Millisecond)
	// Past 20% of the TTL: served from the cache, refreshed behind.
	for range 5 {
		if got := call(t, ctx, cli, "a"); got != "1:a" && got != "2:a" {
			t.Fatalf("got %q", got)
		}
	}
	memoWait(t, 10*time.Second, "refreshed", func() bool {
		it, ok := m.cache.Peek(ServiceKey("svc", []byte("a")))
		return ok && string(it.Value.body) == "2:a"
	})
	if n := svc.runs.Load(); n != 2 || m.Stats().Refreshes != 1 {
		t.Fatalf("service ran %d times, %d refreshes: want one refresh", n, m.Stats().Refreshes)
	}
}

func TestMemoServicesAndKey(t *testing.T) {
	e := newMenv(t, core.TCP)
	m := newMemo(t, MemoServices("other"))
	svc, cli := memoPair(t, e, m, true)
	ctx := e.ctx(20 * time.Second)
	call(t, ctx, cli, "a")
	call(t, ctx, cli, "a")
	if svc.runs.Load() != 2 {
		t.Fatal("a service not listed was memoized")
	}
	// A key function that ignores part of the body, and refuses some.
	m2 := newMemo(t, MemoKey(func(k KeyInfo) (string, bool) {
		if string(k.Body) == "nocache" {
			return "", false
		}
		return k.Service + "/" + string(k.Body[:1]), true
	}))
	svc2 := &counted{}
	p := e.peer("p2", core.WithServerInterceptors(m2.Server()))
	if err := p.HandleFunc("svc2", svc2.handle); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"x1", "x2", "nocache", "nocache"} {
		if _, err := cli.Call(ctx, "svc2", []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if n := svc2.runs.Load(); n != 3 || m2.Stats().Bypassed != 2 {
		t.Fatalf("runs %d, stats %+v", n, m2.Stats())
	}
}

// TestMemoCollapseOverSockets: concurrent cold calls through a memo on
// either side run the service once.
func TestMemoCollapseOverSockets(t *testing.T) {
	for _, side := range []string{"server", "client"} {
		t.Run(side, func(t *testing.T) {
			e := newMenv(t, core.TCP)
			m := newMemo(t)
			// On the server side, the callers wait in handler slots:
			// the pool must hold them all.
			svc, cli := memoPair(t, e, m, side == "server", core.WithConcurrency(256, 1024), core.WithConnectionShare(256, 1024))
			svc.gate = make(chan struct{})
			ctx := e.ctx(30 * time.Second)
			const n = 200
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b, err := cli.Call(ctx, "svc", []byte("k"))
					if err == nil && string(b) != "1:k" {
						err = fmt.Errorf("got %q", b)
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			memoWait(t, 20*time.Second, "callers collapsed", func() bool { return m.Stats().Collapsed == n-1 })
			close(svc.gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if r := svc.runs.Load(); r != 1 {
				t.Fatalf("service ran %d times for %d concurrent cold calls", r, n)
			}
		})
	}
}

// TestInvalidationVsFill: a fill that began before an invalidation of
// its key returns its reply to the callers waiting, but never keeps it.
func TestInvalidationVsFill(t *testing.T) {
	for _, how := range []string{"local", "pubsub"} {
		t.Run(how, func(t *testing.T) {
			e := newMenv(t, core.TCP)
			m := newMemo(t, MemoTTL(time.Hour))
			svc, cli := memoPair(t, e, m, true)
			if how == "pubsub" {
				if err := m.Attach(cli); err != nil { // any peer may listen for the memo
					t.Fatal(err)
				}
			}
			svc.gate = make(chan struct{}, 1)
			ctx := e.ctx(20 * time.Second)
			done := make(chan string, 1)
			go func() { done <- call(t, ctx, cli, "a") }()
			memoWait(t, 10*time.Second, "fill started", func() bool { return svc.runs.Load() == 1 })

			key := ServiceKey("svc", []byte("a"))
			switch how {
			case "local":
				m.Invalidate(key)
			case "pubsub":
				pub := e.peer("writer")
				l := m.Listeners()[0]
				memoWait(t, 10*time.Second, "listener hears the writer", func() bool {
					_ = PublishInvalidation(pub, DefaultInvalidationTopic, Invalidation{Keys: []string{"warm-up"}})
					time.Sleep(10 * time.Millisecond)
					return l.Stats().Applied > 0
				})
				before := l.Stats().Applied
				if err := PublishInvalidation(pub, DefaultInvalidationTopic, Invalidation{Keys: []string{key}}); err != nil {
					t.Fatal(err)
				}
				memoWait(t, 10*time.Second, "invalidation applied", func() bool { return l.Stats().Applied > before })
			}
			svc.gate <- struct{}{} // the fill ends, with the old state's reply
			if got := <-done; got != "1:a" {
				t.Fatalf("the waiting caller got %q", got)
			}
			if _, ok := m.cache.Peek(key); ok {
				t.Fatal("a fill that began before the invalidation was kept")
			}
			svc.gate <- struct{}{}
			if got := call(t, ctx, cli, "a"); got != "2:a" {
				t.Fatalf("after the invalidation: %q, want a new run", got)
			}
			if m.Stats().Discarded != 1 {
				t.Fatalf("stats %+v", m.Stats())
			}
		})
	}
}
