package coretest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// A Network between a caller and its provider lets a test cut the
// link and watch the caller reconnect.
func ExampleNetwork() {
	ctx := context.Background()
	reg := core.NewMemRegistry()
	srv, _ := core.NewPeer(ctx, "srv", core.WithRegistry(reg))
	defer srv.Close()
	srv.HandleFunc("echo", func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil })

	net := coretest.NewNetwork()
	cli, _ := core.NewPeer(ctx, "cli", core.WithRegistry(reg), net.Option())
	defer cli.Close()

	call := func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := cli.Call(ctx, "echo", []byte("hi"))
		return err
	}
	fmt.Println("before the cut:", call())
	cut := net.Cut(strings.TrimPrefix(srv.Info().RPC, "tcp://"))
	fmt.Println("connections cut:", cut)
	err := call()
	for errors.Is(err, core.ErrConnectionLost) { // only a call in flight can see the cut
		err = call()
	}
	fmt.Println("after the cut:", err)
	// Output:
	// before the cut: <nil>
	// connections cut: 1
	// after the cut: <nil>
}
