package core_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/gozmp/zmp/core"
)

// A kind that takes arguments parses them in its constructor, which
// NewNode also calls to check them: bad arguments are an error before
// anything starts. A child-process node gets its arguments with its
// configuration; this one runs in-process to keep the example short.
func ExampleLauncher_RegisterArgs() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := core.NewLauncher()
	if err != nil {
		fmt.Println(err)
		return
	}
	err = l.RegisterArgs("greeter", func(args []string) (core.Behavior, error) {
		fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		greeting := fs.String("greeting", "hello", "what to say")
		if err := fs.Parse(args); err != nil {
			return core.Behavior{}, err
		}
		return core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
			return core.Provide(p, "greet", func(_ context.Context, who string) (string, error) {
				return *greeting + ", " + who, nil
			})
		}}, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if code, isChild := l.RunChild(); isChild {
		fmt.Println("exit", code) // a real program calls os.Exit(code)
		return
	}
	reg := core.NewMemRegistry()

	_, err = l.NewNode("greeter", "g1", core.WithKindArgs("--colour", "red"))
	fmt.Println(errors.Is(err, core.ErrBadArgs))

	n, err := l.NewNode("greeter", "g1", core.WithKindArgs("--greeting", "bonjour"),
		core.WithInProcess(true), core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	if err := n.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	caller, err := core.NewPeer(ctx, "caller", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer caller.Close()
	fmt.Println(core.Call[string](ctx, caller, "greet", "world"))
	// Output:
	// true
	// bonjour, world <nil>
}
