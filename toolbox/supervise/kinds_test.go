package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gozmp/zmp/core"
)

// Node kinds of the test binary, run as child processes: TestMain's
// RunChild turns a re-executed copy of the binary into one. A kind
// cannot take arguments; what it needs from the test comes through
// $ZMP_SUPERVISE_DIR, which children inherit.
const envTestDir = "ZMP_SUPERVISE_DIR"

// testLauncher is the launcher of this test binary.
var testLauncher = mustTestLauncher()

func mustTestLauncher() *core.Launcher {
	l, err := core.NewLauncher(core.WithArgs("-test.run=^$"))
	if err != nil {
		panic(err)
	}
	kinds := map[string]func() core.Behavior{
		"calc": calcKind, "deaf": deafKind, "quitter": quitterKind, "failer": failOnceKind,
	}
	for name, k := range kinds {
		if err := l.Register(name, k); err != nil {
			panic(err)
		}
	}
	return l
}

type addReq struct{ A, B int }

// provideCalc provides "add" and "pid".
func provideCalc(p *core.Peer) error {
	if err := core.Provide(p, "add", func(_ context.Context, r addReq) (int, error) { return r.A + r.B, nil }); err != nil {
		return err
	}
	return core.Provide(p, "pid", func(context.Context, struct{}) (int, error) { return os.Getpid(), nil })
}

// calcKind serves add and pid until stopped.
func calcKind() core.Behavior {
	return core.Behavior{Setup: func(_ context.Context, p *core.Peer) error { return provideCalc(p) }}
}

// deafKind serves calc and ignores SIGTERM: only SIGKILL ends it.
func deafKind() core.Behavior {
	return core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
		signal.Ignore(syscall.SIGTERM)
		return provideCalc(p)
	}}
}

// quitterKind ends itself cleanly (core.ErrStop) on its first update:
// exit code 0, a normal exit.
func quitterKind() core.Behavior {
	return core.Behavior{Update: func(context.Context, *core.Peer, time.Duration) error { return core.ErrStop }}
}

var errFailOnce = errors.New("failing once on purpose")

// failOnceKind fails on its first update the first time a node of its
// name runs (exit code 1, an abnormal exit), then serves calc.
func failOnceKind() core.Behavior {
	var failed bool
	return core.Behavior{
		Setup: func(_ context.Context, p *core.Peer) error { return provideCalc(p) },
		Update: func(ctx context.Context, p *core.Peer, _ time.Duration) error {
			if failed {
				<-ctx.Done()
				return nil
			}
			mark := filepath.Join(os.Getenv(envTestDir), p.Name()+".failed")
			if _, err := os.Stat(mark); err == nil {
				failed = true
				return nil
			}
			if err := os.WriteFile(mark, nil, 0o600); err != nil {
				return fmt.Errorf("failer: %w", err)
			}
			return errFailOnce
		},
	}
}
