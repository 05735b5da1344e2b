package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// Repetitions of each scale point (2 keeps the full scale cases near
// 2.5 minutes), and samples of the time-to-first figures per point,
// full and quick.
const (
	scaleReps         = 2
	scaleSamples      = 5
	quickScaleSamples = 3
)

// withScaleFlags adds the flags of the scale cases to compare.
func withScaleFlags(cmd *cli.Command) *cli.Command {
	cmd.Flags = append(cmd.Flags,
		&cli.StringFlag{Name: "scale", Value: "all", EnvVars: []string{"ZMP_BENCH_SCALE"}, Usage: "scale cases, zmp only, run after the others: callers, subscribers, registry (registry-dir, registry-node), topics; all or none"},
		&cli.IntFlag{Name: "scale-reps", Value: scaleReps, EnvVars: []string{"ZMP_BENCH_SCALE_REPS"}, Usage: "repetitions of each scale point (medians); --quick: 1"},
		&cli.IntFlag{Name: "scale-samples", Value: scaleSamples, EnvVars: []string{"ZMP_BENCH_SCALE_SAMPLES"}, Usage: "fresh callers, subscribers and zmptool runs timed per scale point (medians); --quick: 3"},
		&cli.StringFlag{Name: "zmptool", EnvVars: []string{"ZMP_BENCH_ZMPTOOL"}, Usage: "zmptool binary timed by the registry scale cases (default: zmptool beside the worker binary)"},
	)
	return cmd
}

// scaleConfig reads the scale flags into cfg. The scale cases run zmp
// only: none run when zmp is not among the systems.
func scaleConfig(c *cli.Context, cfg *harness.Config) error {
	cases, err := spec.ParseScale(c.String("scale"))
	if err != nil {
		return usageError{err}
	}
	if !slices.Contains(cfg.Systems, "zmp") {
		cases = nil
	}
	sc := harness.ScaleConfig{Cases: cases, Quick: c.Bool("quick"), Reps: c.Int("scale-reps"), Samples: c.Int("scale-samples"), Zmptool: c.String("zmptool")}
	if sc.Quick {
		sc.Reps = ifUnset(c, "scale-reps", sc.Reps, 1)
		sc.Samples = ifUnset(c, "scale-samples", sc.Samples, quickScaleSamples)
	}
	if sc.Reps < 1 || sc.Samples < 1 {
		return usage("--scale-reps and --scale-samples must be at least 1")
	}
	if sc.Zmptool == "" {
		sc.Zmptool = besideExe(cfg.Exe, "zmptool")
	}
	cfg.Scale = sc
	return nil
}

// besideExe returns the executable name in exe's directory, or "" when
// there is none.
func besideExe(exe, name string) string {
	p := filepath.Join(filepath.Dir(exe), name)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// noCases reports whether --cases names no case: a run of scale cases
// only.
func noCases(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s == "none"
}

// scaleWorkerCommand is "scale-serve" or "scale-drive": one side of one
// scale measurement, started by compare. Its flags are those of
// harness.ScaleJob.Args.
func scaleWorkerCommand(role string) *cli.Command {
	return &cli.Command{
		Name:         role,
		Usage:        "worker: one side of one scale measurement (started by compare)",
		OnUsageError: onUsageError,
		Hidden:       true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "case", Required: true},
			&cli.IntFlag{Name: "size", Required: true},
			&cli.StringFlag{Name: "dir", Required: true, Usage: "private directory of the measurement"},
			&cli.StringFlag{Name: "addr", Usage: "drive: what the server said to use"},
			&cli.DurationFlag{Name: "duration", Usage: "drive: measured window"},
			&cli.DurationFlag{Name: "warmup", Usage: "drive: warm-up"},
			&cli.IntFlag{Name: "samples", Value: 1, Usage: "drive: fresh clients timed"},
		},
		Action: func(c *cli.Context) error {
			cs, err := spec.ParseScaleCase(c.String("case"))
			if err != nil {
				return usageError{err}
			}
			job := harness.ScaleJob{Point: spec.ScalePoint{Case: cs, Size: c.Int("size")}, Dir: c.String("dir"), Addr: c.String("addr"),
				Duration: c.Duration("duration"), Warmup: c.Duration("warmup"), Samples: c.Int("samples")}
			if job.Point.Size < 1 {
				return usage("--size must be at least 1")
			}
			stop, err := startScaleProfile(role, job.Point)
			if err != nil {
				return err
			}
			defer stop()
			if role == harness.RoleScaleServe {
				return harness.ScaleServe(c.Context, job, c.App.Reader, c.App.Writer)
			}
			return harness.ScaleDrive(c.Context, job, c.App.Reader, c.App.Writer)
		},
	}
}

// startScaleProfile writes a CPU profile of the worker into
// $ZMP_BENCH_CPUPROFILE when it is set, named after role and point.
func startScaleProfile(role string, pt spec.ScalePoint) (stop func(), err error) {
	return profileTo(role + "-" + pt.ID() + ".prof")
}
