package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/cache"
	"github.com/urfave/cli/v2"
)

// cacheCommand is `zmptool cache`: run a cache server node, and get,
// set, delete and read the stats of one.
func cacheCommand() *cli.Command {
	cmd := &cli.Command{
		Name:     "cache",
		Category: "run",
		Usage:    "run a cache server node, or get, set and delete its keys",
		Description: "zmptool cache serve runs a cache server (toolbox/cache) on a node of its own until\n" +
			"Ctrl-C. get, set, del and stats call a running one by its --name. Values are bytes:\n" +
			"get prints the value as it is, without a newline (--json: key, version and value).\n" +
			"A missing key exits 1. Protocol and replication: docs/cache.md.",
		Subcommands: []*cli.Command{cacheServeCommand(), cacheGetCommand(), cacheSetCommand(), cacheDelCommand(), cacheStatsCommand()},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Errorf("unknown cache command %q (serve, get, set, del or stats)", c.Args().First())}
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
	addSecurityFlags(cmd)
	return setUsageErrors(cmd)
}

func cacheNameFlag() cli.Flag {
	return &cli.StringFlag{Name: "name", Value: cache.DefaultServerName, Usage: "the cache server's name: its services are NAME.get, NAME.set ...", EnvVars: []string{"ZMP_CACHE_NAME"}}
}

// cacheClientFlags are the flags of the commands that call a server.
func cacheClientFlags(jsonUsage string, extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		cacheNameFlag(),
		registryFlag(),
		timeoutFlag(5*time.Second, "deadline of the call"),
		&cli.StringFlag{Name: "node", Usage: "call the server on this node only", EnvVars: []string{"ZMP_NODE"}},
		jsonFlag(jsonUsage),
	}, extra...)
}

func cacheServeCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run a cache server node until Ctrl-C",
		UsageText: "zmptool cache serve [--name cache] [--max-bytes N] [--max-entries N] [--policy lru|2q|arc] [--heartbeat D] [--curve-secret FILE --allow-keys DIR]",
		Description: "The node is named after the server (--name) and listed in the registry; it prints\n" +
			"its endpoints and epoch, with --stats its counters at an interval, and on Ctrl-C\n" +
			"its final counters, and exits 0.",
		Flags: []cli.Flag{
			cacheNameFlag(),
			registryFlag(),
			&cli.Int64Flag{Name: "max-bytes", Value: cache.DefaultMaxBytes, Usage: "bound of the bytes the entries hold (keys, values and overhead)", EnvVars: []string{"ZMP_CACHE_MAX_BYTES"}},
			&cli.IntFlag{Name: "max-entries", Value: cache.DefaultMaxEntries, Usage: "bound of the number of entries", EnvVars: []string{"ZMP_CACHE_MAX_ENTRIES"}},
			&cli.StringFlag{Name: "policy", Value: "lru", Usage: "eviction policy: lru, 2q or arc", EnvVars: []string{"ZMP_CACHE_POLICY"}},
			&cli.DurationFlag{Name: "heartbeat", Value: cache.DefaultServerHeartbeat, Usage: "interval of the heartbeats on NAME.updates", EnvVars: []string{"ZMP_CACHE_HEARTBEAT"}},
			&cli.DurationFlag{Name: "default-ttl", Usage: "TTL of entries set without one (0: none)", EnvVars: []string{"ZMP_CACHE_DEFAULT_TTL"}},
			&cli.DurationFlag{Name: "max-ttl", Usage: "cap of every entry's TTL (0: none)", EnvVars: []string{"ZMP_CACHE_MAX_TTL"}},
			&cli.IntFlag{Name: "max-value", Value: cache.DefaultServerMaxValueSize, Usage: "largest value accepted, in bytes", EnvVars: []string{"ZMP_CACHE_MAX_VALUE"}},
			&cli.StringFlag{Name: "transport", Value: "tcp", Usage: "tcp or ipc", EnvVars: []string{"ZMP_TRANSPORT"}},
			&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "address the node's tcp sockets bind (other hosts need a routable one)", EnvVars: []string{"ZMP_HOST"}},
			&cli.DurationFlag{Name: "stats", Usage: "print the counters at this interval (0: never)", EnvVars: []string{"ZMP_STATS_INTERVAL"}},
			jsonFlag("print the first line and the counters as JSON lines"),
		},
		Action: noArgs(cacheServe),
	}
}

// cacheServerOptions turns serve's flags into server options.
func cacheServerOptions(c *cli.Context) ([]cache.ServerOption, error) {
	pol, err := cache.ParsePolicy(c.String("policy"))
	if err != nil {
		return nil, usageError{fmt.Errorf("--policy must be lru, 2q or arc, got %q", c.String("policy"))}
	}
	opts := []cache.ServerOption{
		cache.WithServerMaxBytes(c.Int64("max-bytes")), cache.WithServerMaxEntries(c.Int("max-entries")),
		cache.WithServerPolicy(pol), cache.WithServerHeartbeat(c.Duration("heartbeat")),
		cache.WithServerMaxValueSize(c.Int("max-value")),
	}
	if d := c.Duration("default-ttl"); d != 0 {
		opts = append(opts, cache.WithServerDefaultTTL(d))
	}
	if d := c.Duration("max-ttl"); d != 0 {
		opts = append(opts, cache.WithServerMaxTTL(d))
	}
	if c.Duration("stats") < 0 || c.Duration("default-ttl") < 0 || c.Duration("max-ttl") < 0 {
		return nil, usageError{errors.New("--stats, --default-ttl and --max-ttl cannot be negative")}
	}
	return opts, nil
}

// cacheListening is the first line serve prints.
type cacheListening struct {
	Name     string `json:"name"`
	Node     string `json:"node"`
	RPC      string `json:"rpc"`
	Pub      string `json:"pub"`
	Epoch    uint64 `json:"epoch,string"`
	Security string `json:"security,omitempty"`
	Key      string `json:"key,omitempty"`
}

func cacheServe(c *cli.Context) error {
	opts, err := cacheServerOptions(c)
	if err != nil {
		return err
	}
	t := core.Transport(c.String("transport"))
	if t != core.TCP && t != core.IPC {
		return usageError{fmt.Errorf("--transport must be tcp or ipc, not %q", t)}
	}
	s, err := openSession(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	name := c.String("name")
	var srv *cache.Server
	nodeOpts := []core.Option{core.WithRegistry(s.reg), core.WithTransport(t), core.WithHost(c.String("host"))}
	if sec, err := securityOption(c); err != nil || sec != nil {
		if err != nil {
			return err
		}
		nodeOpts = append(nodeOpts, sec)
	}
	node, err := core.NewNode(name, core.Behavior{
		Setup: func(_ context.Context, p *core.Peer) (err error) {
			srv, err = cache.NewServer(p, name, opts...)
			return err
		},
		Teardown: func(context.Context, *core.Peer) error {
			if srv == nil {
				return nil
			}
			return srv.Close()
		},
	}, nodeOpts...)
	if err != nil {
		return cacheStartError(err)
	}
	defer node.Close()
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	err = node.Start(ctx)
	cancel()
	if err != nil {
		return cacheStartError(err)
	}
	w, asJSON := c.App.Writer, c.Bool("json")
	info := node.Status().Info
	l := cacheListening{Name: name, Node: info.Name, RPC: info.RPC, Pub: info.Pub, Epoch: srv.Epoch(), Security: info.Security, Key: info.Key}
	if asJSON {
		json.NewEncoder(w).Encode(l)
	} else {
		fmt.Fprintf(w, "cache %s serving on node %s rpc=%s pub=%s epoch=%d", l.Name, l.Node, l.RPC, l.Pub, l.Epoch)
		if l.Security != "" {
			fmt.Fprintf(w, " security=%s", l.Security)
		}
		if l.Key != "" {
			fmt.Fprintf(w, " key=%s", l.Key)
		}
		fmt.Fprintln(w)
	}
	serveUntilDone(c.Context, c.Duration("stats"), func() { printCacheStatsLine(w, srv.Stats(), asJSON) })
	st := srv.Stats()
	stopCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := node.Stop(stopCtx); err != nil {
		return fmt.Errorf("stopping the cache node: %w", err)
	}
	if !asJSON {
		fmt.Fprint(w, "stopped: ")
	}
	printCacheStatsLine(w, st, asJSON)
	return nil
}

// cacheStartError makes a bad option a usage error.
func cacheStartError(err error) error {
	if errors.Is(err, cache.ErrBadOption) {
		return usageError{err}
	}
	return fmt.Errorf("starting the cache node: %w", err)
}

// printCacheStatsLine prints serve's counters on one line.
func printCacheStatsLine(w io.Writer, st cache.ServerStats, asJSON bool) {
	if asJSON {
		json.NewEncoder(w).Encode(struct {
			Time time.Time `json:"time"`
			cache.ServerStats
		}{time.Now(), st})
		return
	}
	fmt.Fprintf(w, "%s  entries=%d bytes=%d seq=%d gets=%d hits=%d misses=%d sets=%d deletes=%d cas_ok=%d cas_conflicts=%d evictions=%d expirations=%d snapshots=%d\n",
		time.Now().Format(time.TimeOnly), st.Entries, st.Bytes, st.Seq, st.Gets, st.Hits, st.Misses, st.Sets, st.Deletes,
		st.CASOK, st.CASConflicts, st.Evictions, st.Expirations, st.Snapshots)
}

// cacheClient opens a session and a client of the --name server.
func cacheClient(c *cli.Context) (*session, *cache.Client, error) {
	s, err := openSession(c, true, core.WithCallTimeout(c.Duration("timeout")))
	if err != nil {
		return nil, nil, err
	}
	var opts []core.CallOption
	if node := c.String("node"); node != "" {
		opts = append(opts, core.OnNode(node))
	}
	cl, err := cache.NewClient(s.peer, c.String("name"), opts...)
	if err != nil {
		s.Close()
		return nil, nil, usageError{err}
	}
	return s, cl, nil
}

// withCacheClient runs f with a client and a context of --timeout,
// and words its failure.
func withCacheClient(c *cli.Context, op string, f func(ctx context.Context, cl *cache.Client) error) error {
	s, cl, err := cacheClient(c)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	if err := f(ctx, cl); err != nil {
		return cacheFailure(c, op, err)
	}
	return nil
}

// cacheFailure words a failed operation for stderr.
func cacheFailure(c *cli.Context, op string, err error) error {
	name := c.String("name")
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return fmt.Errorf("cache %s: no key %q in cache %s", op, c.Args().First(), name)
	case errors.Is(err, cache.ErrBadKey):
		return usageError{fmt.Errorf("cache %s: %w", op, err)}
	case errors.Is(err, cache.ErrVersionMismatch), errors.Is(err, cache.ErrTooLarge):
		return fmt.Errorf("cache %s: %w", op, err)
	case errors.Is(err, core.ErrNoProvider):
		return fmt.Errorf("cache %s: no cache server %q is running (zmptool cache serve --name %s starts one): %w", op, name, name, err)
	}
	return fmt.Errorf("cache %s: %w", op, callFailure(name+"."+op, c.String("node"), c.Duration("timeout"), err))
}

func cacheGetCommand() *cli.Command {
	return &cli.Command{
		Name:        "get",
		Usage:       "print the value of a key",
		ArgsUsage:   "KEY",
		Description: "Prints the value as it is, without a newline; with --json {\"key\", \"version\", \"value\"}\n(\"raw\", base64, instead of \"value\" when the value is not UTF-8). A missing key exits 1.",
		Flags:       cacheClientFlags("print {\"key\", \"version\", \"value\"} instead of the raw value"),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 1, 1)
			if err != nil {
				return err
			}
			return withCacheClient(c, "get", func(ctx context.Context, cl *cache.Client) error {
				v, ver, err := cl.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if !c.Bool("json") {
					_, err = c.App.Writer.Write(v)
					return err
				}
				out := struct {
					Key     string  `json:"key"`
					Version uint64  `json:"version"`
					Value   *string `json:"value,omitempty"`
					Raw     []byte  `json:"raw,omitempty"`
				}{Key: args[0], Version: ver}
				if utf8.Valid(v) {
					s := string(v)
					out.Value = &s
				} else {
					out.Raw = v
				}
				return json.NewEncoder(c.App.Writer).Encode(out)
			})
		},
	}
}

func cacheSetCommand() *cli.Command {
	return &cli.Command{
		Name:        "set",
		Usage:       "set a key to a value and print its new version",
		ArgsUsage:   "KEY [VALUE]",
		Description: "Without VALUE, or with VALUE -, the value is read from stdin to its end.",
		Flags: cacheClientFlags("print {\"key\", \"version\"}",
			&cli.DurationFlag{Name: "ttl", Usage: "time to live (0: the server's default TTL, none unless it has one)", EnvVars: []string{"ZMP_CACHE_TTL"}}),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 1, 2)
			if err != nil {
				return err
			}
			if c.Duration("ttl") < 0 {
				return usageError{errors.New("--ttl cannot be negative")}
			}
			var value []byte
			if len(args) == 2 && args[1] != "-" {
				value = []byte(args[1])
			} else if value, err = io.ReadAll(c.App.Reader); err != nil {
				return fmt.Errorf("cache set: reading the value from stdin: %w", err)
			}
			return withCacheClient(c, "set", func(ctx context.Context, cl *cache.Client) error {
				ver, err := cl.Set(ctx, args[0], value, c.Duration("ttl"))
				if err != nil {
					return err
				}
				return printCacheResult(c, map[string]any{"key": args[0], "version": ver}, fmt.Sprintf("version %d", ver))
			})
		},
	}
}

func cacheDelCommand() *cli.Command {
	return &cli.Command{
		Name:        "del",
		Usage:       "delete a key",
		ArgsUsage:   "KEY",
		Description: "A key that was not there exits 1.",
		Flags:       cacheClientFlags("print {\"key\", \"deleted\"}"),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 1, 1)
			if err != nil {
				return err
			}
			return withCacheClient(c, "del", func(ctx context.Context, cl *cache.Client) error {
				ok, err := cl.Delete(ctx, args[0])
				switch {
				case err != nil:
					return err
				case !ok:
					return cache.ErrNotFound
				}
				return printCacheResult(c, map[string]any{"key": args[0], "deleted": true}, "deleted "+args[0])
			})
		},
	}
}

// printCacheResult prints v as JSON with --json, text otherwise.
func printCacheResult(c *cli.Context, v any, text string) error {
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(v)
	}
	_, err := fmt.Fprintln(c.App.Writer, text)
	return err
}

func cacheStatsCommand() *cli.Command {
	return &cli.Command{
		Name:   "stats",
		Usage:  "print a cache server's counters",
		Flags:  cacheClientFlags("print the counters as JSON"),
		Action: noArgs(cacheStats),
	}
}

func cacheStats(c *cli.Context) error {
	return withCacheClient(c, "stats", func(ctx context.Context, cl *cache.Client) error {
		st, err := cl.Stats(ctx)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c.App.Writer, st)
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		rows := []struct {
			k string
			v any
		}{
			{"name", st.Name}, {"epoch", st.Epoch}, {"seq", st.Seq}, {"policy", st.Policy},
			{"entries", fmt.Sprintf("%d / %d", st.Entries, st.MaxEntries)}, {"bytes", fmt.Sprintf("%d / %d", st.Bytes, st.MaxBytes)},
			{"gets", st.Gets}, {"hits", st.Hits}, {"misses", st.Misses}, {"sets", st.Sets}, {"deletes", st.Deletes},
			{"cas ok", st.CASOK}, {"cas conflicts", st.CASConflicts}, {"evictions", st.Evictions}, {"expirations", st.Expirations},
			{"snapshots", st.Snapshots}, {"bad requests", st.BadRequests}, {"too large", st.TooLarge},
			{"publish errors", st.PublishErrors}, {"publish dropped", st.PublishDropped},
		}
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%v\n", r.k, r.v)
		}
		return tw.Flush()
	})
}
