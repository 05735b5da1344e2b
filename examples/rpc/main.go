// Command rpc shows request/reply across processes.
//
//	go run ./examples/rpc            # starts two "calc" child processes and calls them
//	go run ./examples/rpc serve      # runs one calc provider until Ctrl-C
//	go run ./examples/rpc call 17 25 # calls add from another process (or another binary)
//
// Processes meet through the default registry directory; set
// ZMP_REGISTRY to use another directory or a registry node.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gozmp/zmp/core"
)

// Add is the request of the add service.
type Add struct{ A, B int }

func calc() core.Behavior {
	return core.Behavior{Setup: func(ctx context.Context, p *core.Peer) error {
		return core.Provide(p, "add", func(ctx context.Context, r Add) (int, error) {
			return r.A + r.B, nil
		})
	}}
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	l, err := core.NewLauncher()
	if err == nil {
		err = l.Register("calc", calc)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if code, isChild := l.RunChild(); isChild {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case len(args) == 0:
		err = demo(ctx, l)
	case args[0] == "serve":
		err = serve(ctx)
	case args[0] == "call" && len(args) == 3:
		err = call(ctx, args[1], args[2])
	default:
		fmt.Fprintln(os.Stderr, "usage: rpc [serve | call A B]")
		return 2
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rpc:", err)
		return 1
	}
	return 0
}

// demo starts two providers as child processes and spreads calls over them.
func demo(ctx context.Context, l *core.Launcher) error {
	for _, name := range []string{"calc-a", "calc-b"} {
		n, err := l.NewNode("calc", name)
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		defer n.Close()
		fmt.Printf("started %s as pid %d\n", name, n.Status().PID)
	}
	client, err := core.NewPeer(ctx, "")
	if err != nil {
		return err
	}
	defer client.Close()
	for i := range 4 {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		sum, err := core.Call[int](callCtx, client, "add", Add{i, 10})
		cancel()
		if err != nil {
			return err
		}
		fmt.Printf("add(%d, 10) = %d\n", i, sum)
	}
	return nil
}

func serve(ctx context.Context) error {
	n, err := core.NewNode("", calc())
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("%s serving add on %s; Ctrl-C to stop\n", n.Name(), n.Status().Info.RPC)
	<-ctx.Done()
	return n.Close()
}

func call(ctx context.Context, a, b string) error {
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("A and B must be integers")
	}
	client, err := core.NewPeer(ctx, "")
	if err != nil {
		return err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := core.Discover(ctx, client.Registry(), "add", 1); err != nil {
		return err
	}
	sum, err := core.Call[int](ctx, client, "add", Add{x, y})
	if err != nil {
		return err
	}
	fmt.Println(sum)
	return nil
}
