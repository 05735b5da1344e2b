package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/agent"
	"github.com/gozmp/zmp/toolbox/supervise"
	"github.com/urfave/cli/v2"
)

// defaultAgentBind is where `zmptool agent` serves without --bind.
const defaultAgentBind = "tcp://127.0.0.1:5560"

// agentCommand is `zmptool agent`: run a host agent (toolbox/agent)
// with zmptool's kinds until Ctrl-C.
func agentCommand(l *core.Launcher) *cli.Command {
	cmd := &cli.Command{
		Name:     "agent",
		Category: "run",
		Usage:    "run a host agent: it starts, supervises and reports the nodes `zmptool run --on` places here",
		UsageText: "zmptool agent --bind tcp://HOST:PORT [--name NAME] [--labels k=v,...] [--registry ADDR]\n" +
			"   (--curve-secret FILE --allow-keys DIR | --insecure on a loopback --bind)",
		Description: "The agent is a node named --name, listed in the registry with its labels, serving\n" +
			"agent.start, agent.stop, agent.restart, agent.ps, agent.logs and agent.status at --bind.\n" +
			"It runs zmptool's kinds (echo, cache, and the selftest's) as supervised child processes\n" +
			"that register themselves, keeps them running while no controller is connected, and stops\n" +
			"them all, in reverse order, on Ctrl-C. It runs code on request: it refuses to start\n" +
			"without CURVE (--curve-secret with --allow-keys: only those client keys may call it)\n" +
			"unless given --insecure and a loopback --bind. See docs/supervision.md.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Value: agent.DefaultName(), Usage: "the agent's node name", EnvVars: []string{"ZMP_AGENT_NAME"}},
			&cli.StringFlag{Name: "labels", Usage: "the agent's labels, k=v,k=v: `run --on k=v` selects by them; its nodes carry them too", EnvVars: []string{"ZMP_AGENT_LABELS"}},
			&cli.StringFlag{Name: "bind", Value: defaultAgentBind, Usage: "the agent's RPC endpoint, tcp://HOST:PORT, HOST an address the controllers reach", EnvVars: []string{"ZMP_AGENT_BIND"}},
			&cli.StringFlag{Name: "node-host", Usage: "address the placed nodes bind and advertise (default: the --bind host)", EnvVars: []string{"ZMP_AGENT_NODE_HOST"}},
			registryFlag(),
			&cli.BoolFlag{Name: "insecure", Usage: "run without authentication: anyone who reaches --bind may run code; only with a loopback --bind", EnvVars: []string{"ZMP_AGENT_INSECURE"}},
			&cli.IntFlag{Name: "max-nodes", Value: agent.DefaultMaxNodes, Usage: "how many nodes the agent holds at most", EnvVars: []string{"ZMP_AGENT_MAX_NODES"}},
			&cli.IntFlag{Name: "max-restarts", Value: supervise.DefaultMaxRestarts, Usage: "restarts of one node within --restart-period after which it is left failed", EnvVars: []string{"ZMP_AGENT_MAX_RESTARTS"}},
			&cli.DurationFlag{Name: "restart-period", Value: supervise.DefaultPeriod, Usage: "the period of --max-restarts", EnvVars: []string{"ZMP_AGENT_RESTART_PERIOD"}},
			&cli.DurationFlag{Name: "backoff", Value: supervise.DefaultBackoffInitial, Usage: "delay before the second restart in a row of a node, doubling up to --backoff-max (0: restart at once)", EnvVars: []string{"ZMP_AGENT_BACKOFF"}},
			&cli.DurationFlag{Name: "backoff-max", Value: supervise.DefaultBackoffMax, Usage: "the longest restart delay", EnvVars: []string{"ZMP_AGENT_BACKOFF_MAX"}},
			&cli.DurationFlag{Name: "shutdown", Value: supervise.DefaultShutdown, Usage: "how long a node is given to stop before it is killed", EnvVars: []string{"ZMP_AGENT_SHUTDOWN"}},
			&cli.DurationFlag{Name: "lease-ttl", Value: core.DefaultLeaseTTL, Usage: "registry lease of the agent and its nodes: how long a cut-off host stays listed", EnvVars: []string{"ZMP_LEASE_TTL"}},
			&cli.IntFlag{Name: "log-lines", Value: agent.DefaultLogLines, Usage: "output lines kept per node", EnvVars: []string{"ZMP_AGENT_LOG_LINES"}},
			&cli.IntFlag{Name: "log-bytes", Value: agent.DefaultLogBytes, Usage: "output bytes kept per node", EnvVars: []string{"ZMP_AGENT_LOG_BYTES"}},
			&cli.BoolFlag{Name: "quiet", Usage: "do not log starts, exits and restarts on stderr", EnvVars: []string{"ZMP_AGENT_QUIET"}},
		},
		Action: noArgs(func(c *cli.Context) error { return runAgent(c, l) }),
	}
	addSecurityFlags(cmd)
	return setUsageErrors(cmd)
}

// agentOptions turns the flags into the agent's options.
func agentOptions(c *cli.Context) ([]agent.Option, error) {
	labels, err := agent.ParseLabels(c.String("labels"))
	if err != nil {
		return nil, usageError{fmt.Errorf("--labels: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	if c.Bool("quiet") {
		logger = slog.New(slog.DiscardHandler)
	}
	backoff := supervise.NoBackoff()
	if d := c.Duration("backoff"); d > 0 {
		backoff = supervise.DefaultBackoff()
		backoff.Initial, backoff.Max = d, max(d, c.Duration("backoff-max"))
	}
	ttl := core.WithLeaseTTL(c.Duration("lease-ttl"))
	peerOpts := []core.Option{registryOpener(), ttl}
	if r := c.String("registry"); r != "" {
		peerOpts = append(peerOpts, core.WithRegistryAddress(r))
	}
	opts := []agent.Option{
		agent.WithName(c.String("name")), agent.WithBind(c.String("bind")), agent.WithLabels(labels),
		agent.WithInsecure(c.Bool("insecure")), agent.WithMaxNodes(c.Int("max-nodes")),
		agent.WithPeerOptions(peerOpts...), agent.WithNodeOptions(ttl), agent.WithLogger(logger),
		agent.WithShutdown(c.Duration("shutdown")),
		agent.WithLogLimits(c.Int("log-lines"), c.Int("log-bytes"), min(agent.DefaultLogLineMax, c.Int("log-bytes"))),
		agent.WithSupervisorOptions(supervise.WithIntensity(c.Int("max-restarts"), c.Duration("restart-period")), supervise.WithBackoff(backoff)),
	}
	if h := c.String("node-host"); h != "" {
		opts = append(opts, agent.WithNodeHost(h))
	}
	sec, set, err := securitySetting(c)
	if err != nil {
		return nil, err
	}
	if set {
		opts = append(opts, agent.WithSecurity(sec))
	}
	return opts, nil
}

func runAgent(c *cli.Context, l *core.Launcher) error {
	opts, err := agentOptions(c)
	if err != nil {
		return err
	}
	a, err := agent.New(l, opts...)
	if errors.Is(err, agent.ErrInsecure) || errors.Is(err, agent.ErrBadOption) || errors.Is(err, supervise.ErrBadOption) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if err := a.Start(c.Context); err != nil {
		a.Close()
		return fmt.Errorf("starting the agent: %w", err)
	}
	st := a.Status()
	sec := st.Security
	if sec == "NULL" {
		sec = "none (--insecure: loopback only)"
	}
	w := c.App.Writer
	fmt.Fprintf(w, "agent %s serving on %s, security %s\n", st.Name, st.RPC, sec)
	fmt.Fprintf(w, "kinds: %s\n", strings.Join(st.Kinds, ", "))
	<-c.Context.Done()
	n := len(a.Nodes())
	fmt.Fprintf(w, "stopping %d node%s\n", n, plural(n))
	ctx, cancel := context.WithTimeout(context.Background(), c.Duration("shutdown")*time.Duration(max(1, n))+5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		a.Close()
		return fmt.Errorf("stopping the agent: %w", err)
	}
	return nil
}
