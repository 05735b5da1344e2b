package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

func versionsCommand() *cli.Command {
	return &cli.Command{
		Name:         "versions",
		Usage:        "print the versions of the compared systems in this build, as JSON",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			return json.NewEncoder(c.App.Writer).Encode(harness.Describe().Versions)
		},
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:         "list",
		Usage:        "list the variants and which systems run them",
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprint(tw, "variant")
			for _, n := range systems.Names() {
				fmt.Fprintf(tw, "\t%s", n)
			}
			fmt.Fprintln(tw)
			for _, v := range spec.Matrix(spec.Cases, []string{spec.TCP, spec.IPC}) {
				fmt.Fprint(tw, v.ID())
				for _, n := range systems.Names() {
					sys, _ := systems.Lookup(n)
					mark := "yes"
					if why := sys.Unsupported(v); why != "" {
						mark = "– " + why
					}
					fmt.Fprintf(tw, "\t%s", mark)
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
}
