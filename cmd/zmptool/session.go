package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/urfave/cli/v2"
)

// Flags shared by the inspection commands. Every one has a ZMP_ variable.
func registryFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "registry",
		Usage:   "registry: a directory, the tcp:// or ipc:// endpoint of a registry node, or kv://ADDR,ADDR... for the replicated registry of a zmptool kv cluster (default: $ZMP_RUNTIME_DIR, $XDG_RUNTIME_DIR/zmp or /tmp/zmp-<uid>)",
		EnvVars: []string{core.EnvRegistry},
	}
}

func timeoutFlag(def time.Duration, what string) cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: def, Usage: what, EnvVars: []string{"ZMP_TIMEOUT"}}
}

func jsonFlag(what string) cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: what, EnvVars: []string{"ZMP_JSON"}}
}

func prefixFlag() cli.Flag {
	return &cli.BoolFlag{Name: "prefix", Usage: "subscribe to every topic whose name starts with TOPIC", EnvVars: []string{"ZMP_PREFIX"}}
}

func durationFlag() cli.Flag {
	return &cli.DurationFlag{Name: "duration", Usage: "stop after this long (0: run until Ctrl-C)", EnvVars: []string{"ZMP_DURATION"}}
}

// argsOf checks that c has between min and max positional arguments
// and returns them; otherwise it returns a usage error naming the
// command by its path (list nodes, not nodes) with its usage line.
// (run has moved flags given after the arguments in front of them,
// see flagsFirst.)
func argsOf(c *cli.Context, min, max int) ([]string, error) {
	args := c.Args().Slice()
	if len(args) >= min && len(args) <= max {
		return args, nil
	}
	path := strings.TrimPrefix(c.Command.HelpName, c.App.Name+" ")
	var want string
	switch {
	case max == 0:
		want = "no arguments"
	case min == max:
		want = fmt.Sprintf("%d argument%s", min, plural(min))
	case max == min+1:
		want = fmt.Sprintf("%d or %d arguments", min, max)
	default:
		want = fmt.Sprintf("%d to %d arguments", min, max)
	}
	got := fmt.Sprintf("got %d", len(args))
	if len(args) > 0 {
		got += ": " + quoteAll(args)
	}
	usage := c.Command.UsageText
	if usage == "" {
		usage = c.Command.HelpName + " [command options]"
		if c.Command.ArgsUsage != "" {
			usage += " " + c.Command.ArgsUsage
		}
	}
	return nil, usageError{fmt.Errorf("%s takes %s, %s (usage: %s)", path, want, got, usage)}
}

// noArgs wraps the action of a command that takes no arguments.
func noArgs(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if _, err := argsOf(c, 0, 0); err != nil {
			return err
		}
		return action(c)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// quoteAll quotes each of args, separated by spaces.
func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// session is what a command works with: the registry and, for commands
// that call or subscribe, a peer of its own named zmptool-<cmd>-<hex>.
// The peer is listed in the registry while the command runs; the
// listings of this command leave it out.
type session struct {
	reg  core.Registry
	peer *core.Peer
}

// registryOpener lets --registry name a replicated registry of
// toolbox/consensus: "kv://[NAME@]ADDR,ADDR...".
func registryOpener() core.Option {
	return core.WithRegistryOpener(consensus.RegistryScheme, consensus.OpenRegistry)
}

// openSession opens the registry named by --registry (or $ZMP_REGISTRY)
// and, when withPeer, a peer with opts.
func openSession(c *cli.Context, withPeer bool, opts ...core.Option) (*session, error) {
	sec, err := securityOption(c)
	if err != nil {
		return nil, err
	}
	var secOpts []core.Option
	if sec != nil {
		secOpts = []core.Option{sec}
		opts = append(opts, sec)
	}
	reg, err := core.ParseRegistry(c.String("registry"), append(secOpts, registryOpener())...)
	if err != nil {
		return nil, fmt.Errorf("opening registry: %w", err)
	}
	s := &session{reg: reg}
	if !withPeer {
		return s, nil
	}
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	name := "zmptool-" + c.Command.Name + "-" + randomHex(4)
	s.peer, err = core.NewPeer(ctx, name, append([]core.Option{core.WithRegistry(reg)}, opts...)...)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("starting zmptool's peer: %w", err)
	}
	return s, nil
}

// Close closes the peer, then the registry.
func (s *session) Close() error {
	var errs []error
	if s.peer != nil {
		errs = append(errs, s.peer.Close())
	}
	if c, ok := s.reg.(io.Closer); ok {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// registryName describes the registry in messages.
func (s *session) registryName() string {
	if a, ok := s.reg.(core.Addresser); ok {
		return a.Address()
	}
	return fmt.Sprintf("%T", s.reg)
}

// nodes returns the live nodes, without this session's own peer.
func (s *session) nodes(ctx context.Context) ([]core.NodeInfo, error) {
	nodes, err := s.reg.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading registry %s: %w", s.registryName(), err)
	}
	out := make([]core.NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		if s.peer == nil || n.ID != s.peer.ID() {
			out = append(out, n)
		}
	}
	return out, nil
}

// nodeStats is the zmp.stats reply of one node, or why there is none.
type nodeStats struct {
	stats core.Stats
	err   error
}

// maxStatsQueries bounds the zmp.stats calls in flight at once.
const maxStatsQueries = 8

// statsOf calls zmp.stats on every node, each within timeout, and
// returns the replies by node name.
func (s *session) statsOf(ctx context.Context, nodes []core.NodeInfo, timeout time.Duration) map[string]nodeStats {
	out := make(map[string]nodeStats, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxStatsQueries)
	for _, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			st, err := core.Call[core.Stats](cctx, s.peer, core.IntrospectStats, nil, core.OnNode(n.Name))
			mu.Lock()
			out[n.Name] = nodeStats{st, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// warnUnanswered tells on w which nodes did not answer zmp.stats.
func warnUnanswered(w io.Writer, stats map[string]nodeStats) {
	names := make([]string, 0, len(stats))
	for name, st := range stats {
		if st.err != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "zmptool: warning: %s did not answer %s: %v\n", name, core.IntrospectStats, stats[name].err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// setUsageErrors makes every subcommand of cmd report flag errors as
// usage errors (urfave/cli/v2 subcommands do not inherit OnUsageError).
func setUsageErrors(cmd *cli.Command) *cli.Command {
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error { return usageError{err} }
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
	return cmd
}

// inspectCommands are the commands that inspect and drive a running
// system, and demo, which starts one.
func inspectCommands(l *core.Launcher) []*cli.Command {
	cmds := []*cli.Command{listCommand(), infoCommand(), callCommand(), pubCommand(), echoCommand(), hzCommand(), graphCommand(), demoCommand(l)}
	for _, c := range cmds {
		addSecurityFlags(c)
		setUsageErrors(c)
	}
	return cmds
}

// addSecurityFlags gives every command that opens a session (it has
// --registry) the flags that secure its peer and registry connection.
func addSecurityFlags(c *cli.Command) {
	for _, f := range c.Flags {
		if f.Names()[0] == "registry" {
			c.Flags = append(c.Flags, securityFlags()...)
			break
		}
	}
	for _, sub := range c.Subcommands {
		addSecurityFlags(sub)
	}
}
