package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func listCommand() *cli.Command {
	flags := func(what string) []cli.Flag {
		return []cli.Flag{registryFlag(), timeoutFlag(5*time.Second, "bound for reading the registry and each node's zmp.stats"), jsonFlag("print " + what + " as JSON")}
	}
	return &cli.Command{
		Name:      "list",
		Category:  "inspect and drive",
		Usage:     "list the live nodes, services or topics of the registry",
		ArgsUsage: "nodes|services|topics",
		Subcommands: []*cli.Command{
			{
				Name: "nodes", Usage: "list the live nodes: name, pid, host, uptime, endpoints, and labels when any node has some",
				Flags: flags("the registry entries"), Action: listNodes,
			},
			{
				Name: "services", Usage: "list the services and the nodes providing each",
				Flags: flags("the services"), Action: listServices,
			},
			{
				Name: "topics", Usage: "list the topics with their publishers and subscribers",
				Description: "Publishers come from the registry; subscribers from each node's zmp.stats.\n" +
					"A prefix subscription is listed under every topic it matches, and as PREFIX*.",
				Flags: flags("the topics"), Action: listTopics,
			},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Len() > 0 {
				return usageError{fmt.Errorf("list: unknown kind %q: want nodes, services or topics", c.Args().First())}
			}
			return cli.ShowSubcommandHelp(c)
		},
	}
}

// readNodes opens a session and reads the live nodes within --timeout.
func readNodes(c *cli.Context, withPeer bool) (*session, []core.NodeInfo, error) {
	if _, err := argsOf(c, 0, 0); err != nil {
		return nil, nil, err
	}
	s, err := openSession(c, withPeer)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	nodes, err := s.nodes(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, nodes, nil
}

func listNodes(c *cli.Context) error {
	s, nodes, err := readNodes(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if c.Bool("json") {
		return printJSON(c.App.Writer, nodes)
	}
	if len(nodes) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "no live nodes in %s\n", s.registryName())
		return nil
	}
	labelled := slices.ContainsFunc(nodes, func(n core.NodeInfo) bool { return len(n.Labels) > 0 })
	header := []string{"NAME", "PID", "HOST", "UPTIME", "SERVICES", "TOPICS", "RPC"}
	if labelled {
		header = append(header, "LABELS")
	}
	t := newTable(c.App.Writer, header...)
	for _, n := range nodes {
		cells := []string{n.Name, strconv.Itoa(n.PID), n.Host, shortDuration(time.Since(n.Started)),
			strconv.Itoa(len(n.Services)), strconv.Itoa(len(n.Topics)), n.RPC}
		if labelled {
			cells = append(cells, labelsOrDash(n.Labels))
		}
		t.row(cells...)
	}
	return t.flush()
}

// labelsOrDash writes labels as k=v,k=v sorted by key, or "-" for none.
func labelsOrDash(labels map[string]string) string {
	if len(labels) == 0 {
		return "-"
	}
	return core.FormatLabels(labels)
}

// serviceEntry is one line of `list services`.
type serviceEntry struct {
	Service   string   `json:"service"`
	Providers []string `json:"providers"`
}

func services(nodes []core.NodeInfo) []serviceEntry {
	by := map[string][]string{}
	for _, n := range nodes {
		for _, svc := range n.Services {
			by[svc] = append(by[svc], n.Name)
		}
	}
	out := make([]serviceEntry, 0, len(by))
	for svc, providers := range by {
		out = append(out, serviceEntry{svc, providers})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

func listServices(c *cli.Context) error {
	s, nodes, err := readNodes(c, false)
	if err != nil {
		return err
	}
	defer s.Close()
	entries := services(nodes)
	if c.Bool("json") {
		return printJSON(c.App.Writer, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "no services in %s\n", s.registryName())
		return nil
	}
	t := newTable(c.App.Writer, "SERVICE", "PROVIDERS")
	for _, e := range entries {
		t.row(e.Service, listOrDash(e.Providers))
	}
	return t.flush()
}

// topicEntry is one line of `list topics`. A subscriber by prefix is
// written "node (prefix P)".
type topicEntry struct {
	Topic       string   `json:"topic"`
	Publishers  []string `json:"publishers"`
	Subscribers []string `json:"subscribers"`
}

// topicGraph gathers who publishes and who subscribes to what: from
// the registry entries and the nodes' zmp.stats subscriptions.
func topicGraph(nodes []core.NodeInfo, stats map[string]nodeStats) []topicEntry {
	by := map[string]*topicEntry{}
	entry := func(name string) *topicEntry {
		if by[name] == nil {
			by[name] = &topicEntry{Topic: name, Publishers: []string{}, Subscribers: []string{}}
		}
		return by[name]
	}
	for _, n := range nodes {
		for _, t := range n.Topics {
			e := entry(t)
			e.Publishers = append(e.Publishers, n.Name)
		}
	}
	published := make([]string, 0, len(by))
	for t := range by {
		published = append(published, t)
	}
	for _, n := range nodes {
		for _, sub := range stats[n.Name].stats.Subscriptions {
			if !sub.Prefix {
				e := entry(sub.Topic)
				e.Subscribers = appendOnce(e.Subscribers, n.Name)
				continue
			}
			who := fmt.Sprintf("%s (prefix %s)", n.Name, sub.Topic)
			for _, t := range published {
				if strings.HasPrefix(t, sub.Topic) {
					by[t].Subscribers = appendOnce(by[t].Subscribers, who)
				}
			}
			e := entry(sub.Topic + "*")
			e.Subscribers = appendOnce(e.Subscribers, n.Name)
		}
	}
	out := make([]topicEntry, 0, len(by))
	for _, e := range by {
		sort.Strings(e.Subscribers)
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func listTopics(c *cli.Context) error {
	s, nodes, err := readNodes(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	stats := s.statsOf(c.Context, nodes, c.Duration("timeout"))
	warnUnanswered(c.App.ErrWriter, stats)
	entries := topicGraph(nodes, stats)
	if c.Bool("json") {
		return printJSON(c.App.Writer, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "no topics in %s\n", s.registryName())
		return nil
	}
	t := newTable(c.App.Writer, "TOPIC", "PUBLISHERS", "SUBSCRIBERS")
	for _, e := range entries {
		t.row(e.Topic, listOrDash(e.Publishers), listOrDash(e.Subscribers))
	}
	return t.flush()
}
