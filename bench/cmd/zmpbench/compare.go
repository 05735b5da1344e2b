package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/report"
	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

// Durations of --quick, unless given.
const (
	quickDuration = 150 * time.Millisecond
	quickWarmup   = 50 * time.Millisecond
)

func compareCommand() *cli.Command {
	return withScaleFlags(&cli.Command{
		Name:         "compare",
		Usage:        "run every case on every system, interleaved, and report medians with ratios to zmp",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "systems", Value: strings.Join(systems.Names(), ","), EnvVars: []string{"ZMP_BENCH_SYSTEMS"}, Usage: "systems to compare, comma-separated"},
			&cli.StringFlag{Name: "cases", Value: joinCases(spec.Cases), EnvVars: []string{"ZMP_BENCH_CASES"}, Usage: "cases to run, comma-separated"},
			&cli.StringFlag{Name: "transports", Value: "tcp,ipc", EnvVars: []string{"ZMP_BENCH_TRANSPORTS"}, Usage: "transports, comma-separated"},
			&cli.StringFlag{Name: "security", Value: strings.Join(spec.Securities, ","), EnvVars: []string{"ZMP_BENCH_SECURITY"}, Usage: "security mechanisms, comma-separated: null, and curve for the CURVE variants"},
			&cli.IntFlag{Name: "reps", Value: 3, EnvVars: []string{"ZMP_BENCH_REPS"}, Usage: "repetitions of each measurement (medians are reported)"},
			&cli.DurationFlag{Name: "duration", Value: 2 * time.Second, EnvVars: []string{"ZMP_BENCH_DURATION"}, Usage: "measured window of each measurement"},
			&cli.DurationFlag{Name: "warmup", Value: 300 * time.Millisecond, EnvVars: []string{"ZMP_BENCH_WARMUP"}, Usage: "warm-up before each window"},
			&cli.BoolFlag{Name: "quick", EnvVars: []string{"ZMP_BENCH_QUICK"}, Usage: "smoke test: 150 ms windows, 1 repetition (unless given)"},
			&cli.StringFlag{Name: "out", Value: defaultOut(), EnvVars: []string{"ZMP_BENCH_OUT"}, Usage: "directory for compare.md, compare.svg, compare.json"},
			docsFlag(),
			&cli.StringFlag{Name: "pin-rtt", Value: "auto", EnvVars: []string{"ZMP_BENCH_PIN_RTT"}, Usage: "CPU list both processes of the rtt case bind to (auto: the first CPU allowed; \"\" for none): keeps cross-CPU wake-ups out of the round trip"},
			&cli.Int64Flag{Name: "rss-limit", Value: 4096, EnvVars: []string{"ZMP_BENCH_RSS_LIMIT"}, Usage: "MiB; a worker process above it is killed"},
			&cli.StringFlag{Name: "exe", EnvVars: []string{"ZMP_BENCH_EXE"}, Usage: "zmpbench binary that runs the workers (default: this one)"},
			&cli.StringFlag{Name: "libzmq-exe", EnvVars: []string{"ZMP_BENCH_LIBZMQ_EXE"}, Usage: "zmpbench built with -tags libzmq, for the libzmq workers only (default: the worker binary)"},
		},
		Action: compareAction,
	})
}

// defaultOut is bench/results from the repository root, else results.
func defaultOut() string {
	if _, err := os.Stat("bench/go.mod"); err == nil {
		return "bench/results"
	}
	return "results"
}

func compareAction(c *cli.Context) error {
	cfg, err := compareConfig(c)
	if err != nil {
		return err
	}
	run, err := harness.Compare(c.Context, cfg)
	if run == nil {
		return err
	}
	report.Text(c.App.Writer, run)
	files, werr := report.WriteFiles(c.String("out"), run)
	if err == nil { // a run cut short does not go into the docs
		docs, derr := writeDocs(c, run)
		files, werr = append(files, docs...), errors.Join(werr, derr)
	}
	for _, f := range files {
		fmt.Fprintln(c.App.ErrWriter, "wrote", f)
	}
	return errors.Join(err, werr, failures(run))
}

// docsFlag names the page whose results section compare and render
// rewrite; off by default, so that only `make bench-compare` does.
func docsFlag() cli.Flag {
	return &cli.StringFlag{Name: "docs", EnvVars: []string{"ZMP_BENCH_DOCS"},
		Usage: "Markdown page whose results section (between the zmpbench:results markers) is rewritten from the run, its chart written next to it as .svg (make bench-compare: docs/performance.md); default: none"}
}

// writeDocs rewrites the --docs page, if given.
func writeDocs(c *cli.Context, run *harness.Run) ([]string, error) {
	page := c.String("docs")
	if page == "" {
		return nil, nil
	}
	return report.WriteDocs(page, run)
}

// failures is an error naming the failed measurements, if any.
func failures(run *harness.Run) error {
	var n int
	for _, m := range run.Measurements {
		if m.Error != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d measurements failed (see compare.json)", n, len(run.Measurements))
}

func compareConfig(c *cli.Context) (harness.Config, error) {
	cfg := harness.Config{Reps: c.Int("reps"), Duration: c.Duration("duration"), Warmup: c.Duration("warmup"),
		RSSLimitMiB: c.Int64("rss-limit"), Stderr: c.App.ErrWriter, Exe: c.String("exe"), PinRTT: c.String("pin-rtt")}
	if c.Bool("quick") {
		cfg.Reps, cfg.Duration, cfg.Warmup = ifUnset(c, "reps", cfg.Reps, 1), ifUnset(c, "duration", cfg.Duration, quickDuration), ifUnset(c, "warmup", cfg.Warmup, quickWarmup)
	}
	if cfg.Reps < 1 || cfg.Duration <= 0 || cfg.Warmup < 0 {
		return cfg, usage("--reps must be at least 1 and --duration positive")
	}
	var err error
	if cfg.PinRTT != "" {
		if cfg.PinRTT, err = harness.ResolveCPUs(cfg.PinRTT); err != nil {
			return cfg, usageError{err}
		}
	}
	if cfg.Systems, err = parseSystems(c.String("systems")); err != nil {
		return cfg, err
	}
	if cfg.Exe == "" {
		if cfg.Exe, err = os.Executable(); err != nil {
			return cfg, err
		}
	}
	if err = scaleConfig(c, &cfg); err != nil {
		return cfg, err
	}
	if noCases(c.String("cases")) && len(cfg.Scale.Cases) > 0 {
		return cfg, nil // scale cases only
	}
	if cfg.Variants, err = parseVariants(c.String("cases"), c.String("transports"), c.String("security")); err != nil {
		return cfg, err
	}
	if lz := c.String("libzmq-exe"); lz != "" {
		cfg.Exes = map[string]string{"libzmq": lz}
		if cfg.Versions, err = readVersions(c.Context, lz); err != nil {
			return cfg, fmt.Errorf("--libzmq-exe: %w", err)
		}
	}
	if commit := zmpCommit(c.Context); commit != "" {
		if cfg.Versions == nil {
			cfg.Versions = map[string]string{}
		}
		cfg.Versions[report.CommitKey] = commit
	}
	return cfg, nil
}

// zmpCommit is the commit of zmp measured: the one this binary was
// built from (what `go build` stamps), else the one checked out here,
// with "-dirty" when files were modified; "" when neither is known.
func zmpCommit(ctx context.Context) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch {
			case s.Key == "vcs.revision":
				rev = s.Value
			case s.Key == "vcs.modified" && s.Value == "true":
				dirty = "-dirty"
			}
		}
		if len(rev) >= 7 {
			return rev[:7] + dirty
		}
	}
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short=7", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if exec.CommandContext(ctx, "git", "diff-index", "--quiet", "HEAD", "--").Run() != nil {
		rev += "-dirty"
	}
	return rev
}

// readVersions asks a zmpbench binary for the versions it was built with.
func readVersions(ctx context.Context, exe string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, exe, "versions").Output()
	if err != nil {
		return nil, err
	}
	var v map[string]string
	return v, json.Unmarshal(out, &v)
}

// ifUnset returns quick unless the flag was given.
func ifUnset[T any](c *cli.Context, flag string, given, quick T) T {
	if c.IsSet(flag) {
		return given
	}
	return quick
}

func parseSystems(s string) ([]string, error) {
	names := split(s)
	for _, n := range names {
		if _, err := systems.Lookup(n); err != nil {
			return nil, usageError{err}
		}
	}
	// Report order is the registry's, zmp first.
	var out []string
	for _, n := range systems.Names() {
		if slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, usage("no systems given")
	}
	return out, nil
}

func parseVariants(cases, transports, security string) ([]spec.Variant, error) {
	var cs []spec.Case
	for _, s := range split(cases) {
		c, err := spec.ParseCase(s)
		if err != nil {
			return nil, usageError{err}
		}
		cs = append(cs, c)
	}
	ts := split(transports)
	for _, t := range ts {
		if t != spec.TCP && t != spec.IPC {
			return nil, usage("unknown transport %q (tcp, ipc)", t)
		}
	}
	var secs []string
	for _, s := range split(security) {
		sec, err := spec.ParseSecurity(s)
		if err != nil {
			return nil, usageError{err}
		}
		secs = append(secs, sec)
	}
	vs := spec.KeepSecurity(spec.Matrix(cs, ts), secs)
	if len(vs) == 0 {
		return nil, usage("no variant of cases %q on transports %q with security %q", cases, transports, security)
	}
	return vs, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func joinCases(cs []spec.Case) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ",")
}
