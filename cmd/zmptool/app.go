package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks errors that should exit with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// run is zmptool: it returns the process exit code. A copy of zmptool
// started by its own Launcher becomes the requested node instead.
func run(args []string, stdout, stderr io.Writer) int {
	l, err := newLauncher()
	if err != nil {
		fmt.Fprintln(stderr, "zmptool:", err)
		return exitFailure
	}
	if code, isChild := l.RunChild(); isChild {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	app := newApp(l, stdout, stderr)
	if err := app.RunContext(ctx, flagsFirst(app, args)); err != nil {
		fmt.Fprintln(stderr, "zmptool:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}

func newApp(l *core.Launcher, stdout, stderr io.Writer) *cli.App {
	onUsage := func(c *cli.Context, err error, _ bool) error { return usageError{err} }
	app := &cli.App{
		Name:           "zmptool",
		Usage:          "run and inspect zmp systems",
		Version:        version(), // --version, -v (urfave/cli's VersionFlag)
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {}, // run maps errors to exit codes
		OnUsageError:   onUsage,
		Commands:       append(append([]*cli.Command{selftestCommand(l), registryCommand(), keygenCommand(), proxyCommand(), cacheCommand(), kvCommand(), feedbackCommand(), agentCommand(l)}, inspectCommands(l)...), agentCommands()...),
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Errorf("unknown command %q", c.Args().First())}
			}
			return cli.ShowAppHelp(c)
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsage
	}
	return app
}
