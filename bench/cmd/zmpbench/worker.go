package main

import (
	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

const (
	roleServe = harness.RoleServe
	roleDrive = harness.RoleDrive
)

// workerCommand is "serve" or "drive": one side of one measurement,
// started by compare. Its flags are those of harness.Job.Args.
func workerCommand(role string) *cli.Command {
	usage := "worker: the server side of one measurement (started by compare)"
	if role == roleDrive {
		usage = "worker: the client side of one measurement (started by compare)"
	}
	return &cli.Command{
		Name:         role,
		Usage:        usage,
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "system", Required: true},
			&cli.StringFlag{Name: "case", Required: true},
			&cli.StringFlag{Name: "transport", Value: spec.TCP},
			&cli.IntFlag{Name: "size", Value: spec.Small},
			&cli.IntFlag{Name: "inflight", Value: 1},
			&cli.IntFlag{Name: "subs", Value: 1},
			&cli.StringFlag{Name: "dir", Required: true, Usage: "private directory of the measurement"},
			&cli.StringFlag{Name: "addr", Usage: "drive: the server's address"},
			&cli.DurationFlag{Name: "duration", Usage: "drive: measured window"},
			&cli.DurationFlag{Name: "warmup", Usage: "drive: warm-up"},
			&cli.StringFlag{Name: "cpus", Usage: "CPU list to bind the process to"},
		},
		Action: func(c *cli.Context) error {
			job, err := workerJob(c)
			if err != nil {
				return err
			}
			if role == roleServe {
				return harness.Serve(c.Context, job, c.App.Reader, c.App.Writer)
			}
			return harness.Drive(c.Context, job, c.App.Reader, c.App.Writer)
		},
	}
}

func workerJob(c *cli.Context) (harness.Job, error) {
	cs, err := spec.ParseCase(c.String("case"))
	if err != nil {
		return harness.Job{}, usageError{err}
	}
	v := spec.Variant{Case: cs, Transport: c.String("transport"), Size: c.Int("size"), Inflight: c.Int("inflight"), Subs: c.Int("subs")}
	return harness.Job{System: c.String("system"), Variant: v, Dir: c.String("dir"), Addr: c.String("addr"),
		Duration: c.Duration("duration"), Warmup: c.Duration("warmup"), CPUs: c.String("cpus")}, nil
}
