package cache_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/cache"
)

// A replica keeps a local copy of a cache server's contents: reads
// never leave the process, and it is told of each change.
func ExampleNewReplica() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	node, err := core.NewPeer(ctx, "cache-node", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	srv, err := cache.NewServer(node, "config")
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	writer, err := core.NewPeer(ctx, "admin", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer writer.Close()
	c, err := cache.NewClient(writer, "config")
	if err != nil {
		panic(err)
	}
	c.Set(ctx, "feature.x", []byte("on"), 0)

	app, err := core.NewPeer(ctx, "app", core.WithRegistry(reg))
	if err != nil {
		panic(err)
	}
	defer app.Close()
	changed := make(chan string, 16)
	r, err := cache.NewReplica(ctx, app, "config", cache.WithOnChange(func(key string, deleted bool) {
		changed <- key
	}))
	if err != nil {
		panic(err)
	}
	defer r.Close()
	if err := r.WaitSynced(ctx); err != nil { // the snapshot is in
		panic(err)
	}
	<-changed // feature.x, from the snapshot
	v, _ := r.Get("feature.x")
	fmt.Printf("feature.x=%s (%v)\n", v, r.Status().State)

	c.Set(ctx, "feature.x", []byte("off"), 0)
	fmt.Println("changed:", <-changed)
	it, _ := r.Lookup("feature.x")
	fmt.Printf("feature.x=%s at version %d\n", it.Value, it.Version)
	// Output:
	// feature.x=on (live)
	// changed: feature.x
	// feature.x=off at version 2
}
