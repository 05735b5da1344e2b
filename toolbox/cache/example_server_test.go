package cache_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/cache"
)

// A cache server on one peer, a client on another: set, get,
// compare-and-set by version, delete.
func ExampleNewServer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	node, err := core.NewPeer(ctx, "cache-node", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	srv, err := cache.NewServer(node, "sessions", cache.WithServerMaxBytes(64<<20), cache.WithServerDefaultTTL(time.Hour))
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	app, err := core.NewPeer(ctx, "app", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer app.Close()
	c, err := cache.NewClient(app, "sessions")
	if err != nil {
		panic(err)
	}

	v1, _ := c.Set(ctx, "user:42", []byte("alice"), 0) // the server's default TTL: an hour
	value, version, _ := c.Get(ctx, "user:42")
	fmt.Printf("%s at version %d\n", value, version)

	_, err = c.CompareAndSet(ctx, "user:42", v1+10, []byte("mallory"), 0)
	fmt.Println("stale CAS:", errors.Is(err, cache.ErrVersionMismatch))
	v2, _ := c.CompareAndSet(ctx, "user:42", v1, []byte("bob"), cache.NoExpiry)
	fmt.Println("CAS to version", v2)

	deleted, _ := c.Delete(ctx, "user:42")
	_, _, err = c.Get(ctx, "user:42")
	fmt.Println("deleted:", deleted, "then:", errors.Is(err, cache.ErrNotFound))
	// Output:
	// alice at version 1
	// stale CAS: true
	// CAS to version 2
	// deleted: true then: true
}

// Read, modify, compare-and-set, retry on a conflict: an increment that
// loses no update however many clients run it at once.
func ExampleClient_CompareAndSet() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	node, err := core.NewPeer(ctx, "cache-node", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	srv, err := cache.NewServer(node, "")
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	app, err := core.NewPeer(ctx, "app", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer app.Close()
	c, _ := cache.NewClient(app, "")

	increment := func() error {
		for {
			value, version, err := c.Get(ctx, "hits")
			if err != nil && !errors.Is(err, cache.ErrNotFound) {
				return err
			}
			n := 0
			fmt.Sscan(string(value), &n) // version 0 and no value when absent
			_, err = c.CompareAndSet(ctx, "hits", version, []byte(fmt.Sprint(n+1)), cache.NoExpiry)
			if !errors.Is(err, cache.ErrVersionMismatch) {
				return err
			}
		}
	}
	for range 3 {
		if err := increment(); err != nil {
			panic(err)
		}
	}
	value, version, _ := c.Get(ctx, "hits")
	fmt.Printf("hits=%s at version %d\n", value, version)
	// Output: hits=3 at version 3
}
