package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/report"
)

// renderCommand redraws the table, Markdown and SVG of a finished run
// from its compare.json, without measuring again, and with --docs the
// results section of the docs page.
func renderCommand() *cli.Command {
	return &cli.Command{
		Name:         "render",
		Usage:        "redraw the table, compare.md and compare.svg from a run's compare.json",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Value: defaultOut(), EnvVars: []string{"ZMP_BENCH_OUT"}, Usage: "directory holding compare.json; the files are rewritten there"},
			docsFlag(),
		},
		Action: func(c *cli.Context) error {
			dir := c.String("out")
			b, err := os.ReadFile(filepath.Join(dir, report.FileJSON))
			if err != nil {
				return err
			}
			var run harness.Run
			if err := json.Unmarshal(b, &run); err != nil {
				return fmt.Errorf("%s: %w", report.FileJSON, err)
			}
			report.Text(c.App.Writer, &run)
			files, err := report.WriteFiles(dir, &run)
			docs, derr := writeDocs(c, &run)
			files, err = append(files, docs...), errors.Join(err, derr)
			for _, f := range files {
				fmt.Fprintln(c.App.ErrWriter, "wrote", f)
			}
			return err
		},
	}
}
