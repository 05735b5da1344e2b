package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/urfave/cli/v2"
)

func kvServeCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "run a node of the store until Ctrl-C",
		UsageText: "zmptool kv serve --id ID --bind tcp://HOST:PORT --data DIR [--bootstrap | --join ADDR,...] [--name kv] [--curve-secret FILE --allow-keys DIR]",
		Description: "Runs one member of the store on a node named NAME-ID, listed in the registry, whose\n" +
			"RPC endpoint is --bind: that is the member's raft address (with ?key= and its CURVE\n" +
			"key under CURVE), printed on the first line, which others give to --join. The\n" +
			"first node of a new store starts with --bootstrap, the others with --join ADDR (any\n" +
			"member's address; it retries until it is in). Both apply only while --data holds no\n" +
			"store: a node restarted on its directory takes up where it was, with the same\n" +
			"command. Later lines say when it joined and who leads. Ctrl-C stops it (a leader\n" +
			"first hands over its leadership) with exit code 0.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "id", Usage: "the member's id, unique in the store (required)", EnvVars: []string{"ZMP_KV_ID"}},
			&cli.StringFlag{Name: "bind", Usage: "the node's RPC endpoint: tcp://HOST:PORT with a fixed port and an address the other members reach, or ipc://PATH (required)", EnvVars: []string{"ZMP_KV_BIND"}},
			&cli.StringFlag{Name: "data", Usage: "the member's data directory (raft log, snapshots), created if missing (required)", EnvVars: []string{"ZMP_KV_DATA"}},
			&cli.BoolFlag{Name: "bootstrap", Usage: "start a new store of this member alone (when --data holds none)", EnvVars: []string{"ZMP_KV_BOOTSTRAP"}},
			&cli.StringSliceFlag{Name: "join", Usage: "ask the members at these raft addresses to add this one (when --data holds no store; comma-separated or repeated)", EnvVars: []string{"ZMP_KV_JOIN"}},
			kvNameFlag(),
			registryFlag(),
			&cli.StringFlag{Name: "raft-log", Value: "error", Usage: "level of raft's log on stderr: off, error, warn, info or debug", EnvVars: []string{"ZMP_KV_RAFT_LOG"}},
			jsonFlag("print the first line and the later ones as JSON lines"),
		},
		Action: noArgs(kvServe),
	}
}

// kvServeFlags are serve's flags, checked.
type kvServeFlags struct {
	id, bind, data, name string
	transport            core.Transport
	host                 string // tcp: the host of --bind
	bootstrap            bool
	join                 []string
	raftLog              hclog.Level
}

func kvServeFlagsOf(c *cli.Context) (kvServeFlags, error) {
	f := kvServeFlags{id: c.String("id"), bind: c.String("bind"), data: c.String("data"), name: c.String("name"),
		bootstrap: c.Bool("bootstrap"), join: c.StringSlice("join")}
	switch {
	case f.id == "" || f.bind == "" || f.data == "":
		return f, usageError{errors.New("kv serve needs --id, --bind and --data")}
	case len(f.id) > consensus.MaxMemberIDLen:
		return f, usageError{fmt.Errorf("--id is at most %d bytes", consensus.MaxMemberIDLen)}
	case f.name == "":
		return f, usageError{errors.New("--name cannot be empty")}
	case f.bootstrap && len(f.join) > 0:
		return f, usageError{errors.New("give --bootstrap (a new store) or --join (an existing one), not both")}
	}
	for _, a := range f.join {
		if err := kvCheckAddr(a); err != nil {
			return f, usageError{fmt.Errorf("--join: %w", err)}
		}
	}
	var err error
	if f.transport, f.host, err = kvBind(f.bind); err != nil {
		return f, usageError{fmt.Errorf("--bind: %w", err)}
	}
	lvl := c.String("raft-log")
	if f.raftLog = hclog.LevelFromString(lvl); f.raftLog == hclog.NoLevel || lvl == "trace" {
		return f, usageError{fmt.Errorf("--raft-log must be off, error, warn, info or debug, not %q", lvl)}
	}
	return f, nil
}

// kvBind checks --bind: a tcp endpoint with a host others can dial and
// a fixed port (the raft address must survive restarts), or an ipc one.
func kvBind(bind string) (core.Transport, string, error) {
	if path, ok := strings.CutPrefix(bind, "ipc://"); ok {
		if path == "" {
			return "", "", errors.New("ipc:// needs a path")
		}
		return core.IPC, "", nil
	}
	hostPort, ok := strings.CutPrefix(bind, "tcp://")
	if !ok {
		return "", "", fmt.Errorf("%q is not tcp://HOST:PORT or ipc://PATH", bind)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", "", err
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", "", fmt.Errorf("%q needs a fixed port (1-65535): it is the member's raft address, which must not change", bind)
	}
	switch host {
	case "", "*", "0.0.0.0", "::":
		return "", "", fmt.Errorf("%q: bind an address the other members can dial, not a wildcard: it is the member's raft address", bind)
	}
	return core.TCP, host, nil
}

// kvServeLine is the first line serve prints.
type kvServeLine struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Node     string `json:"node"`
	Raft     string `json:"raft"`
	Pub      string `json:"pub"`
	Data     string `json:"data"`
	Start    string `json:"start"` // bootstrap, join or restart
	Security string `json:"security,omitempty"`
}

func kvServe(c *cli.Context) error {
	f, err := kvServeFlagsOf(c)
	if err != nil {
		return err
	}
	st, err := consensus.OpenStore(f.data)
	if err != nil {
		return fmt.Errorf("kv serve: opening --data %s: %w", f.data, err)
	}
	defer st.Close()
	has, err := raft.HasExistingState(st.Log(), st.Stable(), st.Snapshots())
	if err != nil {
		return fmt.Errorf("kv serve: reading --data %s: %w", f.data, err)
	}
	start := "restart"
	switch {
	case !has && f.bootstrap:
		start = "bootstrap"
	case !has && len(f.join) > 0:
		start = "join"
	case !has:
		return usageError{fmt.Errorf("kv serve: --data %s holds no store: start the first member with --bootstrap, the others with --join ADDR (a member's raft address)", f.data)}
	}
	s, err := openSession(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	peer, err := kvServePeer(c, f, s.reg)
	if err != nil {
		return err
	}
	defer peer.Close()
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: c.App.ErrWriter, Level: f.raftLog})
	nd, self, err := kvStartNode(f, peer, st, logger, start == "bootstrap")
	if err != nil {
		return err
	}
	defer nd.Close()
	stop, err := nd.Serve(peer, f.name)
	if err != nil {
		return fmt.Errorf("kv serve: %w", err)
	}
	info := peer.Info()
	kvServePrint(c, kvServeLine{ID: f.id, Name: f.name, Node: peer.Name(), Raft: self, Pub: info.Pub, Data: f.data, Start: start, Security: info.Security})
	if start != "join" || kvJoin(c, peer, f, self) == nil { // kvJoin fails on Ctrl-C only
		kvFollowLeader(c, nd)
		kvHandOver(nd)
	}
	// Stopping: what raft says about members it no longer reaches
	// while it shuts down is noise.
	logger.SetLevel(hclog.Off)
	stop()
	if err := nd.Close(); err != nil {
		return fmt.Errorf("kv serve: stopping raft: %w", err)
	}
	kvServeEvent(c, map[string]any{"event": "stopped"}, "stopped")
	return nil
}

// kvServePeer starts the member's node: listed in the registry as
// NAME-ID, its RPC socket at --bind, its pub socket on a free port of
// the same host (it publishes nothing).
func kvServePeer(c *cli.Context, f kvServeFlags, reg core.Registry) (*core.Peer, error) {
	opts := []core.Option{core.WithRegistry(reg), core.WithTransport(f.transport), core.WithEndpoints(f.bind, "")}
	if f.host != "" {
		opts = append(opts, core.WithHost(f.host))
	}
	sec, err := securityOption(c)
	if err != nil {
		return nil, err
	}
	if sec != nil {
		opts = append(opts, sec)
	}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()
	p, err := core.NewPeer(ctx, f.name+"-"+f.id, opts...)
	if err != nil {
		return nil, fmt.Errorf("kv serve: starting the node at %s: %w", f.bind, err)
	}
	return p, nil
}

// kvStartNode starts raft on the member's transport and store, first
// bootstrapping a store of this member alone when asked; it returns
// the member's raft address.
func kvStartNode(f kvServeFlags, peer *core.Peer, st *consensus.Store, logger hclog.Logger, bootstrap bool) (*consensus.Node, string, error) {
	tr, err := consensus.NewTransport(peer)
	if err != nil {
		return nil, "", fmt.Errorf("kv serve: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.Logger = logger
	cfg := consensus.NodeConfig{ID: f.id, Transport: tr, Logs: st.Log(), Stable: st.Stable(), Snapshots: st.Snapshots(), Raft: rc}
	if bootstrap {
		cfg.Bootstrap = []raft.Server{{ID: raft.ServerID(f.id), Address: tr.LocalAddr()}}
	}
	nd, err := consensus.NewNode(cfg)
	if err != nil {
		tr.Close()
		return nil, "", fmt.Errorf("kv serve: starting raft: %w", err)
	}
	return nd, string(tr.LocalAddr()), nil
}

func kvServePrint(c *cli.Context, l kvServeLine) {
	if c.Bool("json") {
		json.NewEncoder(c.App.Writer).Encode(l)
		return
	}
	fmt.Fprintf(c.App.Writer, "kv %s serving %s on node %s raft=%s pub=%s data=%s start=%s", l.ID, l.Name, l.Node, l.Raft, l.Pub, l.Data, l.Start)
	if l.Security != "" {
		fmt.Fprintf(c.App.Writer, " security=%s", l.Security)
	}
	fmt.Fprintln(c.App.Writer)
}

// kvServeEvent prints a later line of serve: v as JSON with --json
// (with the time), text otherwise.
func kvServeEvent(c *cli.Context, v map[string]any, text string) {
	if c.Bool("json") {
		v["time"] = time.Now()
		json.NewEncoder(c.App.Writer).Encode(v)
		return
	}
	fmt.Fprintln(c.App.Writer, text)
}

// kvJoin asks the members at --join, in turn, to add this member, until
// one has (the new configuration is committed) or Ctrl-C. A failure is
// told on stderr once until it changes.
func kvJoin(c *cli.Context, peer *core.Peer, f kvServeFlags, self string) error {
	ctx := c.Context
	last := ""
	for {
		for _, a := range f.join {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := consensus.NewClient(peer, f.name, core.At(a)).AddVoter(actx, f.id, self)
			cancel()
			if err == nil {
				kvServeEvent(c, map[string]any{"event": "joined", "through": a}, "joined through "+a)
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if msg := err.Error(); msg != last {
				fmt.Fprintf(c.App.ErrWriter, "zmptool: kv serve: joining through %s: %v (retrying)\n", a, err)
				last = msg
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// kvFollowLeader prints who leads whenever that changes, until Ctrl-C.
func kvFollowLeader(c *cli.Context, nd *consensus.Node) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-c.Context.Done():
			return
		case <-t.C:
		}
		addr, id := nd.Leader()
		if id == "" || id == last {
			continue
		}
		last = id
		kvServeEvent(c, map[string]any{"event": "leader", "leader": id, "address": addr}, fmt.Sprintf("leader %s at %s", id, addr))
	}
}

// kvHandOver hands the leadership to another voter, if this member
// leads and has one, so that the store does not wait for an election
// timeout after it stops.
func kvHandOver(nd *consensus.Node) {
	if !nd.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ms, err := nd.Members(ctx)
	if err != nil {
		return
	}
	for _, m := range ms {
		if m.Voter && m.ID != nd.ID() {
			nd.TransferLeadership(ctx, "")
			return
		}
	}
}
