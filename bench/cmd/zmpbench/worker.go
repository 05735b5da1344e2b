package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

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
			&cli.StringFlag{Name: "security", Value: "null", Usage: "null or curve"},
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
			stop, err := startProfile(role, job)
			if err != nil {
				return err
			}
			defer stop()
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
	sec, err := spec.ParseSecurity(c.String("security"))
	if err != nil {
		return harness.Job{}, usageError{err}
	}
	v := spec.Variant{Case: cs, Transport: c.String("transport"), Size: c.Int("size"), Inflight: c.Int("inflight"), Subs: c.Int("subs"), Security: sec}
	return harness.Job{System: c.String("system"), Variant: v, Dir: c.String("dir"), Addr: c.String("addr"),
		Duration: c.Duration("duration"), Warmup: c.Duration("warmup"), CPUs: c.String("cpus")}, nil
}

// envProfile names a directory: when set, every worker writes a CPU
// profile there, named after its role and variant.
const envProfile = "ZMP_BENCH_CPUPROFILE"

func startProfile(role string, job harness.Job) (stop func(), err error) {
	v := job.Variant
	return profileTo(fmt.Sprintf("%s-%s-%s-%s-%dB-in%d-s%d%s.prof", role, job.System, v.Case, v.Transport, v.Size, v.Inflight, v.Subs, curveSuffix(v)))
}

// profileTo writes a CPU profile into the file name in
// $ZMP_BENCH_CPUPROFILE when it is set, until stop.
func profileTo(name string) (stop func(), err error) {
	dir := os.Getenv(envProfile)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// curveSuffix tells a CURVE variant's profile from its NULL one's.
func curveSuffix(v spec.Variant) string {
	if v.IsCurve() {
		return "-curve"
	}
	return ""
}
