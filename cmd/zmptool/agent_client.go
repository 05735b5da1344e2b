package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/agent"
	"github.com/urfave/cli/v2"
)

// The commands that drive host agents: run, ps, stop, restart, logs,
// agents. Each is a client of toolbox/agent on a peer of its own.

func onFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "on", Usage: usage, EnvVars: []string{"ZMP_ON"}}
}

// agentCommands are the commands that drive agents.
func agentCommands() []*cli.Command {
	cmds := []*cli.Command{runCommand(), psCommand(), stopCommand(), restartCommand(), logsCommand(), agentsCommand()}
	for _, c := range cmds {
		c.Category = "place and supervise"
		addSecurityFlags(c)
		setUsageErrors(c)
	}
	return cmds
}

// withAgents opens a session and runs f with a client of the agents and
// a context of --timeout.
func withAgents(c *cli.Context, f func(ctx context.Context, cl *agent.Client, s *session) error) error {
	s, err := openSession(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	return f(ctx, agent.NewClient(s.peer), s)
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "start a node of KIND on the agent --on names (or each one it matches, with --all)",
		UsageText: "zmptool run --on AGENT|k=v[,k=v] [--all] [--name NAME] [--restart permanent|transient|temporary] KIND [ARGS...]",
		ArgsUsage: "KIND [ARGS...]",
		Description: "--on names one agent, or a label selector that must match exactly one (the error lists\n" +
			"the matches; --all starts one node on each). The node is named --name (default\n" +
			"KIND-AGENT; with --all, NAME-AGENT). Everything after KIND is the kind's arguments.\n" +
			"Running it again with the same kind and arguments adopts the running node (nothing\n" +
			"restarts); other arguments are a conflict: stop the node first.",
		Flags: []cli.Flag{
			onFlag("the agent: its name, or labels k=v[,k=v] that match exactly one agent (required)"),
			&cli.BoolFlag{Name: "all", Usage: "start one node on every agent --on matches", EnvVars: []string{"ZMP_ALL"}},
			&cli.StringFlag{Name: "name", Usage: "the node's name (default KIND-AGENT)", EnvVars: []string{"ZMP_NODE_NAME"}},
			&cli.StringFlag{Name: "restart", Value: agent.Permanent, Usage: "restart type: permanent (always), transient (after a failure), temporary (never)", EnvVars: []string{"ZMP_RESTART"}},
			registryFlag(),
			timeoutFlag(30*time.Second, "bound of the whole placement, the nodes' starts included"),
			jsonFlag("print the nodes' status as JSON"),
		},
		Action: runNodes,
	}
}

func runNodes(c *cli.Context) error {
	args, err := argsOf(c, 1, 1<<20)
	if err != nil {
		return err
	}
	sel := c.String("on")
	if sel == "" {
		hint := ""
		if slices.ContainsFunc(args, func(a string) bool { return a == "--on" || strings.HasPrefix(a, "--on=") }) {
			hint = " (give run's flags before KIND: what follows KIND is the kind's arguments)"
		}
		return usageError{fmt.Errorf("run needs --on AGENT or --on k=v: placement is explicit%s", hint)}
	}
	switch r := c.String("restart"); r {
	case agent.Permanent, agent.Transient, agent.Temporary:
	default:
		return usageError{fmt.Errorf("--restart must be permanent, transient or temporary, not %q", r)}
	}
	if n := c.String("name"); n != "" {
		if err := agent.CheckName(n); err != nil {
			return usageError{fmt.Errorf("--name: %w", err)}
		}
	}
	return withAgents(c, func(ctx context.Context, cl *agent.Client, _ *session) error {
		var agents []core.NodeInfo
		if c.Bool("all") {
			agents, err = cl.Select(ctx, sel)
		} else {
			var one core.NodeInfo
			one, err = cl.SelectOne(ctx, sel)
			agents = []core.NodeInfo{one}
		}
		if err != nil {
			return err
		}
		var placed []agent.NodeStatus
		var errs []error
		for _, a := range agents {
			spec := agent.Spec{Name: nodeName(c, args[0], a.Name), Kind: args[0], Args: args[1:], Restart: c.String("restart")}
			st, err := cl.Start(ctx, a.Name, spec)
			if err != nil {
				errs = append(errs, fmt.Errorf("starting %s on %s: %w", spec.Name, a.Name, err))
				continue
			}
			placed = append(placed, st)
			if !c.Bool("json") {
				printPlaced(c.App.Writer, st)
			}
		}
		if c.Bool("json") {
			if err := printJSON(c.App.Writer, placed); err != nil {
				return err
			}
		}
		return errors.Join(errs...)
	})
}

// nodeName is the name run gives the node it places on agentName.
func nodeName(c *cli.Context, kind, agentName string) string {
	name := c.String("name")
	switch {
	case name == "":
		return kind + "-" + agentName
	case c.Bool("all"):
		return name + "-" + agentName
	}
	return name
}

func printPlaced(w io.Writer, st agent.NodeStatus) {
	if st.Adopted {
		fmt.Fprintf(w, "adopted %s on %s (pid %d, already running)\n", st.Name, st.Agent, st.PID)
		return
	}
	fmt.Fprintf(w, "started %s on %s (pid %d)\n", st.Name, st.Agent, st.PID)
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Usage:     "list the agents and the nodes running on each",
		UsageText: "zmptool ps [--on AGENT|k=v[,k=v]] [--json]",
		Description: "One line per node: AGENT NODE KIND STATE PID RESTARTS UPTIME; an agent without nodes\n" +
			"has a line of its own. An agent that does not answer is reported on stderr (and in\n" +
			"--json) and the command exits 1 if none answers.",
		Flags: []cli.Flag{
			onFlag("only the agents of this name, or with these labels k=v[,k=v]"),
			registryFlag(),
			timeoutFlag(5*time.Second, "bound for reading the registry and each agent's answer"),
			jsonFlag("print each agent with its nodes as JSON"),
		},
		Action: noArgs(psNodes),
	}
}

// agentPS is one agent in `ps --json`.
type agentPS struct {
	Agent  string             `json:"agent"`
	RPC    string             `json:"rpc"`
	Labels map[string]string  `json:"labels,omitempty"`
	Nodes  []agent.NodeStatus `json:"nodes"`
	Error  string             `json:"error,omitempty"`
}

func psNodes(c *cli.Context) error {
	return withAgents(c, func(ctx context.Context, cl *agent.Client, _ *session) error {
		agents, err := cl.Select(ctx, c.String("on"))
		if err != nil {
			return err
		}
		out := make([]agentPS, len(agents))
		eachAgent(agents, func(i int, a core.NodeInfo) {
			nodes, err := cl.PS(ctx, a.Name)
			out[i] = agentPS{Agent: a.Name, RPC: a.RPC, Labels: a.Labels, Nodes: nodes}
			if err != nil {
				out[i].Error = err.Error()
			}
		})
		failed := warnAgents(c.App.ErrWriter, out)
		if c.Bool("json") {
			err = printJSON(c.App.Writer, out)
		} else {
			err = printPS(c.App.Writer, out)
		}
		if err == nil && failed == len(out) {
			err = fmt.Errorf("none of the %d agents answered", len(out))
		}
		return err
	})
}

// eachAgent calls f for each agent, a few at a time.
func eachAgent(agents []core.NodeInfo, f func(i int, a core.NodeInfo)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxStatsQueries)
	for i, a := range agents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i, a)
		}()
	}
	wg.Wait()
}

// warnAgents tells on w which agents did not answer, and counts them.
func warnAgents(w io.Writer, agents []agentPS) int {
	n := 0
	for _, a := range agents {
		if a.Error != "" {
			fmt.Fprintf(w, "zmptool: warning: agent %s did not answer: %s\n", a.Agent, a.Error)
			n++
		}
	}
	return n
}

func printPS(w io.Writer, agents []agentPS) error {
	t := newTable(w, "AGENT", "NODE", "KIND", "STATE", "PID", "RESTARTS", "UPTIME")
	for _, a := range agents {
		switch {
		case a.Error != "":
			t.row(a.Agent, "?", "-", "unreachable", "-", "-", "-")
		case len(a.Nodes) == 0:
			t.row(a.Agent, "-", "-", "-", "-", "-", "-")
		}
		for _, n := range a.Nodes {
			pid, up := "-", "-"
			if n.PID > 0 {
				pid = strconv.Itoa(n.PID)
			}
			if !n.Started.IsZero() {
				up = shortDuration(time.Since(n.Started))
			}
			t.row(a.Agent, n.Name, n.Kind, n.State, pid, strconv.FormatInt(n.Restarts, 10), up)
		}
	}
	return t.flush()
}

func agentsCommand() *cli.Command {
	return &cli.Command{
		Name:      "agents",
		Usage:     "list the agents with their host, labels and counts of nodes",
		UsageText: "zmptool agents [--on AGENT|k=v[,k=v]] [--json]",
		Flags: []cli.Flag{
			onFlag("only the agents of this name, or with these labels k=v[,k=v]"),
			registryFlag(),
			timeoutFlag(5*time.Second, "bound for reading the registry and each agent's status"),
			jsonFlag("print each agent's agent.status as JSON"),
		},
		Action: noArgs(listAgents),
	}
}

// agentStatus is one agent in `agents --json`.
type agentStatus struct {
	Agent  string        `json:"agent"`
	Status *agent.Status `json:"status,omitempty"`
	Error  string        `json:"error,omitempty"`
}

func listAgents(c *cli.Context) error {
	return withAgents(c, func(ctx context.Context, cl *agent.Client, _ *session) error {
		agents, err := cl.Select(ctx, c.String("on"))
		if err != nil {
			return err
		}
		out := make([]agentStatus, len(agents))
		eachAgent(agents, func(i int, a core.NodeInfo) {
			st, err := cl.Status(ctx, a.Name)
			out[i] = agentStatus{Agent: a.Name, Status: &st}
			if err != nil {
				out[i] = agentStatus{Agent: a.Name, Error: err.Error()}
				fmt.Fprintf(c.App.ErrWriter, "zmptool: warning: agent %s did not answer: %v\n", a.Name, err)
			}
		})
		if c.Bool("json") {
			return printJSON(c.App.Writer, out)
		}
		t := newTable(c.App.Writer, "AGENT", "HOST", "RPC", "SECURITY", "NODES", "RUNNING", "RESTARTS", "LABELS")
		for i, a := range out {
			if a.Status == nil {
				t.row(a.Agent, "?", agents[i].RPC, "?", "?", "?", "?", labelsOrDash(agents[i].Labels))
				continue
			}
			s := a.Status
			t.row(s.Name, s.Host, s.RPC, s.Security, strconv.Itoa(s.Counts.Nodes), strconv.Itoa(s.Counts.Running),
				strconv.FormatInt(s.Counts.Restarts, 10), labelsOrDash(s.Labels))
		}
		return t.flush()
	})
}

// nodeCommand is stop or restart: an operation on a node NAME found on
// the agents --on names.
func nodeCommand(name, usage string, op func(cl *agent.Client, ctx context.Context, at, node string) (agent.NodeStatus, error)) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		UsageText: "zmptool " + name + " NAME [--on AGENT|k=v[,k=v]] [--json]",
		ArgsUsage: "NAME",
		Flags: []cli.Flag{
			onFlag("look for NAME on these agents only (default: the one its registry entry names, else all)"),
			registryFlag(),
			timeoutFlag(30*time.Second, "bound of the whole operation"),
			jsonFlag("print the node's status as JSON"),
		},
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 1, 1)
			if err != nil {
				return err
			}
			return withAgents(c, func(ctx context.Context, cl *agent.Client, _ *session) error {
				at, _, err := cl.Find(ctx, c.String("on"), args[0])
				if err != nil {
					return err
				}
				st, err := op(cl, ctx, at, args[0])
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, st)
				}
				if st.State == agent.StateStopped {
					fmt.Fprintf(c.App.Writer, "stopped %s on %s\n", st.Name, at)
				} else {
					fmt.Fprintf(c.App.Writer, "restarted %s on %s (pid %d)\n", st.Name, at, st.PID)
				}
				return nil
			})
		},
	}
}

func stopCommand() *cli.Command {
	return nodeCommand("stop", "stop a node placed on an agent and remove it", (*agent.Client).Stop)
}

func restartCommand() *cli.Command {
	return nodeCommand("restart", "restart a node placed on an agent (a new process)", (*agent.Client).Restart)
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "print the output a node placed on an agent wrote (the last lines its agent keeps)",
		UsageText: "zmptool logs NAME [-f] [--tail N] [--on AGENT|k=v[,k=v]]",
		ArgsUsage: "NAME",
		Description: "Lines the agent notes itself (exits, restarts) begin with [zmp-agent]. With -f it\n" +
			"goes on printing new lines until Ctrl-C or the node is stopped.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines", EnvVars: []string{"ZMP_FOLLOW"}},
			&cli.IntFlag{Name: "tail", Usage: "print only the last N lines kept (0: all)", EnvVars: []string{"ZMP_TAIL"}},
			onFlag("look for NAME on these agents only"),
			registryFlag(),
			timeoutFlag(10*time.Second, "bound for finding the node and, without -f, for reading its lines"),
		},
		Action: printLogs,
	}
}

func printLogs(c *cli.Context) error {
	args, err := argsOf(c, 1, 1)
	if err != nil {
		return err
	}
	if c.Int("tail") < 0 {
		return usageError{errors.New("--tail cannot be negative")}
	}
	s, err := openSession(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	cl := agent.NewClient(s.peer)
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	at, _, err := cl.Find(ctx, c.String("on"), args[0])
	if err != nil {
		return err
	}
	if c.Bool("follow") {
		ctx = c.Context // until Ctrl-C
	}
	rc, err := cl.Logs(ctx, at, agent.LogsRequest{Name: args[0], Tail: c.Int("tail"), Follow: c.Bool("follow")})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(c.App.Writer, rc)
	if c.Context.Err() != nil {
		return nil // Ctrl-C
	}
	return err
}
