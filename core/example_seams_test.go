package core_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// A server interceptor that answers repeated requests from a memo, and
// one that sheds calls beyond a concurrency limit.
func ExampleWithServerInterceptors() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	var memo sync.Map
	cached := func(ctx context.Context, r *core.Request, next core.Handler) ([]byte, error) {
		key := r.Service + "\x00" + string(r.Body)
		if v, ok := memo.Load(key); ok {
			return v.([]byte), nil
		}
		body, err := next.ServeRPC(ctx, r)
		if err == nil {
			memo.Store(key, body)
		}
		return body, err
	}
	slots := make(chan struct{}, 8)
	limited := func(ctx context.Context, r *core.Request, next core.Handler) ([]byte, error) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			return next.ServeRPC(ctx, r)
		default:
			return nil, core.NewError(core.CodeOverloaded, "more than 8 calls at once")
		}
	}
	srv, err := core.NewPeer(ctx, "squares", core.WithRegistry(reg), core.WithServerInterceptors(limited, cached))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	runs := 0
	core.Provide(srv, "square", func(_ context.Context, x int) (int, error) {
		runs++ // one call at a time below
		return x * x, nil
	})

	cli, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	for range 3 {
		sq, err := core.Call[int](ctx, cli, "square", 12)
		fmt.Println(sq, err)
	}
	fmt.Println("handler runs:", runs)
	// Output:
	// 144 <nil>
	// 144 <nil>
	// 144 <nil>
	// handler runs: 1
}

// A call interceptor that stamps every call with a trace id, and a
// handler that reads it and answers with metadata of its own.
func ExampleWithCallInterceptors() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "traced", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.HandleFunc("hello", func(_ context.Context, r *core.Request) ([]byte, error) {
		r.ReplyMeta = core.Metadata{"served-by": "traced"}
		return []byte("hello, trace " + r.Meta.Get(core.MetaTraceID)), nil
	})

	n := 0
	trace := func(ctx context.Context, c *core.CallInfo, next core.Invoker) ([]byte, error) {
		n++
		md := c.Meta.Clone()
		if md == nil {
			md = core.Metadata{}
		}
		md[core.MetaTraceID] = fmt.Sprintf("t-%d", n)
		c.Meta = md
		return next(ctx, c)
	}
	cli, err := core.NewPeer(ctx, "client", core.WithRegistry(reg), core.WithCallInterceptors(trace))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	var md core.Metadata
	reply, err := cli.Call(ctx, "hello", nil, core.ReplyMetadata(&md))
	fmt.Println(string(reply), err, md.Get("served-by"))
	// Output:
	// hello, trace t-1 <nil> traced
}

// nearest is a toy balancer: the provider with the lowest latency seen.
type nearest struct{}

func (nearest) Pick(_ string, ps []core.Provider) int {
	best := 0
	for i, p := range ps {
		if p.Load().Latency < ps[best].Load().Latency {
			best = i
		}
	}
	return best
}

func ExampleBalancer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "echo-1", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.HandleFunc("echo", func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil })

	cli, err := core.NewPeer(ctx, "client", core.WithRegistry(reg), core.WithBalancer(nearest{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	reply, err := cli.Call(ctx, "echo", []byte("picked"))
	fmt.Println(string(reply), err)
	// Output:
	// picked <nil>
}

// A call to a node known by its address only, as Raft peers know each
// other: the caller's registry does not list it.
func ExampleAt() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := core.NewPeer(ctx, "member-1", core.WithRegistry(core.NewMemRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	srv.HandleFunc("term", func(context.Context, *core.Request) ([]byte, error) { return []byte("7"), nil })

	cli, err := core.NewPeer(ctx, "member-2", core.WithRegistry(core.NewMemRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	reply, err := cli.Call(ctx, "term", nil, core.At(srv.Info().RPC))
	fmt.Println(string(reply), err)
	// Output:
	// 7 <nil>
}

// An idempotent call is retried on another provider after a lost
// connection or a refusal; Hedge also races a second copy against a
// slow provider.
func ExampleIdempotent() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	busy, _ := core.NewPeer(ctx, "busy", core.WithRegistry(reg), core.WithServerInterceptors(
		func(context.Context, *core.Request, core.Handler) ([]byte, error) {
			return nil, core.NewError(core.CodeOverloaded, "shedding")
		}))
	defer busy.Close()
	free, _ := core.NewPeer(ctx, "free", core.WithRegistry(reg))
	defer free.Close()
	for _, p := range []*core.Peer{busy, free} {
		p.HandleFunc("read", func(context.Context, *core.Request) ([]byte, error) { return []byte("value"), nil })
	}
	cli, _ := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	defer cli.Close()
	for range 3 {
		reply, err := cli.Call(ctx, "read", nil, core.Idempotent(), core.Hedge(50*time.Millisecond))
		fmt.Println(string(reply), err)
	}
	// Output:
	// value <nil>
	// value <nil>
	// value <nil>
}

// A toolbox component reports its counters in the peer's zmp.stats,
// where any node (and zmptool info) can read them.
func ExamplePeer_AddStats() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	p, err := core.NewPeer(ctx, "worker", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	var mu sync.Mutex
	jobs := map[string]int{"done": 12, "failed": 1}
	remove, err := p.AddStats("jobs", func() any {
		mu.Lock()
		defer mu.Unlock()
		return jobs
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer remove()

	st, err := core.Call[core.Stats](ctx, p, core.IntrospectStats, nil, core.OnNode("worker"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(st.Extra["jobs"]))
	// Output:
	// {"done":12,"failed":1}
}
