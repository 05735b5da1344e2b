package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/cache"
)

// Node kinds `zmptool agent` offers (besides the selftest's): an echo
// service and a cache server, each configured by its arguments. A
// program of your own registers its own kinds on its own agent (see
// toolbox/agent).
const (
	kindEcho  = "echo"
	kindCache = "cache"
)

// registerAgentKinds registers the kinds that take arguments.
func registerAgentKinds(l *core.Launcher) error {
	return errors.Join(
		l.RegisterArgs(kindEcho, echoKind),
		l.RegisterArgs(kindCache, cacheKind),
	)
}

// kindFlags is a flag set for a kind's arguments that reports errors
// instead of printing them.
func kindFlags(kind string) *flag.FlagSet {
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseKindArgs parses args, which must hold flags only.
func parseKindArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes flags only, not %q", fs.Name(), fs.Args())
	}
	return nil
}

// echoReply is what an echo node answers.
type echoReply struct {
	Node string `json:"node"`
	RPC  string `json:"rpc"`
	PID  int    `json:"pid"`
	Said string `json:"said"`
	// Via is the reply of the service the request was forwarded to.
	Via json.RawMessage `json:"via,omitempty"`
}

// echoKind serves --service (default "echo"): it answers the request
// with who it is and what it was sent; with --forward SERVICE it first
// calls SERVICE with the same request and adds that reply as "via".
func echoKind(args []string) (core.Behavior, error) {
	fs := kindFlags(kindEcho)
	service := fs.String("service", "echo", "the service to provide")
	forward := fs.String("forward", "", "call this service with each request and include its reply")
	if err := parseKindArgs(fs, args); err != nil {
		return core.Behavior{}, err
	}
	return core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
		fmt.Printf("echo: %s serving %s on %s\n", p.Name(), *service, p.Info().RPC)
		return p.HandleFunc(*service, func(ctx context.Context, r *core.Request) ([]byte, error) {
			reply := echoReply{Node: p.Name(), RPC: p.Info().RPC, PID: os.Getpid(), Said: string(r.Body)}
			if *forward != "" {
				via, err := p.Call(ctx, *forward, r.Body)
				if err != nil {
					return nil, fmt.Errorf("forwarding to %s: %w", *forward, err)
				}
				reply.Via = via
			}
			return json.Marshal(reply)
		})
	}}, nil
}

// cacheKind runs a cache server (toolbox/cache, as `zmptool cache
// serve`) with the flags of `zmptool cache serve` that shape it.
func cacheKind(args []string) (core.Behavior, error) {
	fs := kindFlags(kindCache)
	name := fs.String("name", cache.DefaultServerName, "the server's name: its services are NAME.get, NAME.set ...")
	maxBytes := fs.Int64("max-bytes", cache.DefaultMaxBytes, "bound of the bytes the entries hold")
	maxEntries := fs.Int("max-entries", cache.DefaultMaxEntries, "bound of the number of entries")
	policy := fs.String("policy", "lru", "eviction policy: lru, 2q or arc")
	heartbeat := fs.Duration("heartbeat", cache.DefaultServerHeartbeat, "interval of the heartbeats on NAME.updates")
	defaultTTL := fs.Duration("default-ttl", 0, "TTL of entries set without one (0: none)")
	maxTTL := fs.Duration("max-ttl", 0, "cap of every entry's TTL (0: none)")
	maxValue := fs.Int("max-value", cache.DefaultServerMaxValueSize, "largest value accepted, in bytes")
	if err := parseKindArgs(fs, args); err != nil {
		return core.Behavior{}, err
	}
	pol, err := cache.ParsePolicy(*policy)
	if err != nil {
		return core.Behavior{}, fmt.Errorf("-policy must be lru, 2q or arc, not %q", *policy)
	}
	if *maxBytes < 1 || *maxEntries < 1 || *maxValue < 1 || *heartbeat <= 0 || *defaultTTL < 0 || *maxTTL < 0 {
		return core.Behavior{}, errors.New("-max-bytes, -max-entries, -max-value and -heartbeat must be positive, the TTLs not negative")
	}
	opts := []cache.ServerOption{
		cache.WithServerMaxBytes(*maxBytes), cache.WithServerMaxEntries(*maxEntries), cache.WithServerPolicy(pol),
		cache.WithServerHeartbeat(*heartbeat), cache.WithServerMaxValueSize(*maxValue),
	}
	if *defaultTTL > 0 {
		opts = append(opts, cache.WithServerDefaultTTL(*defaultTTL))
	}
	if *maxTTL > 0 {
		opts = append(opts, cache.WithServerMaxTTL(*maxTTL))
	}
	var srv *cache.Server
	return core.Behavior{
		Setup: func(_ context.Context, p *core.Peer) (err error) {
			srv, err = cache.NewServer(p, *name, opts...)
			if err == nil {
				fmt.Printf("cache: %s serving %s on %s\n", p.Name(), *name, p.Info().RPC)
			}
			return err
		},
		Teardown: func(context.Context, *core.Peer) error {
			if srv == nil {
				return nil
			}
			return srv.Close()
		},
	}, nil
}
