package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/cache"
)

// A local cache bounded by entries and bytes, with a TTL and a callback
// that reports why entries leave.
func ExampleNew() {
	c, err := cache.New[[]byte](
		cache.WithMaxEntries(1000),
		cache.WithMaxBytes(1<<20),
		cache.WithPolicy(cache.ARC),
		cache.WithOnEvict(func(key string, _ []byte, why cache.Reason) { fmt.Println(key, why) }),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Set("session:42", []byte("alice"), 50*time.Millisecond)
	v, ok := c.Get("session:42")
	fmt.Printf("%s %v\n", v, ok)
	time.Sleep(200 * time.Millisecond) // the expiry is reported without a Get
	_, ok = c.Get("session:42")
	fmt.Println(ok)
	// Output:
	// alice true
	// session:42 expired
	// false
}

// A provider memoizes its service: repeated requests are answered from
// the memo, and an invalidation drops them.
func ExampleMemo_Server() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	memo, err := cache.NewMemo(cache.MemoTTL(time.Minute), cache.MemoServices("price"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer memo.Close()
	srv, err := core.NewPeer(ctx, "shop", core.WithRegistry(reg), core.WithServerInterceptors(memo.Server()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	lookups := 0
	core.Provide(srv, "price", func(_ context.Context, item string) (int, error) {
		lookups++ // one call at a time below
		return 100 + len(item), nil
	})

	cli, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	for range 3 {
		p, err := core.Call[int](ctx, cli, "price", "teapot")
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p)
	}
	memo.InvalidatePrefix(cache.ServicePrefix("price")) // prices changed
	core.Call[int](ctx, cli, "price", "teapot")
	st := memo.Stats()
	fmt.Printf("%d lookups, %d hits, %d misses\n", lookups, st.MemoHits, st.MemoMisses)
	// Output:
	// 106
	// 106
	// 106
	// 2 lookups, 2 hits, 2 misses
}

// A caller memoizes the calls it makes: a hit never leaves the process.
// Invalidations published by the provider reach it over pub/sub.
func ExampleMemo_Client() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	srv, err := core.NewPeer(ctx, "users", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	names := map[int]string{7: "ada"}
	core.Provide(srv, "user.name", func(_ context.Context, id int) (string, error) { return names[id], nil })

	memo, err := cache.NewMemo(cache.MemoTTL(time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer memo.Close()
	cli, err := core.NewPeer(ctx, "app", core.WithRegistry(reg), core.WithCallInterceptors(memo.Client()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	if err := memo.Attach(cli); err != nil { // listen on cache.DefaultInvalidationTopic
		fmt.Println(err)
		return
	}
	srv.Advertise(cache.DefaultInvalidationTopic)
	memo.Listeners()[0].WaitConnected(ctx, 1)

	name, _ := core.Call[string](ctx, cli, "user.name", 7)
	fmt.Println(name)
	names[7] = "ada lovelace" // the provider changes the user, then says so
	body, _ := cli.Codec().Marshal(7)
	cache.PublishInvalidation(srv, cache.DefaultInvalidationTopic,
		cache.Invalidation{Keys: []string{cache.ServiceKey("user.name", body)}})
	for memo.Stats().Entries > 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	name, _ = core.Call[string](ctx, cli, "user.name", 7)
	fmt.Println(name)
	// Output:
	// ada
	// ada lovelace
}
