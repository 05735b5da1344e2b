package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:      "info",
		Category:  "inspect and drive",
		Usage:     "show a node's identity, endpoints and counters (its zmp.info and zmp.stats), or a group's members",
		ArgsUsage: "NODE",
		Flags:     []cli.Flag{registryFlag(), timeoutFlag(5*time.Second, "bound for the registry read and each call"), jsonFlag(`print {"info": ..., "stats": ...} as JSON`)},
		Action:    info,
	}
}

// nodeReport is what info prints.
type nodeReport struct {
	Info  core.InfoReply `json:"info"`
	Stats core.Stats     `json:"stats"`
}

func info(c *cli.Context) error {
	args, err := argsOf(c, 1, 1)
	if err != nil {
		return err
	}
	s, err := openSession(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	name := args[0]
	if _, err := core.Lookup(ctx, s.reg, name); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return groupInfo(c, s, name)
		}
		return err
	}
	var r nodeReport
	if r.Info, err = core.Call[core.InfoReply](ctx, s.peer, core.IntrospectInfo, nil, core.OnNode(name)); err != nil {
		return fmt.Errorf("%s on %s: %w", core.IntrospectInfo, name, err)
	}
	if r.Stats, err = core.Call[core.Stats](ctx, s.peer, core.IntrospectStats, nil, core.OnNode(name)); err != nil {
		return fmt.Errorf("%s on %s: %w", core.IntrospectStats, name, err)
	}
	sort.Slice(r.Stats.Subscriptions, func(i, j int) bool { // core lists them in no order
		a, b := r.Stats.Subscriptions[i], r.Stats.Subscriptions[j]
		return a.Topic < b.Topic || (a.Topic == b.Topic && !a.Prefix && b.Prefix)
	})
	if c.Bool("json") {
		return printJSON(c.App.Writer, r)
	}
	return printNodeReport(c.App.Writer, r)
}

func printNodeReport(w io.Writer, r nodeReport) error {
	in, st := r.Info, r.Stats
	t := newTable(w, "node", in.Name)
	t.row("id", in.ID)
	t.row("process", fmt.Sprintf("pid %d on %s, %s, %d goroutines", in.PID, in.Host, in.GoVersion, in.Goroutines))
	t.row("started", fmt.Sprintf("%s (up %s)", in.Started.Format(time.DateTime), shortDuration(time.Duration(in.UptimeSeconds*float64(time.Second)))))
	t.row("rpc", in.RPC)
	t.row("pub", in.Pub)
	t.row("labels", labelsOrDash(in.Labels))
	t.row("connections", fmt.Sprintf("%d callers, %d subscribers", st.Server.RPCPeers, st.Server.Subscribers))
	t.row("refused", fmt.Sprintf("%d malformed, %d overloaded, %d unknown service, %d failed handshakes, %d publish drops",
		st.Server.Malformed, st.Server.Overloaded, st.Server.UnknownService, st.Server.HandshakeFailed, st.Server.PublishDropped))
	if err := t.flush(); err != nil {
		return err
	}
	printServiceStats(w, st.Services)
	printTopicStats(w, st.Topics)
	printSubscriptions(w, st.Subscriptions)
	printExtraStats(w, st.Extra)
	return nil
}

// printExtraStats shows the statistics toolbox packages added to the
// node (core.Peer.AddStats), one source per row, as name=value pairs.
func printExtraStats(w io.Writer, extra map[string]json.RawMessage) {
	if len(extra) == 0 {
		return
	}
	fmt.Fprintln(w)
	t := newTable(w, "STATS", "VALUES")
	for _, name := range sortedKeys(extra) {
		t.row(name, flatJSON(extra[name]))
	}
	t.flush()
}

// flatJSON renders a JSON object as sorted key=value pairs, nested
// objects with dotted keys; anything else as its JSON text.
func flatJSON(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return string(raw)
	}
	var pairs []string
	flatten("", m, &pairs)
	return strings.Join(pairs, " ")
}

func flatten(prefix string, m map[string]any, pairs *[]string) {
	for _, k := range sortedKeys(m) {
		switch x := m[k].(type) {
		case map[string]any:
			flatten(prefix+k+".", x, pairs)
		default:
			b, _ := json.Marshal(x)
			*pairs = append(*pairs, prefix+k+"="+strings.Trim(string(b), `"`))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

func printServiceStats(w io.Writer, services map[string]core.ServiceStats) {
	fmt.Fprintln(w)
	t := newTable(w, "SERVICE", "CALLS", "ERRORS", "BYTES IN", "BYTES OUT")
	for _, name := range sortedKeys(services) {
		s := services[name]
		t.row(name, u(s.Calls), u(s.Errors), u(s.BytesIn), u(s.BytesOut))
	}
	t.flush()
}

func printTopicStats(w io.Writer, topics map[string]core.TopicStats) {
	fmt.Fprintln(w)
	if len(topics) == 0 {
		fmt.Fprintln(w, "publishes no topics")
		return
	}
	t := newTable(w, "TOPIC", "PUBLISHED", "DELIVERED", "DROPPED", "BYTES")
	for _, name := range sortedKeys(topics) {
		s := topics[name]
		t.row(name, u(s.Published), u(s.Delivered), u(s.Dropped), u(s.Bytes))
	}
	t.flush()
}

func printSubscriptions(w io.Writer, subs []core.SubscriptionInfo) {
	fmt.Fprintln(w)
	if len(subs) == 0 {
		fmt.Fprintln(w, "subscribes to no topics")
		return
	}
	t := newTable(w, "SUBSCRIPTION", "PUBLISHERS", "RECEIVED", "DROPPED", "MISSED", "QUEUED")
	for _, s := range subs {
		name := s.Topic
		if s.Prefix {
			name += "*"
		}
		t.row(name, strconv.Itoa(s.Publishers), u(s.Received), u(s.Dropped), u(s.Missed), strconv.Itoa(s.Queued))
	}
	t.flush()
}
