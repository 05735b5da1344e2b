package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func demoCommand(l *core.Launcher) *cli.Command {
	return &cli.Command{
		Name:     "demo",
		Category: "run",
		Usage:    "run a small system to try the other commands on, until Ctrl-C",
		Description: "Starts four nodes as child processes in the registry:\n" +
			"  calc-1, calc-2  provide selftest.add ({\"a\":1,\"b\":2} -> 3) and selftest.fail (a remote error, code 1001)\n" +
			"  sensor          publishes selftest.raw: 1, 2, 3, ... every --sensor-interval\n" +
			"  relay           subscribes to selftest.raw and publishes each value times 10 on selftest.scaled\n" +
			"Ctrl-C stops them gracefully.",
		Flags: []cli.Flag{
			registryFlag(),
			&cli.StringFlag{Name: "transport", Value: "tcp", Usage: "tcp or ipc", EnvVars: []string{"ZMP_TRANSPORT"}},
			&cli.DurationFlag{Name: "sensor-interval", Value: 100 * time.Millisecond, Usage: "how often sensor publishes", EnvVars: []string{"ZMP_SENSOR_INTERVAL"}},
		},
		Action: func(c *cli.Context) error { return demo(c, l) },
	}
}

// demoNodes are started in this order (subscribers before publishers).
var demoNodes = []struct{ kind, name string }{
	{kindCalc, "calc-1"}, {kindCalc, "calc-2"}, {kindRelay, "relay"}, {kindSensor, "sensor"},
}

func demo(c *cli.Context, l *core.Launcher) error {
	if _, err := argsOf(c, 0, 0); err != nil {
		return err
	}
	t := core.Transport(c.String("transport"))
	if t != core.TCP && t != core.IPC {
		return usageError{fmt.Errorf("--transport must be tcp or ipc, not %q", t)}
	}
	if c.Duration("sensor-interval") <= 0 {
		return usageError{errors.New("--sensor-interval must be positive")}
	}
	if l == nil {
		return errors.New("demo: no launcher to start child processes with")
	}
	s, err := openSession(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	nodes, err := startDemo(c, l, s.reg, t)
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	switch {
	case err != nil && c.Context.Err() == nil:
		return err
	case err == nil:
		fmt.Fprintf(c.App.Writer, "demo running in registry %s; Ctrl-C to stop\n", s.registryName())
		reported := map[string]bool{}
		serveUntilDone(c.Context, time.Second, func() { reportExits(c, nodes, reported) })
	}
	// Ctrl-C, also while the nodes were starting: stop those that run.
	return stopDemo(c, nodes)
}

// demoStopTimeout bounds each demo node's graceful stop (its handlers
// are instant). It mostly bounds leaving the registry: when the registry
// node is down, core's RemoteRegistry.Deregister waits for a connection
// until its context ends, which in a stopping node is the stop timeout
// (core's default: 5 s). A node still running demoStopGrace after that
// is killed.
const (
	demoStopTimeout = 1500 * time.Millisecond
	demoStopGrace   = time.Second
)

func startDemo(c *cli.Context, l *core.Launcher, reg core.Registry, t core.Transport) ([]*core.Node, error) {
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	var nodes []*core.Node
	for _, d := range demoNodes {
		opts := []core.Option{core.WithRegistry(reg), core.WithTransport(t), core.WithOutput(c.App.ErrWriter), core.WithStopTimeout(demoStopTimeout)}
		if d.kind == kindSensor {
			opts = append(opts, core.WithUpdateInterval(c.Duration("sensor-interval")))
		}
		n, err := l.NewNode(d.kind, d.name, opts...)
		if err != nil {
			return nodes, err
		}
		if err := n.Start(ctx); err != nil {
			return nodes, fmt.Errorf("starting %s: %w", d.name, err)
		}
		nodes = append(nodes, n)
		fmt.Fprintf(c.App.Writer, "started %-7s pid %d\n", d.name, n.Status().PID)
	}
	return nodes, nil
}

// reportExits tells once about each node that ended by itself.
func reportExits(c *cli.Context, nodes []*core.Node, reported map[string]bool) {
	for _, n := range nodes {
		if st := n.Status(); !st.Alive() && !reported[st.Name] {
			reported[st.Name] = true
			fmt.Fprintf(c.App.ErrWriter, "zmptool: %s ended (%s, exit code %d): %v\n", st.Name, st.State, st.ExitCode, st.Err)
		}
	}
}

// stopDemo stops the nodes all at once (one by one, a registry node
// that is down would cost each its whole stop timeout in turn).
func stopDemo(c *cli.Context, nodes []*core.Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), demoStopTimeout+demoStopGrace)
	defer cancel()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			if err := n.Stop(ctx); err != nil {
				errs[i] = fmt.Errorf("stopping %s: %w", n.Name(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "demo stopped")
	return nil
}
