package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
	"github.com/urfave/cli/v2"
)

// simParams are what `zmptool feedback sim` passes a scenario.
type simParams struct {
	seed     uint64
	duration time.Duration // 0: the scenario's own
	limiters []string      // empty: the scenario's own set
}

// simScenario is one loop `zmptool feedback sim --loop` can simulate: a
// thin adapter from the flags to one of toolbox/feedback's SimulateXxx
// functions.
type simScenario struct {
	name     string
	usage    string
	limiters bool // takes --limiters
	run      func(p simParams) (*feedback.SimReport, error)
}

// feedbackCommand is `zmptool feedback`: simulations of the control
// loops of toolbox/feedback.
func feedbackCommand() *cli.Command {
	return setUsageErrors(&cli.Command{
		Name:     "feedback",
		Category: "design",
		Usage:    "simulate toolbox/feedback's control loops and draw their traces",
		Description: "zmptool feedback sim runs one of toolbox/feedback's ready-made simulations on\n" +
			"virtual time and prints what it measured; --out draws set point, measurement and\n" +
			"actuation over time as SVG, --csv writes the trace. The same --seed gives the same\n" +
			"bytes. zmptool feedback loops lists the loops. docs/feedback.md explains each one.",
		Subcommands: []*cli.Command{feedbackSimCommand(), feedbackLoopsCommand()},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Errorf("unknown feedback command %q (sim or loops)", c.Args().First())}
			}
			return cli.ShowSubcommandHelp(c)
		},
	})
}

func feedbackSimCommand() *cli.Command {
	return &cli.Command{
		Name:      "sim",
		Usage:     "run a simulated control loop and draw its trace",
		UsageText: "zmptool feedback sim --loop NAME [--seed N] [--duration D] [--limiters a,b,...] [--out trace.svg] [--csv trace.csv] [--json]",
		Description: "Runs the loop's scenario (see zmptool feedback loops) with the seed given and\n" +
			"prints its figures. --limiters chooses the limiters drawn side by side where the\n" +
			"loop compares several. A simulation takes seconds of real time for minutes of\n" +
			"virtual time; Ctrl-C stops waiting for it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "loop", Usage: "the loop to simulate: " + strings.Join(scenarioNames(), ", "), EnvVars: []string{"ZMP_FEEDBACK_LOOP"}},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of every random draw", EnvVars: []string{"ZMP_FEEDBACK_SEED"}},
			&cli.DurationFlag{Name: "duration", Usage: "virtual time to simulate (0: the scenario's own)", EnvVars: []string{"ZMP_FEEDBACK_DURATION"}},
			&cli.StringFlag{Name: "limiters", Usage: "comma-separated limiters to compare, where the loop compares several (default: all)", EnvVars: []string{"ZMP_FEEDBACK_LIMITERS"}},
			&cli.StringFlag{Name: "out", Usage: "write the trace as SVG to this file (- for stdout)", EnvVars: []string{"ZMP_FEEDBACK_OUT"}},
			&cli.StringFlag{Name: "csv", Usage: "write the trace as CSV to this file (- for stdout)", EnvVars: []string{"ZMP_FEEDBACK_CSV"}},
			jsonFlag("print the figures as JSON"),
		},
		Action: noArgs(feedbackSim),
	}
}

func feedbackLoopsCommand() *cli.Command {
	return &cli.Command{
		Name:      "loops",
		Usage:     "list the loops feedback sim can simulate",
		UsageText: "zmptool feedback loops [--json]",
		Flags:     []cli.Flag{jsonFlag("print the list as JSON")},
		Action: noArgs(func(c *cli.Context) error {
			w := c.App.Writer
			if c.Bool("json") {
				type entry struct {
					Name     string `json:"name"`
					Usage    string `json:"usage"`
					Limiters bool   `json:"limiters"`
				}
				var out []entry
				for _, s := range simScenarios() {
					out = append(out, entry{s.name, s.usage, s.limiters})
				}
				return printJSON(w, out)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, s := range simScenarios() {
				fmt.Fprintf(tw, "%s\t%s\n", s.name, s.usage)
			}
			return tw.Flush()
		}),
	}
}

func scenarioNames() []string {
	var names []string
	for _, s := range simScenarios() {
		names = append(names, s.name)
	}
	sort.Strings(names)
	return names
}

func findScenario(name string) (simScenario, error) {
	for _, s := range simScenarios() {
		if s.name == name {
			return s, nil
		}
	}
	return simScenario{}, usageError{fmt.Errorf("unknown loop %q (%s)", name, strings.Join(scenarioNames(), ", "))}
}

func feedbackSim(c *cli.Context) error {
	if c.String("loop") == "" {
		return usageError{fmt.Errorf("feedback sim needs --loop (%s)", strings.Join(scenarioNames(), ", "))}
	}
	sc, err := findScenario(c.String("loop"))
	if err != nil {
		return err
	}
	p := simParams{seed: c.Uint64("seed"), duration: c.Duration("duration")}
	if p.duration < 0 {
		return usageError{fmt.Errorf("--duration %v: want ≥ 0", p.duration)}
	}
	if l := c.String("limiters"); l != "" {
		if !sc.limiters {
			return usageError{fmt.Errorf("--limiters does not apply to loop %q", sc.name)}
		}
		for _, name := range strings.Split(l, ",") {
			if name = strings.TrimSpace(name); name != "" {
				p.limiters = append(p.limiters, name)
			}
		}
	}
	if !c.Bool("json") {
		fmt.Fprintf(c.App.ErrWriter, "simulating %s (seed %d)...\n", sc.name, p.seed)
	}
	rep, err := runScenario(c.Context, sc, p)
	if err != nil {
		return err
	}
	if err := writeTraceFile(c, c.String("out"), rep.WriteSVG); err != nil {
		return err
	}
	if err := writeTraceFile(c, c.String("csv"), rep.WriteCSV); err != nil {
		return err
	}
	return printSimReport(c, rep)
}

// runScenario runs sc on a goroutine of its own so that Ctrl-C returns
// at once; the simulation, which holds no resources, is left to finish
// with the process.
func runScenario(ctx context.Context, sc simScenario, p simParams) (*feedback.SimReport, error) {
	type result struct {
		rep *feedback.SimReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := sc.run(p)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		if errors.Is(r.err, feedback.ErrSimConfig) || errors.Is(r.err, feedback.ErrInvalidLimitOption) {
			return nil, usageError{r.err}
		}
		return r.rep, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("simulation of %s interrupted", sc.name)
	}
}

// writeTraceFile writes what write draws to path ("" skips it, "-" is
// stdout); the file is written whole or not at all.
func writeTraceFile(c *cli.Context, path string, write func(io.Writer) error) error {
	if path == "" {
		return nil
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	if path == "-" {
		_, err := c.App.Writer.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func printSimReport(c *cli.Context, rep *feedback.SimReport) error {
	w := c.App.Writer
	if c.String("out") == "-" || c.String("csv") == "-" {
		w = c.App.ErrWriter // stdout holds the trace
	}
	if c.Bool("json") {
		return printJSON(w, struct {
			Loop    string               `json:"loop"`
			Seed    uint64               `json:"seed"`
			Windows int                  `json:"windows"`
			Metrics []feedback.SimMetric `json:"metrics"`
		}{rep.Name, rep.Seed, rep.Trace.Len(), rep.Metrics})
	}
	fmt.Fprintf(w, "%s, seed %d, %d windows\n", rep.Name, rep.Seed, rep.Trace.Len())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, m := range rep.Metrics {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.Name, formatMetric(m.Value), m.Unit)
	}
	return tw.Flush()
}

func formatMetric(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e15 && v > -1e15:
		return fmt.Sprintf("%d", int64(v))
	default:
		return fmt.Sprintf("%.4g", v)
	}
}
