package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// Interceptors on both sides: ordering, answering without the handler,
// errors and panics, and the metadata they read and write.

// trail records the order in which interceptors and handlers run.
type trail struct {
	mu    sync.Mutex
	steps []string
}

func (tr *trail) add(s string) {
	tr.mu.Lock()
	tr.steps = append(tr.steps, s)
	tr.mu.Unlock()
}

func (tr *trail) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := tr.steps
	tr.steps = nil
	return s
}

func recordServer(tr *trail, name string) ServerInterceptor {
	return func(ctx context.Context, req *Request, next Handler) ([]byte, error) {
		tr.add(name + ">")
		body, err := next.ServeRPC(ctx, req)
		tr.add("<" + name)
		return body, err
	}
}

func recordCall(tr *trail, name string) CallInterceptor {
	return func(ctx context.Context, c *CallInfo, next Invoker) ([]byte, error) {
		tr.add(name + ">")
		body, err := next(ctx, c)
		tr.add("<" + name)
		return body, err
	}
}

func TestInterceptorOrder(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		var tr trail
		srv := e.peer("order-srv", WithServerInterceptors(recordServer(&tr, "s1"), recordServer(&tr, "s2")))
		h := HandlerFunc(func(_ context.Context, r *Request) ([]byte, error) { tr.add("handler"); return r.Body, nil })
		if err := srv.Handle("echo", Intercept(h, recordServer(&tr, "svc1"), recordServer(&tr, "svc2"))); err != nil {
			t.Fatal(err)
		}
		cli := e.peer("order-cli", WithCallInterceptors(recordCall(&tr, "c1"), recordCall(&tr, "c2")))
		reply, err := cli.Call(e.ctx(10*time.Second), "echo", []byte("hi"))
		if err != nil || string(reply) != "hi" {
			t.Fatalf("call: %q, %v", reply, err)
		}
		want := []string{"c1>", "c2>", "s1>", "s2>", "svc1>", "svc2>", "handler", "<svc2", "<svc1", "<s2", "<s1", "<c2", "<c1"}
		if got := tr.take(); !slices.Equal(got, want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		// zmp's own services are not intercepted.
		if _, err := cli.Call(e.ctx(10*time.Second), "zmp.ping", nil, OnNode("order-srv")); err != nil {
			t.Fatal(err)
		}
		if got := tr.take(); !slices.Equal(got, []string{"c1>", "c2>", "<c2", "<c1"}) {
			t.Fatalf("zmp.ping ran server interceptors: %v", got)
		}
	})
}

func TestServerInterceptorShortCircuit(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		var runs atomic.Int64
		shed := func(ctx context.Context, req *Request, next Handler) ([]byte, error) {
			switch string(req.Body) {
			case "cached":
				return []byte("from cache"), nil
			case "shed":
				return nil, NewError(CodeOverloaded, "shed by the limiter")
			case "fail":
				return nil, errors.New("refused by interceptor")
			case "panic":
				panic("interceptor bug")
			}
			return next.ServeRPC(ctx, req)
		}
		srv := e.peer("short-srv", WithServerInterceptors(shed))
		if err := srv.HandleFunc("svc", func(_ context.Context, r *Request) ([]byte, error) {
			runs.Add(1)
			if string(r.Body) == "handler-error" {
				return nil, NewError(1042, "quota")
			}
			return []byte("handled"), nil
		}); err != nil {
			t.Fatal(err)
		}
		cli := e.peer("short-cli")
		call := func(body string) ([]byte, error) { return cli.Call(e.ctx(10*time.Second), "svc", []byte(body)) }

		if r, err := call("cached"); err != nil || string(r) != "from cache" {
			t.Fatalf("cached: %q, %v", r, err)
		}
		_, err := call("shed")
		remoteErr(t, err, CodeOverloaded)
		if !errors.Is(err, ErrOverloaded) {
			t.Fatalf("shed call: %v does not match ErrOverloaded", err)
		}
		_, err = call("fail")
		if re := remoteErr(t, err, CodeHandler); !strings.Contains(re.Message, "refused by interceptor") {
			t.Fatalf("interceptor error text lost: %v", re)
		}
		_, err = call("panic")
		if re := remoteErr(t, err, CodePanic); !strings.Contains(re.Message, "interceptor bug") || re.Detail == "" {
			t.Fatalf("panic reply %+v lacks the panic value or stack", re)
		}
		_, err = call("handler-error")
		remoteErr(t, err, 1042)
		if n := runs.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1 (only handler-error reaches it)", n)
		}
		// The node keeps serving after the panic.
		if r, err := call("ok"); err != nil || string(r) != "handled" {
			t.Fatalf("after the panic: %q, %v", r, err)
		}
		if st := srv.Stats().Services["svc"]; st.Calls != 6 || st.Errors != 4 {
			t.Fatalf("stats %+v, want 6 calls and 4 errors", st)
		}
	})
}

// TestServerInterceptorSeesRequest: an interceptor sees the service,
// the metadata, the deadline and the caller's identity.
func TestServerInterceptorSeesRequest(t *testing.T) {
	reg := NewMemRegistry()
	auth, err := NewAuthenticator(AllowUser("alice", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Request, 1)
	see := func(ctx context.Context, req *Request, next Handler) ([]byte, error) {
		got <- *req
		return next.ServeRPC(ctx, req)
	}
	srv, err := NewPeer(context.Background(), "see-srv", WithRegistry(reg), WithSecurity(Plain("srv", "x", auth)), WithServerInterceptors(see))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	provideEcho(t, srv, "echo")
	cli, err := NewPeer(context.Background(), "see-cli", WithRegistry(reg), WithSecurity(Plain("alice", "secret", auth)))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Call(ctx, "echo", []byte("x"), WithMetadata(Metadata{MetaTraceID: "t-42"})); err != nil {
		t.Fatal(err)
	}
	r := <-got
	dl, _ := ctx.Deadline()
	if r.Service != "echo" || r.User != "alice" || r.Meta.Get(MetaTraceID) != "t-42" || r.Deadline.IsZero() || r.Deadline.After(dl.Add(time.Second)) {
		t.Fatalf("interceptor saw service %q user %q meta %v deadline %v (caller's %v)", r.Service, r.User, r.Meta, r.Deadline, dl)
	}
}

func TestMetadataBothWays(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("meta-srv")
		if err := srv.HandleFunc("meta", func(_ context.Context, r *Request) ([]byte, error) {
			r.ReplyMeta = Metadata{"seen": fmt.Sprint(r.Meta != nil), "trace": r.Meta.Get(MetaTraceID), "idem": r.Meta.Get(MetaIdempotent)}
			if string(r.Body) == "fail" {
				return nil, NewError(CodeOverloaded, "busy")
			}
			return r.Body, nil
		}); err != nil {
			t.Fatal(err)
		}
		cli := e.peer("meta-cli")
		ctx := e.ctx(10 * time.Second)

		// No metadata either way: the handler sees nil, the reply has none.
		var md Metadata
		if _, err := cli.Call(ctx, "meta", []byte("a")); err != nil {
			t.Fatal(err)
		}
		// Asking for the reply's metadata sends an empty set.
		if _, err := cli.Call(ctx, "meta", []byte("a"), ReplyMetadata(&md)); err != nil || md.Get("seen") != "true" || md.Get("trace") != "" {
			t.Fatalf("reply metadata %v, %v", md, err)
		}
		md = nil
		if _, err := cli.Call(ctx, "meta", []byte("b"), WithMetadata(Metadata{MetaTraceID: "abc"}), Idempotent(), ReplyMetadata(&md)); err != nil {
			t.Fatal(err)
		}
		if md.Get("trace") != "abc" || md.Get("idem") != "1" {
			t.Fatalf("reply metadata %v, want trace abc and idem 1", md)
		}
		// An error reply carries metadata too.
		md = nil
		_, err := cli.Call(ctx, "meta", []byte("fail"), WithMetadata(Metadata{MetaTraceID: "e"}), ReplyMetadata(&md))
		remoteErr(t, err, CodeOverloaded)
		if md.Get("trace") != "e" {
			t.Fatalf("error reply metadata %v", md)
		}
	})
}

func TestMetadataBounds(t *testing.T) {
	big := Metadata{"k": strings.Repeat("v", MaxMetadataBytes)}
	for name, md := range map[string]Metadata{
		"too large":     big,
		"upper case":    {"Trace": "x"},
		"empty key":     {"": "x"},
		"long key":      {strings.Repeat("k", 65): "x"},
		"control value": {"k": "a\nb"},
		"bad utf8":      {"k": "\xff"},
	} {
		if err := md.Validate(); !errors.Is(err, ErrBadMetadata) {
			t.Errorf("%s: Validate = %v, want ErrBadMetadata", name, err)
		}
	}
	at := Metadata{"k": strings.Repeat("v", MaxMetadataBytes-4)}
	if err := at.Validate(); err != nil {
		t.Fatalf("metadata of exactly %d bytes: %v", MaxMetadataBytes, err)
	}
	if n := len(encodeMeta(at)); n != MaxMetadataBytes {
		t.Fatalf("encoded %d bytes, want %d", n, MaxMetadataBytes)
	}

	e := newTenv(t, TCP)
	srv := e.peer("bounds-srv")
	provideEcho(t, srv, "echo")
	cli := e.peer("bounds-cli")
	if _, err := cli.Call(e.ctx(10*time.Second), "echo", nil, WithMetadata(big)); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("oversized metadata: %v, want ErrBadMetadata before sending", err)
	}
	// An interceptor that breaks the rules is caught before sending.
	bad := e.peer("bounds-bad", WithCallInterceptors(func(ctx context.Context, c *CallInfo, next Invoker) ([]byte, error) {
		c.Meta = Metadata{"BAD": "x"}
		return next(ctx, c)
	}))
	if _, err := bad.Call(e.ctx(10*time.Second), "echo", nil); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("interceptor's bad metadata: %v, want ErrBadMetadata", err)
	}
	if n := serviceCalls(srv, "echo"); n != 0 {
		t.Fatalf("%d calls reached the server", n)
	}
}

func TestCallInterceptors(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("ci-srv")
		if err := srv.HandleFunc("trace", func(_ context.Context, r *Request) ([]byte, error) {
			r.ReplyMeta = Metadata{"from": "server"}
			return []byte(r.Meta.Get(MetaTraceID)), nil
		}); err != nil {
			t.Fatal(err)
		}
		var cache sync.Map
		var sawReply atomic.Value
		tracer := func(ctx context.Context, c *CallInfo, next Invoker) ([]byte, error) {
			md := c.Meta.Clone()
			if md == nil {
				md = Metadata{}
			}
			md[MetaTraceID] = "trace-" + string(c.Body)
			c.Meta = md
			body, err := next(ctx, c)
			sawReply.Store(c.ReplyMeta.Get("from"))
			return body, err
		}
		memo := func(ctx context.Context, c *CallInfo, next Invoker) ([]byte, error) {
			if v, ok := cache.Load(string(c.Body)); ok {
				return v.([]byte), nil
			}
			body, err := next(ctx, c)
			if err == nil {
				cache.Store(string(c.Body), body)
			}
			return body, err
		}
		cli := e.peer("ci-cli", WithCallInterceptors(memo, tracer))
		ctx := e.ctx(10 * time.Second)
		for range 3 {
			r, err := cli.Call(ctx, "trace", []byte("x"))
			if err != nil || string(r) != "trace-x" {
				t.Fatalf("call: %q, %v", r, err)
			}
		}
		if n := serviceCalls(srv, "trace"); n != 1 {
			t.Fatalf("server served %d calls, want 1 (the memo answers the rest)", n)
		}
		if v := sawReply.Load(); v != "server" {
			t.Fatalf("interceptor saw reply metadata from=%v", v)
		}
		// The caller's ReplyMetadata sees the reply's metadata through interceptors.
		var md Metadata
		if _, err := cli.Call(ctx, "trace", []byte("y"), ReplyMetadata(&md)); err != nil || md.Get("from") != "server" {
			t.Fatalf("reply metadata %v, %v", md, err)
		}
		// An interceptor's error reaches the caller as is; a changed
		// service name is checked.
		boom := errors.New("limiter: too many calls")
		fail := e.peer("ci-fail", WithCallInterceptors(func(ctx context.Context, c *CallInfo, next Invoker) ([]byte, error) {
			if string(c.Body) == "rename" {
				c.Service = "bad\x00name"
				return next(ctx, c)
			}
			return nil, boom
		}))
		if _, err := fail.Call(ctx, "trace", nil); !errors.Is(err, boom) {
			t.Fatalf("interceptor error: %v", err)
		}
		if _, err := fail.Call(ctx, "trace", []byte("rename")); !errors.Is(err, ErrBadName) {
			t.Fatalf("renamed to a bad name: %v", err)
		}
	})
}

// TestMetadataRawPeer speaks the wire format as a foreign client does:
// one that sends no metadata never gets any back, and metadata that is
// too large or malformed is answered CodeBadRequest without reaching
// the handler, while the node keeps serving.
func TestMetadataRawPeer(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("raw-meta")
		var runs atomic.Int64
		if err := srv.HandleFunc("echo", func(_ context.Context, r *Request) ([]byte, error) {
			runs.Add(1)
			r.ReplyMeta = Metadata{"got": r.Meta.Get("k")}
			return r.Body, nil
		}); err != nil {
			t.Fatal(err)
		}
		c := dialZMTP(t, srv.Info().RPC, zmtp.Dealer)
		exchange := func(meta []byte, withMeta bool) [][]byte {
			t.Helper()
			frames := requestFrames(1, 5000, "echo", nil, []byte("body"))
			if withMeta {
				frames = requestFrames(1, 5000, "echo", meta, []byte("body"))
			}
			if err := c.WriteMessage(frames); err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			return readWithin(t, c, 10*time.Second)
		}
		// No metadata: REPLY of one frame after the header.
		if got := exchange(nil, false); len(got) != 3 || string(got[2]) != "body" {
			t.Fatalf("reply to a request without metadata: %s", describeFrames(got))
		}
		// Metadata: REPLY with the metadata frame before the body.
		got := exchange(encodeMeta(Metadata{"k": "v"}), true)
		if len(got) != 4 || string(got[3]) != "body" {
			t.Fatalf("reply to a request with metadata: %s", describeFrames(got))
		}
		if md, err := decodeMeta(got[2]); err != nil || md.Get("got") != "v" {
			t.Fatalf("reply metadata %q: %v, %v", got[2], md, err)
		}
		before := runs.Load()
		for name, meta := range map[string][]byte{
			"oversized": append(encodeMeta(Metadata{"k": strings.Repeat("v", MaxMetadataBytes-4)}), 1, 'x', 0, 0),
			"truncated": {5, 'a', 'b'},
			"bad key":   {1, 'A', 0, 0},
			"duplicate": {1, 'a', 0, 0, 1, 'a', 0, 0},
		} {
			got := exchange(meta, true)
			m, err := parseRPC(got)
			if err != nil || m.typ != typeError || m.code != CodeBadRequest {
				t.Fatalf("%s metadata: answered %s (%v), want CodeBadRequest", name, describeFrames(got), err)
			}
		}
		if n := runs.Load(); n != before {
			t.Fatalf("the handler ran for %d requests with bad metadata", n-before)
		}
		cli := e.peer("raw-meta-cli")
		if r, err := cli.Call(e.ctx(10*time.Second), "echo", []byte("still")); err != nil || string(r) != "still" {
			t.Fatalf("after bad metadata: %q, %v", r, err)
		}
	})
}
