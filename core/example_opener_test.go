package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
)

// A registry scheme of the program's own: "mem://NAME" names one of its
// in-memory registries. toolbox/consensus gives "kv://" this way.
func ExampleWithRegistryOpener() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shared := core.NewMemRegistry()
	open := func(addr string, _ ...core.Option) (core.Registry, error) {
		if addr != "mem://shared" {
			return nil, fmt.Errorf("no registry %q", addr)
		}
		return shared, nil
	}
	opener := core.WithRegistryOpener("mem", open)

	a, err := core.NewPeer(ctx, "a", core.WithRegistryAddress("mem://shared"), opener)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	a.HandleFunc("hello", func(context.Context, *core.Request) ([]byte, error) { return []byte("hi from a"), nil })

	b, err := core.NewPeer(ctx, "b", core.WithRegistryAddress("mem://shared"), opener)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	reply, err := b.Call(ctx, "hello", nil)
	fmt.Println(string(reply), err)

	_, err = core.NewPeer(ctx, "c", core.WithRegistryAddress("etcd://somewhere"))
	fmt.Println(err)
	// Output:
	// hi from a <nil>
	// core: unknown registry address scheme "etcd" in "etcd://somewhere": give the peer WithRegistryOpener for it
}
