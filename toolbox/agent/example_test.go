package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gozmp/zmp/core"
)

// A program registers its node kinds, becomes the node when the
// launcher re-executes it, and runs an agent; a controller places a
// node on that agent by name, places it again (adopted: nothing
// restarts), calls it, and is refused a conflicting placement.
// (A program of your own writes agent.New, agent.Spec… : this example
// lives inside the package so that its test binary knows the kind.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := core.NewLauncher()
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := l.RegisterArgs("greeter", newGreeter); err != nil {
		fmt.Println(err)
		return
	}
	if code, isChild := l.RunChild(); isChild {
		os.Exit(code) // this process was a node
	}

	dir, err := os.MkdirTemp("", "agent-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	reg, err := core.NewDirRegistry(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	a, err := New(l, WithName("host-1"), WithInsecure(true), // loopback only
		WithPeerOptions(core.WithRegistry(reg)), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := a.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close() // stops every node it placed

	ctl, err := core.NewPeer(ctx, "controller", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctl.Close()
	c := NewClient(ctl)
	spec := Spec{Name: "greeter-1", Kind: "greeter", Args: []string{"--greeting", "hej"}}
	st, err := c.Start(ctx, "host-1", spec)
	fmt.Println(st.State, st.Adopted, err)
	st, err = c.Start(ctx, "host-1", spec)
	fmt.Println(st.State, st.Adopted, err)

	fmt.Println(core.Call[string](ctx, ctl, "greeter-1.greet", "world", core.OnNode("greeter-1")))

	_, err = c.Start(ctx, "host-1", Spec{Name: "greeter-1", Kind: "greeter"})
	fmt.Println(errors.Is(err, ErrConflict))
	// Output:
	// running false <nil>
	// running true <nil>
	// hej, world <nil>
	// true
}
