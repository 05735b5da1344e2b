// Command zmpbench compares zmp with raw Go TCP, ZeroMQ (go-zeromq/zmq4
// and libzmq), Go net/rpc and NATS on this machine, every case as two
// processes.
//
//	zmpbench compare [--systems zmp,tcp,...] [--cases rtt,...] [--security null,curve] [--reps 3] [--duration 2s] [--quick] [--out DIR] [--docs PAGE]
//	zmpbench render [--out DIR] [--docs PAGE]
//	zmpbench list
//	zmpbench hitratio [--trace zipf,oltp] [--keys 100000] [--length 2000000] [--capacities 1%,5%,10%] [--json] [--out DIR]
//
// compare prints a table with ratios to zmp and writes compare.md,
// compare.svg and compare.json to --out; with --docs, it also rewrites
// the results section of that Markdown page and the chart next to it. It starts its own workers,
// "zmpbench serve" and "zmpbench drive", one pair per measurement.
//
// hitratio replays synthetic cache traces against golang-lru's and
// toolbox/cache's LRU, 2Q and ARC and against W-TinyLFU caches, in
// process, and prints their hit ratios (see package hitratio).
//
// Exit status: 0 when every measurement succeeded, 1 when one failed or
// the run could not complete, 2 for a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/harness"
)

func main() { os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks an error of the command line.
type usageError struct{ error }

func usage(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err} }

// run builds the app with injected streams and maps its errors to exit
// codes in one place.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp(stdin, stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "zmpbench:", err)
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFailure
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:           "zmpbench",
		Usage:          "compare zmp with raw TCP, ZeroMQ, net/rpc and NATS, two processes per case",
		Reader:         stdin,
		Writer:         stdout,
		ErrWriter:      stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Commands: []*cli.Command{compareCommand(), hitratioCommand(), renderCommand(), listCommand(), versionsCommand(), workerCommand(roleServe), workerCommand(roleDrive),
			scaleWorkerCommand(harness.RoleScaleServe), scaleWorkerCommand(harness.RoleScaleDrive)},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usage("no command %q (see zmpbench help)", c.Args().First())
			}
			cli.ShowAppHelp(c)
			return usage("a command is required")
		},
	}
	return app
}
