package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/internal/zmtp"
	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/urfave/cli/v2"
)

// kvCommand is `zmptool kv`: run a node of a replicated key-value store
// (toolbox/consensus), and read and change the store.
func kvCommand() *cli.Command {
	cmd := &cli.Command{
		Name:     "kv",
		Category: "run",
		Usage:    "run a node of a replicated key-value store (raft), or read and change the store",
		Description: "zmptool kv serve runs one node of a store until Ctrl-C: the first with --bootstrap,\n" +
			"the others with --join ADDR (the raft address the first printed). The other\n" +
			"commands call the store: its nodes are found in the registry by the store's\n" +
			"--name, or called straight at --at ADDR,ADDR... A missing key exits 1.\n" +
			"Guarantees and failure behaviour: docs/consensus.md.",
		Subcommands: []*cli.Command{
			kvServeCommand(), kvGetCommand(), kvPutCommand(), kvDelCommand(), kvCASCommand(), kvListCommand(),
			kvWatchCommand(), kvMembersCommand(), kvTransferCommand(), kvRemoveCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Errorf("unknown kv command %q (serve, get, put, del, cas, list, watch, members, transfer or remove)", c.Args().First())}
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
	addSecurityFlags(cmd)
	return setUsageErrors(cmd)
}

func kvNameFlag() cli.Flag {
	return &cli.StringFlag{Name: "name", Value: consensus.DefaultServiceName, Usage: "the store's service name: its services are NAME.get, NAME.propose ...", EnvVars: []string{"ZMP_KV_NAME"}}
}

func kvStaleFlag() cli.Flag {
	return &cli.BoolFlag{Name: "stale", Usage: "read the state of the node that answers, without asking the leader: fast, but it may miss the latest writes", EnvVars: []string{"ZMP_KV_STALE"}}
}

// kvClientFlags are the flags of the commands that call the store.
func kvClientFlags(jsonUsage string, extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		kvNameFlag(),
		registryFlag(),
		&cli.StringSliceFlag{Name: "at", Usage: "call the store's nodes straight at these raft addresses, trying the next when one fails, instead of finding them in the registry (comma-separated or repeated)", EnvVars: []string{"ZMP_KV_AT"}},
		timeoutFlag(5*time.Second, "deadline of the operation (watch: of each poll)"),
		jsonFlag(jsonUsage),
	}, extra...)
}

// kvConn is a command's way to the store: its own peer, and either the
// registry (core spreads calls over the nodes there) or --at addresses.
type kvConn struct {
	s    *session // with the registry; nil with --at
	peer *core.Peer
	name string
	at   []string
	next int // the --at address to try first
}

// openKV starts the command's peer: in the registry, or with --at in
// none (it calls the nodes straight at their addresses).
func openKV(c *cli.Context) (*kvConn, error) {
	k := &kvConn{name: c.String("name"), at: c.StringSlice("at")}
	if k.name == "" {
		return nil, usageError{errors.New("--name cannot be empty")}
	}
	if len(k.at) == 0 {
		s, err := openSession(c, true)
		if err != nil {
			return nil, err
		}
		k.s, k.peer = s, s.peer
		return k, nil
	}
	for _, a := range k.at {
		if err := kvCheckAddr(a); err != nil {
			return nil, usageError{fmt.Errorf("--at: %w", err)}
		}
	}
	opts := []core.Option{core.WithRegistry(core.NewMemRegistry())}
	sec, err := securityOption(c)
	if err != nil {
		return nil, err
	}
	if sec != nil {
		opts = append(opts, sec)
	}
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Second)
	defer cancel()
	if k.peer, err = core.NewPeer(ctx, "zmptool-kv-"+c.Command.Name+"-"+randomHex(4), opts...); err != nil {
		return nil, fmt.Errorf("starting zmptool's peer: %w", err)
	}
	return k, nil
}

func (k *kvConn) Close() error {
	if k.s != nil {
		return k.s.Close()
	}
	return k.peer.Close()
}

// kvCheckAddr checks a raft address as kv serve prints it: a tcp:// or
// ipc:// endpoint, with "?key=" and a CURVE key or without.
func kvCheckAddr(addr string) error {
	ep, _, err := core.SplitKeyedEndpoint(addr)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(ep, "tcp://") && !strings.HasPrefix(ep, "ipc://") || len(ep) <= len("tcp://") {
		return fmt.Errorf("%q is not a tcp:// or ipc:// address", addr)
	}
	return nil
}

// do runs f with a client of the store until it succeeds, fails for
// good, or ctx ends. Through the registry, core picks a node; with --at,
// each address is tried in turn (from the last that answered) with a
// share of the time. f is tried again, here or at another node, after
// a failure that says it did not run (no leader known, no node
// reached); when idempotent, also after one that leaves it unknown
// (a timeout, a lost connection). So a write that is not idempotent is
// never sent twice by zmptool; as in any consensus system, one whose
// node failed mid-call may or may not have been applied.
func (k *kvConn) do(ctx context.Context, idempotent bool, f func(ctx context.Context, cl *consensus.Client) error) error {
	for round := 0; ; round++ {
		err := k.round(ctx, round, idempotent, f)
		if err == nil || !kvRetryable(err, idempotent) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// round is one try through the registry, or one at each --at address.
// With more than one address, each is pinged first, for a second (more
// in later rounds), so that a member that is down does not take its
// whole share of the time: core waits for a connection to come up
// until the call's deadline.
func (k *kvConn) round(ctx context.Context, round int, idempotent bool, f func(ctx context.Context, cl *consensus.Client) error) error {
	if len(k.at) == 0 {
		return f(ctx, consensus.NewClient(k.peer, k.name))
	}
	var last error
	for i := range k.at {
		j := (k.next + i) % len(k.at)
		share := kvAttemptTime(ctx, len(k.at)-i)
		if len(k.at) > 1 {
			pctx, cancel := context.WithTimeout(ctx, min(share, time.Second<<min(round, 5)))
			_, err := k.peer.Call(pctx, core.IntrospectPing, nil, core.At(k.at[j]))
			cancel()
			if err != nil && ctx.Err() == nil {
				last = fmt.Errorf("%s does not answer: %w", k.at[j], err)
				continue
			}
		}
		actx, cancel := context.WithTimeout(ctx, share)
		err := f(actx, consensus.NewClient(k.peer, k.name, core.At(k.at[j])))
		cancel()
		if err == nil {
			k.next = j
			return nil
		}
		if !kvRetryable(err, idempotent) || ctx.Err() != nil {
			return err
		}
		last = err
	}
	return last
}

// kvAttemptTime is one attempt's share of what is left of ctx when n
// attempts may follow: at least a second, unless less is left.
func kvAttemptTime(ctx context.Context, n int) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 5 * time.Second
	}
	left := time.Until(d)
	return min(left, max(left/time.Duration(max(n, 1)), time.Second))
}

// kvRetryable reports whether another try, here or at another node,
// may do better: the node knew no leader or was not reached (the call
// did not run), or, for an idempotent call, it did not answer in time.
func kvRetryable(err error, idempotent bool) bool {
	notRun := []error{consensus.ErrNotLeader, core.ErrNoProvider, core.ErrUnknownService, core.ErrOverloaded}
	unknown := []error{consensus.ErrTimeout, consensus.ErrOutcomeUnknown, core.ErrConnectionLost, core.ErrTimeout, context.DeadlineExceeded}
	for _, e := range notRun {
		if errors.Is(err, e) {
			return true
		}
	}
	var re *core.RemoteError
	if errors.As(err, &re) && re.Code == core.CodeUnavailable {
		return true
	}
	for _, e := range unknown {
		if idempotent && errors.Is(err, e) {
			return true
		}
	}
	return false
}

// kvSecurityRefused reports a failure at the security handshake
// (credentials refused, a key not trusted, CURVE against NULL).
func kvSecurityRefused(err error) bool {
	for _, e := range []error{core.ErrDenied, core.ErrUntrusted, zmtp.ErrMechanism, zmtp.ErrCrypto} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// withKV runs f with the store, within --timeout, and words its
// failure; idempotent says whether f may run twice (see kvConn.do).
func withKV(c *cli.Context, op string, idempotent bool, f func(ctx context.Context, cl *consensus.Client) error) error {
	k, err := openKV(c)
	if err != nil {
		return err
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	if err := k.do(ctx, idempotent, f); err != nil {
		return kvFailure(c, op, err)
	}
	return nil
}

// errKVMissing is a key that is not there; the command words it.
var errKVMissing = errors.New("no such key")

// kvFailure words a failed operation for stderr.
func kvFailure(c *cli.Context, op string, err error) error {
	name, timeout := c.String("name"), c.Duration("timeout")
	switch {
	case errors.Is(err, errKVMissing):
		return fmt.Errorf("kv %s: no key %q", op, c.Args().First())
	case errors.Is(err, consensus.ErrBadRequest):
		return usageError{fmt.Errorf("kv %s: %w", op, err)}
	case errors.Is(err, consensus.ErrNotMember), errors.Is(err, consensus.ErrLeaseNotFound), errors.Is(err, consensus.ErrCompacted):
		return fmt.Errorf("kv %s: %w", op, err)
	case errors.Is(err, consensus.ErrOutcomeUnknown):
		return fmt.Errorf("kv %s: the store lost the answer (the leader changed meanwhile): the write may or may not have been applied; read the key before writing again: %w", op, err)
	case errors.Is(err, consensus.ErrNotLeader):
		return fmt.Errorf("kv %s: no leader within --timeout %v (an election under way, or most of the store's nodes down): %w", op, timeout, err)
	case kvSecurityRefused(err):
		return fmt.Errorf("kv %s: the store's members and this client refused each other at the security handshake (with CURVE both sides need --curve-secret, and --allow-keys with the other's public key): %w", op, err)
	case errors.Is(err, core.ErrNoProvider) && len(c.StringSlice("at")) == 0:
		return fmt.Errorf("kv %s: no node of store %q in the registry (zmptool kv serve starts one; --at ADDR calls one straight): %w", op, name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kv %s: timed out (--timeout %v): %w", op, timeout, err)
	}
	return fmt.Errorf("kv %s: %w", op, callFailure("store "+name, "", timeout, err))
}
