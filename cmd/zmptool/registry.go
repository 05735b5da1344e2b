package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func registryCommand() *cli.Command {
	return &cli.Command{
		Name:  "registry",
		Usage: "run a registry node that other hosts' nodes point at with ZMP_REGISTRY",
		Description: "Serves an in-memory registry until interrupted. Point nodes at it with\n" +
			"ZMP_REGISTRY=<endpoint>; entries live while their nodes renew their leases.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "tcp://127.0.0.1:5550", Usage: "endpoint to serve on", EnvVars: []string{"ZMP_REGISTRY_LISTEN"}},
			&cli.DurationFlag{Name: "stats", Value: 0, Usage: "print the number of live nodes at this interval (0: never)", EnvVars: []string{"ZMP_STATS_INTERVAL"}},
		}, securityFlags()...),
		Action: noArgs(func(c *cli.Context) error {
			var opts []core.Option
			sec, err := securityOption(c)
			if err != nil {
				return err
			}
			if sec != nil {
				opts = append(opts, sec)
			}
			srv, err := core.NewRegistryServer(c.Context, c.String("listen"), nil, opts...)
			if err != nil {
				return err
			}
			defer srv.Close()
			fmt.Fprintf(c.App.Writer, "registry serving on %s\n", srv.Endpoint())
			fmt.Fprintf(c.App.Writer, "nodes use ZMP_REGISTRY=%s\n", srv.Address())
			return serveUntilDone(c.Context, c.Duration("stats"), func() {
				nodes, err := srv.Peer().Registry().Nodes(c.Context)
				if err == nil {
					fmt.Fprintf(c.App.Writer, "%s  %d live nodes\n", time.Now().Format(time.TimeOnly), len(nodes))
				}
			})
		}),
	}
}

// serveUntilDone calls report every interval (when positive) until ctx ends.
func serveUntilDone(ctx context.Context, interval time.Duration, report func()) error {
	if interval <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			report()
		}
	}
}
