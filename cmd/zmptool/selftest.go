package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func selftestCommand(l *core.Launcher) *cli.Command {
	return &cli.Command{
		Name:  "selftest",
		Usage: "start nodes as child processes and check RPC, pub/sub, discovery, crash and restart",
		Description: "Runs on embedded defaults: a private registry directory, nodes on 127.0.0.1.\n" +
			"Exit code 0 only if every check passed.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 60 * time.Second, Usage: "give up after this long", EnvVars: []string{"ZMP_SELFTEST_TIMEOUT"}},
			&cli.StringFlag{Name: "transport", Value: "tcp", Usage: "tcp or ipc", EnvVars: []string{"ZMP_TRANSPORT"}},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON", EnvVars: []string{"ZMP_JSON"}},
		},
		Action: noArgs(func(c *cli.Context) error {
			t := core.Transport(c.String("transport"))
			if t != core.TCP && t != core.IPC {
				return usageError{fmt.Errorf("--transport must be tcp or ipc, not %q", t)}
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			st := &selftest{l: l, transport: t, progress: c.App.ErrWriter}
			if c.Bool("json") {
				st.progress = io.Discard
			}
			report := st.run(ctx)
			if err := printReport(c.App.Writer, report, c.Bool("json")); err != nil {
				return err
			}
			if !report.Passed {
				return errors.New("selftest failed")
			}
			return nil
		}),
	}
}

// checkResult is one line of the report.
type checkResult struct {
	Name   string  `json:"name"`
	Passed bool    `json:"passed"`
	Millis float64 `json:"ms"`
	Error  string  `json:"error,omitempty"`
	Detail string  `json:"detail,omitempty"`
}

type report struct {
	Passed bool          `json:"passed"`
	Checks []checkResult `json:"checks"`
}

func printReport(w io.Writer, r report, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	passed := 0
	for _, c := range r.Checks {
		mark := "PASS"
		if !c.Passed {
			mark = "FAIL"
		} else {
			passed++
		}
		line := fmt.Sprintf("%s  %-34s %8.1f ms", mark, c.Name, c.Millis)
		if c.Detail != "" {
			line += "  " + c.Detail
		}
		if c.Error != "" {
			line += "  " + c.Error
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, len(r.Checks)-passed)
	return nil
}

// selftest holds the system under test.
type selftest struct {
	l         *core.Launcher
	transport core.Transport
	progress  io.Writer
	reg       *core.DirRegistry
	dir       string // registry and ipc sockets, removed at the end
	client    *core.Peer
	nodes     map[string]*core.Node
}

type check struct {
	name string
	fn   func(ctx context.Context) (detail string, err error)
}

func (s *selftest) run(ctx context.Context) report {
	dir, err := os.MkdirTemp("", "zmp-selftest-")
	if err != nil {
		return report{Checks: []checkResult{{Name: "setup", Error: err.Error()}}}
	}
	defer os.RemoveAll(dir)
	defer s.stopAll()
	s.nodes = map[string]*core.Node{}
	checks := []check{
		{"registry and client peer", func(ctx context.Context) (string, error) { return s.setup(ctx, dir) }},
		{"start 4 child-process nodes", s.startNodes},
		{"discover 2 providers of add", s.discover},
		{"call add(17, 25) = 42", s.callAdd},
		{"calls spread over providers", s.roundRobin},
		{"remote error propagated", s.remoteError},
		{"unknown service reported", s.unknownService},
		{"pub/sub pipeline of 3 nodes", s.pipeline},
		{"introspection (zmp.info)", s.introspect},
		{"provider crash (SIGKILL)", s.crash},
		{"crashed node leaves the registry", s.crashCleanup},
		{"restart crashed node", s.restart},
		{"graceful stop of every node", s.stopNodes},
	}
	r := report{Passed: true}
	for _, c := range checks {
		res := s.runCheck(ctx, c)
		r.Checks = append(r.Checks, res)
		if !res.Passed {
			r.Passed = false
			break
		}
	}
	return r
}

func (s *selftest) runCheck(ctx context.Context, c check) checkResult {
	fmt.Fprintf(s.progress, "... %s\n", c.name)
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	detail, err := c.fn(cctx)
	res := checkResult{Name: c.name, Passed: err == nil, Millis: float64(time.Since(start).Microseconds()) / 1000, Detail: detail}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

func (s *selftest) opts() []core.Option {
	return []core.Option{core.WithRegistry(s.reg), core.WithTransport(s.transport), core.WithRuntimeDir(s.dir), core.WithOutput(s.progress)}
}

func (s *selftest) setup(ctx context.Context, dir string) (string, error) {
	var err error
	s.dir = dir
	if s.reg, err = core.NewDirRegistry(dir); err != nil {
		return "", err
	}
	s.client, err = core.NewPeer(ctx, "selftest-client", s.opts()[:3]...)
	return "registry " + dir, err
}

func (s *selftest) startNodes(ctx context.Context) (string, error) {
	specs := []struct {
		kind, name string
		opts       []core.Option
	}{
		{kindCalc, "calc-1", nil},
		{kindCalc, "calc-2", nil},
		{kindSensor, "sensor", []core.Option{core.WithUpdateInterval(10 * time.Millisecond)}},
		{kindRelay, "relay", nil},
	}
	for _, sp := range specs {
		n, err := s.l.NewNode(sp.kind, sp.name, append(s.opts(), sp.opts...)...)
		if err != nil {
			return "", err
		}
		if err := n.Start(ctx); err != nil {
			return "", fmt.Errorf("%s: %w", sp.name, err)
		}
		s.nodes[sp.name] = n
	}
	return fmt.Sprintf("pids calc-1=%d calc-2=%d sensor=%d relay=%d",
		s.nodes["calc-1"].Status().PID, s.nodes["calc-2"].Status().PID, s.nodes["sensor"].Status().PID, s.nodes["relay"].Status().PID), nil
}

func (s *selftest) discover(ctx context.Context) (string, error) {
	nodes, err := core.Discover(ctx, s.reg, "selftest.add", 2)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s, %s", nodes[0].Name, nodes[1].Name), nil
}

func (s *selftest) callAdd(ctx context.Context) (string, error) {
	got, err := core.Call[int](ctx, s.client, "selftest.add", addArgs{17, 25})
	if err != nil {
		return "", err
	}
	if got != 42 {
		return "", fmt.Errorf("got %d", got)
	}
	return "", nil
}

func (s *selftest) roundRobin(ctx context.Context) (string, error) {
	before := s.callCounts(ctx)
	for i := range 20 {
		if _, err := core.Call[int](ctx, s.client, "selftest.add", addArgs{i, i}); err != nil {
			return "", err
		}
	}
	after := s.callCounts(ctx)
	d1, d2 := after["calc-1"]-before["calc-1"], after["calc-2"]-before["calc-2"]
	if d1 == 0 || d2 == 0 || d1+d2 != 20 {
		return "", fmt.Errorf("calc-1 served %d, calc-2 %d of 20", d1, d2)
	}
	return fmt.Sprintf("calc-1 %d, calc-2 %d", d1, d2), nil
}

func (s *selftest) callCounts(ctx context.Context) map[string]uint64 {
	counts := map[string]uint64{}
	for _, name := range []string{"calc-1", "calc-2"} {
		st, err := core.Call[core.Stats](ctx, s.client, core.IntrospectStats, nil, core.OnNode(name))
		if err == nil {
			counts[name] = st.Services["selftest.add"].Calls
		}
	}
	return counts
}

func (s *selftest) remoteError(ctx context.Context) (string, error) {
	_, err := core.Call[string](ctx, s.client, "selftest.fail", "boom")
	var re *core.RemoteError
	if !errors.As(err, &re) || re.Code != 1001 {
		return "", fmt.Errorf("want a RemoteError with code 1001, got %v", err)
	}
	return re.Error(), nil
}

func (s *selftest) unknownService(ctx context.Context) (string, error) {
	_, err := s.client.Call(ctx, "selftest.nonexistent", nil)
	if !errors.Is(err, core.ErrNoProvider) {
		return "", fmt.Errorf("want ErrNoProvider, got %v", err)
	}
	return "", nil
}

func (s *selftest) pipeline(ctx context.Context) (string, error) {
	sub, err := s.client.Subscribe(topicScaled)
	if err != nil {
		return "", err
	}
	defer sub.Close()
	if err := sub.WaitConnected(ctx, 1); err != nil {
		return "", err
	}
	var last int
	for i := range 10 {
		v, m, err := core.Receive[int](ctx, s.client, sub)
		if err != nil {
			return "", fmt.Errorf("message %d: %w", i, err)
		}
		if v%10 != 0 || v <= last || m.Publisher != "relay" {
			return "", fmt.Errorf("message %d: %d from %s after %d", i, v, m.Publisher, last)
		}
		last = v
	}
	return fmt.Sprintf("10 messages through sensor → relay, last %d", last), nil
}

func (s *selftest) introspect(ctx context.Context) (string, error) {
	for name := range s.nodes {
		info, err := core.Call[core.InfoReply](ctx, s.client, core.IntrospectInfo, nil, core.OnNode(name))
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if info.Name != name || info.PID != s.nodes[name].Status().PID {
			return "", fmt.Errorf("%s: info says %s pid %d", name, info.Name, info.PID)
		}
	}
	return "", nil
}

func (s *selftest) crash(ctx context.Context) (string, error) {
	pid := s.nodes["calc-1"].Status().PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return "", err
	}
	lost := 0
	for i := range 20 {
		_, err := core.Call[int](ctx, s.client, "selftest.add", addArgs{i, 1})
		if errors.Is(err, core.ErrConnectionLost) && lost == 0 {
			// A call in flight to the killed node: the caller retries.
			lost++
			_, err = core.Call[int](ctx, s.client, "selftest.add", addArgs{i, 1})
		}
		if err != nil {
			return "", fmt.Errorf("call %d after the kill: %w", i, err)
		}
	}
	return fmt.Sprintf("killed pid %d; 20 calls served by calc-2 (%d lost in flight, retried)", pid, lost), nil
}

func (s *selftest) crashCleanup(ctx context.Context) (string, error) {
	for {
		nodes, err := core.Providers(ctx, s.reg, "selftest.add")
		if err != nil {
			return "", err
		}
		if len(nodes) == 1 && nodes[0].Name == "calc-2" {
			st := s.nodes["calc-1"].Status()
			return fmt.Sprintf("calc-1 %s, exit code %d", st.State, st.ExitCode), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("registry still lists %d providers", len(nodes))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *selftest) restart(ctx context.Context) (string, error) {
	if err := s.nodes["calc-1"].Restart(ctx); err != nil {
		return "", err
	}
	if _, err := core.Discover(ctx, s.reg, "selftest.add", 2); err != nil {
		return "", err
	}
	got, err := core.Call[int](ctx, s.client, "selftest.add", addArgs{1, 2}, core.OnNode("calc-1"))
	if err != nil || got != 3 {
		return "", fmt.Errorf("pinned call to the restarted calc-1: %d, %v", got, err)
	}
	return fmt.Sprintf("new pid %d", s.nodes["calc-1"].Status().PID), nil
}

func (s *selftest) stopNodes(ctx context.Context) (string, error) {
	var errs []error
	for name, n := range s.nodes {
		if err := n.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if st := n.Status(); st.State != core.StateStopped || st.ExitCode != 0 {
			errs = append(errs, fmt.Errorf("%s ended %s with code %d: %v", name, st.State, st.ExitCode, st.Err))
		}
	}
	return "", errors.Join(errs...)
}

func (s *selftest) stopAll() {
	for _, n := range s.nodes {
		n.Close()
	}
	if s.client != nil {
		s.client.Close()
	}
}
