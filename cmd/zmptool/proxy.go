package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gozmp/zmp/toolbox/proxy"
	"github.com/urfave/cli/v2"
)

// runningProxy is what the proxy commands need of the three proxies.
type runningProxy interface {
	Stats() proxy.Stats
	TapEndpoint() string
	Pause()
	Resume()
	Shutdown(ctx context.Context) error
	Close() error
}

func proxyCommand() *cli.Command {
	subs := []*cli.Command{forwarderCommand(), queueCommand(), brokerCommand()}
	for _, c := range subs {
		// Subcommands do not inherit the app's OnUsageError in urfave/cli v2.
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	}
	return &cli.Command{
		Name:  "proxy",
		Usage: "run a forwarder, queue or broker between plain ZeroMQ peers",
		Description: "Runs one of the brokers of toolbox/proxy until interrupted, printing where it\n" +
			"listens and, with --stats, its counters at an interval. SIGUSR1 pauses it,\n" +
			"SIGUSR2 resumes it. Ctrl-C drains it (see --drain) and exits 0. The\n" +
			"security flags of the other commands secure both sides (--secure: one side).\n" +
			"Wire protocols and security: docs/proxy.md.",
		Subcommands: subs,
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Errorf("unknown proxy %q (forwarder, queue or broker)", c.Args().First())}
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// proxyFlags are the flags every proxy takes, the security flags of
// the node commands included; defaults are its endpoints.
func proxyFlags(front, back, frontUsage, backUsage string) []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "frontend", Value: front, Usage: frontUsage, EnvVars: []string{"ZMP_PROXY_FRONTEND"}},
		&cli.StringFlag{Name: "backend", Value: back, Usage: backUsage, EnvVars: []string{"ZMP_PROXY_BACKEND"}},
		&cli.StringFlag{Name: "tap", Usage: "also bind a PUB socket here mirroring every message received, first frame \"frontend\" or \"backend\"", EnvVars: []string{"ZMP_PROXY_TAP"}},
		&cli.DurationFlag{Name: "stats", Usage: "print the counters at this interval (0: never)", EnvVars: []string{"ZMP_STATS_INTERVAL"}},
		&cli.BoolFlag{Name: "json", Usage: "print the listening line and the counters as JSON lines", EnvVars: []string{"ZMP_JSON"}},
		&cli.DurationFlag{Name: "drain", Value: 5 * time.Second, Usage: "on Ctrl-C, how long to finish the work in hand before closing", EnvVars: []string{"ZMP_PROXY_DRAIN"}},
		&cli.IntFlag{Name: "peer-queue", Value: proxy.DefaultPeerQueue, Usage: "messages queued per connection before dropping", EnvVars: []string{"ZMP_PROXY_PEER_QUEUE"}},
		&cli.IntFlag{Name: "pending", Value: proxy.DefaultPendingLimit, Usage: "requests waiting for a worker (per service for a broker; held publications while paused for a forwarder)", EnvVars: []string{"ZMP_PROXY_PENDING"}},
		&cli.StringFlag{Name: "secure", Value: sideBoth, Usage: "which sides the security flags secure: both, frontend or backend (the other side, and the tap with backend, stay NULL)", EnvVars: []string{"ZMP_PROXY_SECURE"}},
	}, securityFlags()...)
}

// Values of --secure.
const (
	sideBoth     = "both"
	sideFrontend = "frontend"
	sideBackend  = "backend"
)

// proxySecurity turns the security flags (those of every node command)
// and --secure into proxy options; none when no security flag is set.
func proxySecurity(c *cli.Context) ([]proxy.Option, error) {
	side := c.String("secure")
	if side != sideBoth && side != sideFrontend && side != sideBackend {
		return nil, usageError{fmt.Errorf("--secure must be both, frontend or backend, got %q", side)}
	}
	sec, set, err := securitySetting(c)
	if err != nil || !set {
		return nil, err
	}
	switch side {
	case sideFrontend:
		return []proxy.Option{proxy.WithFrontendSecurity(sec)}, nil
	case sideBackend:
		return []proxy.Option{proxy.WithBackendSecurity(sec)}, nil
	}
	return []proxy.Option{proxy.WithSecurity(sec)}, nil
}

// workerFlags are the flags of the proxies that have workers.
func workerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "heartbeat", Value: proxy.DefaultHeartbeat, Usage: "heartbeat interval with workers", EnvVars: []string{"ZMP_PROXY_HEARTBEAT"}},
		&cli.IntFlag{Name: "liveness", Value: proxy.DefaultLiveness, Usage: "heartbeats a worker may miss before it counts as dead", EnvVars: []string{"ZMP_PROXY_LIVENESS"}},
		&cli.IntFlag{Name: "retries", Value: proxy.DefaultMaxRetries, Usage: "times a request of a dead worker is sent to another", EnvVars: []string{"ZMP_PROXY_RETRIES"}},
		&cli.StringFlag{Name: "failure-reply", Usage: "answer requests given up on with this body (default: no answer)", EnvVars: []string{"ZMP_PROXY_FAILURE_REPLY"}},
	}
}

func forwarderCommand() *cli.Command {
	return &cli.Command{
		Name:      "forwarder",
		Usage:     "pub/sub forwarder: publishers connect to --frontend, subscribers to --backend",
		UsageText: "zmptool proxy forwarder [--frontend EP] [--backend EP] [--cache N] [--connect EP[?key=Z85]]... [--curve-secret FILE --allow-keys DIR] [--secure SIDE]",
		Flags: append(proxyFlags("tcp://127.0.0.1:5559", "tcp://127.0.0.1:5560",
			"endpoint publishers (PUB, XPUB) connect to", "endpoint subscribers (SUB, XSUB) connect to"),
			&cli.IntFlag{Name: "cache", Usage: "keep the latest message of up to N topics for new subscribers (0: no cache)", EnvVars: []string{"ZMP_PROXY_CACHE"}},
			&cli.StringSliceFlag{Name: "connect", Usage: "also dial this publisher endpoint (repeatable); a CURVE publisher's key as EP?key=Z85", EnvVars: []string{"ZMP_PROXY_CONNECT"}},
		),
		Action: noArgs(func(c *cli.Context) error {
			opts, err := commonProxyOptions(c)
			if err != nil {
				return err
			}
			if n := c.Int("cache"); n > 0 {
				opts = append(opts, proxy.WithLastValueCache(n))
			} else if n < 0 {
				return usageError{fmt.Errorf("--cache must be 0 or more, got %d", n)}
			}
			if eps := c.StringSlice("connect"); len(eps) > 0 {
				opts = append(opts, proxy.WithConnect(eps...))
			}
			f, err := proxy.NewForwarder(c.String("frontend"), c.String("backend"), opts...)
			if err != nil {
				return err
			}
			return serveProxy(c, f, f.FrontendEndpoint(), f.BackendEndpoint())
		}),
	}
}

func queueCommand() *cli.Command {
	return &cli.Command{
		Name:      "queue",
		Usage:     "load-balancing queue (Paranoid Pirate): clients (REQ) connect to --frontend, workers to --backend",
		UsageText: "zmptool proxy queue [--frontend EP] [--backend EP] [--heartbeat D] [--retries N] [--curve-secret FILE --allow-keys DIR] [--secure SIDE]",
		Flags: append(proxyFlags("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556",
			"endpoint clients (REQ, DEALER) connect to", "endpoint workers connect to"), workerFlags()...),
		Action: noArgs(func(c *cli.Context) error {
			opts, err := workerProxyOptions(c)
			if err != nil {
				return err
			}
			q, err := proxy.NewQueue(c.String("frontend"), c.String("backend"), opts...)
			if err != nil {
				return err
			}
			return serveProxy(c, q, q.FrontendEndpoint(), q.BackendEndpoint())
		}),
	}
}

func brokerCommand() *cli.Command {
	return &cli.Command{
		Name:      "broker",
		Usage:     "service broker (Majordomo, MDP/0.1): clients and workers connect to --frontend (or --backend)",
		UsageText: "zmptool proxy broker [--frontend EP] [--backend EP] [--heartbeat D] [--retries N] [--curve-secret FILE --allow-keys DIR] [--secure SIDE]",
		Flags: append(proxyFlags("tcp://127.0.0.1:5557", "",
			"endpoint clients (and workers) connect to", "optional second endpoint, usually for workers"), workerFlags()...),
		Action: noArgs(func(c *cli.Context) error {
			opts, err := workerProxyOptions(c)
			if err != nil {
				return err
			}
			b, err := proxy.NewBroker(c.String("frontend"), c.String("backend"), opts...)
			if err != nil {
				return err
			}
			return serveProxy(c, b, b.FrontendEndpoint(), b.BackendEndpoint())
		}),
	}
}

func commonProxyOptions(c *cli.Context) ([]proxy.Option, error) {
	for _, name := range []string{"peer-queue", "pending"} {
		if c.Int(name) <= 0 {
			return nil, usageError{fmt.Errorf("--%s must be positive, got %d", name, c.Int(name))}
		}
	}
	if c.Duration("stats") < 0 || c.Duration("drain") < 0 {
		return nil, usageError{fmt.Errorf("--stats and --drain cannot be negative")}
	}
	opts, err := proxySecurity(c)
	if err != nil {
		return nil, err
	}
	opts = append(opts, proxy.WithPeerQueue(c.Int("peer-queue")), proxy.WithPendingLimit(c.Int("pending")))
	if tap := c.String("tap"); tap != "" {
		opts = append(opts, proxy.WithTap(tap))
	}
	return opts, nil
}

func workerProxyOptions(c *cli.Context) ([]proxy.Option, error) {
	opts, err := commonProxyOptions(c)
	if err != nil {
		return nil, err
	}
	if c.Duration("heartbeat") <= 0 || c.Int("liveness") <= 0 || c.Int("retries") < 0 {
		return nil, usageError{fmt.Errorf("--heartbeat and --liveness must be positive and --retries 0 or more")}
	}
	opts = append(opts,
		proxy.WithHeartbeat(c.Duration("heartbeat"), c.Int("liveness")),
		proxy.WithMaxRetries(c.Int("retries")))
	if r := c.String("failure-reply"); r != "" {
		opts = append(opts, proxy.WithFailureReply([]byte(r)))
	}
	return opts, nil
}

// listening is the first line a proxy command prints.
type listening struct {
	Kind     string `json:"kind"`
	Frontend string `json:"frontend"`
	Backend  string `json:"backend,omitempty"`
	Tap      string `json:"tap,omitempty"`
	// The sides' mechanisms, when one is not NULL, and the CURVE public
	// key peers append to the endpoint as "?key=".
	FrontendSecurity string `json:"frontend_security,omitempty"`
	BackendSecurity  string `json:"backend_security,omitempty"`
	Key              string `json:"key,omitempty"`
}

// withSecurity fills in the security of the sides from st.
func (l listening) withSecurity(st proxy.Stats) listening {
	fm, bm := st.Frontend.Mechanism, st.Backend.Mechanism
	if fm == "NULL" && (bm == "NULL" || bm == "") {
		return l
	}
	l.FrontendSecurity, l.BackendSecurity = fm, bm
	l.Key = st.Frontend.Key
	if l.Key == "" {
		l.Key = st.Backend.Key
	}
	return l
}

// serveProxy prints where p listens, its stats every --stats until
// ctx ends, then drains it for at most --drain and prints the final
// stats.
func serveProxy(c *cli.Context, p runningProxy, front, back string) error {
	defer p.Close()
	w, asJSON := c.App.Writer, c.Bool("json")
	l := listening{Kind: c.Command.Name, Frontend: front, Backend: back, Tap: p.TapEndpoint()}.withSecurity(p.Stats())
	if asJSON {
		json.NewEncoder(w).Encode(l)
	} else {
		fmt.Fprintf(w, "%s listening frontend=%s", l.Kind, l.Frontend)
		if l.Backend != "" {
			fmt.Fprintf(w, " backend=%s", l.Backend)
		}
		if l.Tap != "" {
			fmt.Fprintf(w, " tap=%s", l.Tap)
		}
		if l.FrontendSecurity != "" {
			fmt.Fprintf(w, " security=%s", l.FrontendSecurity)
			if l.BackendSecurity != "" {
				fmt.Fprintf(w, "/%s", l.BackendSecurity)
			}
		}
		if l.Key != "" {
			fmt.Fprintf(w, " key=%s", l.Key)
		}
		fmt.Fprintln(w)
	}
	stopSignals := pauseOnSignals(p, w, asJSON)
	serveUntilDone(c.Context, c.Duration("stats"), func() { printProxyStats(w, p.Stats(), asJSON) })
	stopSignals()
	ctx, cancel := context.WithTimeout(context.Background(), c.Duration("drain"))
	defer cancel()
	err := p.Shutdown(ctx)
	st := p.Stats()
	if !asJSON {
		fmt.Fprint(w, "stopped: ")
	}
	printProxyStats(w, st, asJSON)
	if err != nil {
		fmt.Fprintf(c.App.ErrWriter, "zmptool: drain cut after %v: %d requests queued, %d in flight were dropped\n",
			c.Duration("drain"), st.Queued, st.InFlight)
	}
	return nil
}

// printProxyStats prints one line of counters.
func printProxyStats(w io.Writer, st proxy.Stats, asJSON bool) {
	if asJSON {
		json.NewEncoder(w).Encode(struct {
			Time time.Time `json:"time"`
			proxy.Stats
		}{time.Now(), st})
		return
	}
	side := func(s proxy.SideStats) string {
		return fmt.Sprintf("in=%d out=%d dropped=%d malformed=%d", s.MsgsIn, s.MsgsOut, s.Dropped, s.Malformed)
	}
	fmt.Fprintf(w, "%s  front %s  back %s  refused=%d", time.Now().Format(time.TimeOnly), side(st.Frontend), side(st.Backend), st.Refused)
	switch st.Kind {
	case "forwarder":
		fmt.Fprintf(w, "  publishers=%d subscribers=%d prefixes=%d cached=%d held=%d",
			st.Frontend.Peers, st.Backend.Peers, st.Subscriptions, st.Cached, st.Queued)
	default:
		fmt.Fprintf(w, "  workers=%d idle=%d queued=%d in-flight=%d retried=%d failed=%d lost=%d",
			st.Workers, st.Idle, st.Queued, st.InFlight, st.Retried, st.Failed, st.Lost)
	}
	if st.Paused {
		fmt.Fprint(w, " (paused)")
	}
	fmt.Fprintln(w)
}

// pauseOnSignals pauses p on SIGUSR1 and resumes it on SIGUSR2 until
// the returned function is called.
func pauseOnSignals(p runningProxy, w io.Writer, asJSON bool) (stop func()) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				state := "resumed"
				if s == syscall.SIGUSR1 {
					p.Pause()
					state = "paused"
				} else {
					p.Resume()
				}
				if asJSON {
					json.NewEncoder(w).Encode(map[string]string{"state": state})
				} else {
					fmt.Fprintln(w, state)
				}
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-exited
	}
}
