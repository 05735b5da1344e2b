package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gozmp/zmp/core"
)

// envTestDir names a directory where test kinds leave marks: a node
// named N writes N.teardown with the time of its Teardown.
const envTestDir = "ZMP_AGENT_TEST_DIR"

func mustTestLauncher() *core.Launcher {
	l, err := core.NewLauncher(core.WithArgs("-test.run=^$"))
	if err != nil {
		panic(err)
	}
	err = errors.Join(
		l.Register("calc", calcKind),
		l.RegisterArgs("greeter", newGreeter),
		l.RegisterArgs("chatty", chattyKind),
		l.RegisterArgs("exiter", exiterKind),
		l.Register("stubborn", stubbornKind),
		l.Register("failstart", failStartKind),
	)
	if err != nil {
		panic(err)
	}
	return l
}

// provideCalc provides NAME.pid (the node's PID) and NAME.echo on p.
func provideCalc(p *core.Peer) error {
	return errors.Join(
		core.Provide(p, p.Name()+".pid", func(context.Context, struct{}) (int, error) { return os.Getpid(), nil }),
		p.HandleFunc(p.Name()+".echo", func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil }),
	)
}

// calcKind serves NAME.pid and NAME.echo and marks its teardown.
func calcKind() core.Behavior {
	return core.Behavior{
		Setup: func(_ context.Context, p *core.Peer) error { return provideCalc(p) },
		Teardown: func(_ context.Context, p *core.Peer) error {
			if dir := os.Getenv(envTestDir); dir != "" {
				stamp := strconv.FormatInt(time.Now().UnixNano(), 10)
				return os.WriteFile(filepath.Join(dir, p.Name()+".teardown"), []byte(stamp), 0o600)
			}
			return nil
		},
	}
}

// newGreeter serves NAME.greet, answering "<greeting>, <who>"; its
// arguments are --greeting (default hello) and --delay, how long its
// Setup takes.
func newGreeter(args []string) (core.Behavior, error) {
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	greeting := fs.String("greeting", "hello", "what to say")
	delay := fs.Duration("delay", 0, "how long Setup takes")
	if err := fs.Parse(args); err != nil {
		return core.Behavior{}, err
	}
	return core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
		time.Sleep(*delay)
		return core.Provide(p, p.Name()+".greet", func(_ context.Context, who string) (string, error) {
			return *greeting + ", " + who, nil
		})
	}}, nil
}

// chattyKind writes --lines lines "line <i>" on start, then one more
// "tick <i>" every --every (0: never), half on stdout, half on stderr.
func chattyKind(args []string) (core.Behavior, error) {
	fs := flag.NewFlagSet("chatty", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	lines := fs.Int("lines", 0, "lines written on start")
	every := fs.Duration("every", 0, "interval of the ticks")
	if err := fs.Parse(args); err != nil {
		return core.Behavior{}, err
	}
	b := core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
		for i := range *lines {
			w := os.Stdout
			if i%2 == 1 {
				w = os.Stderr
			}
			fmt.Fprintf(w, "line %d\n", i)
		}
		return provideCalc(p)
	}}
	if *every > 0 {
		tick := 0
		b.Update = func(ctx context.Context, _ *core.Peer, _ time.Duration) error {
			fmt.Printf("tick %d\n", tick)
			tick++
			select {
			case <-ctx.Done():
			case <-time.After(*every):
			}
			return nil
		}
	}
	return b, nil
}

// exiterKind ends by itself --after its start: normally (exit 0), or
// with an error when --fail is given.
func exiterKind(args []string) (core.Behavior, error) {
	fs := flag.NewFlagSet("exiter", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	after := fs.Duration("after", 100*time.Millisecond, "run this long")
	fail := fs.Bool("fail", false, "end with an error")
	if err := fs.Parse(args); err != nil {
		return core.Behavior{}, err
	}
	var start time.Time
	return core.Behavior{
		Setup: func(_ context.Context, p *core.Peer) error {
			start = time.Now()
			return provideCalc(p)
		},
		Update: func(context.Context, *core.Peer, time.Duration) error {
			if time.Since(start) < *after {
				return nil
			}
			if *fail {
				return errors.New("exiter: failing on purpose")
			}
			return core.ErrStop
		},
	}, nil
}

// stubbornKind serves calc but takes 30 s to tear down: it is killed
// at its shutdown.
func stubbornKind() core.Behavior {
	return core.Behavior{
		Setup: func(_ context.Context, p *core.Peer) error { return provideCalc(p) },
		Teardown: func(context.Context, *core.Peer) error {
			time.Sleep(30 * time.Second)
			return nil
		},
	}
}

// failStartKind's Setup fails, after a line on stderr.
func failStartKind() core.Behavior {
	return core.Behavior{Setup: func(context.Context, *core.Peer) error {
		fmt.Fprintln(os.Stderr, "failstart: cannot start")
		return errors.New("failstart: setup refused")
	}}
}
