package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gozmp/zmp/core"
)

// Client asks agents to place, stop and restart nodes and to report
// on them, through a peer of the caller's (whose security must be one
// the agents admit). It holds no state of its own: a controller that
// crashes and comes back makes a new Client and applies its placements
// again; nodes already running with the same spec are adopted, not
// restarted. It is safe for concurrent use.
type Client struct {
	p *core.Peer
}

// NewClient returns a client calling agents through p.
func NewClient(p *core.Peer) *Client { return &Client{p: p} }

// Agents lists the agents in the registry, sorted by name.
func (c *Client) Agents(ctx context.Context) ([]core.NodeInfo, error) {
	nodes, err := core.Providers(ctx, c.p.Registry(), ServiceStatus)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(nodes, func(a, b core.NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return nodes, nil
}

// Select returns the agents sel names: all of them when sel is empty,
// those whose labels include every k=v of a selector "k=v[,k=v...]",
// or the agent of that name. None is ErrNoAgent.
func (c *Client) Select(ctx context.Context, sel string) ([]core.NodeInfo, error) {
	agents, err := c.Agents(ctx)
	if err != nil {
		return nil, err
	}
	match, err := Matcher(sel)
	if err != nil {
		return nil, err
	}
	agents = slices.DeleteFunc(agents, func(n core.NodeInfo) bool { return !match(n) })
	if len(agents) == 0 {
		if sel == "" {
			return nil, fmt.Errorf("%w: no agent in the registry", ErrNoAgent)
		}
		return nil, fmt.Errorf("%w: no agent matches %q", ErrNoAgent, sel)
	}
	return agents, nil
}

// SelectOne returns the one agent sel names; a selector that matches
// several is ErrAmbiguous, with their names: placement is explicit.
func (c *Client) SelectOne(ctx context.Context, sel string) (core.NodeInfo, error) {
	agents, err := c.Select(ctx, sel)
	if err != nil {
		return core.NodeInfo{}, err
	}
	if len(agents) > 1 {
		names := make([]string, len(agents))
		for i, n := range agents {
			names[i] = n.Name + " (" + core.FormatLabels(n.Labels) + ")"
		}
		return core.NodeInfo{}, fmt.Errorf("%w: %q matches %d agents: %s", ErrAmbiguous, sel, len(agents), strings.Join(names, ", "))
	}
	return agents[0], nil
}

// Matcher returns what Select matches with sel: every node for "", the
// nodes whose labels include each k=v of "k=v[,k=v...]", or the node
// named sel.
func Matcher(sel string) (func(core.NodeInfo) bool, error) {
	if sel == "" {
		return func(core.NodeInfo) bool { return true }, nil
	}
	if !strings.Contains(sel, "=") {
		return func(n core.NodeInfo) bool { return n.Name == sel }, nil
	}
	labels, err := ParseLabels(sel)
	if err != nil {
		return nil, err
	}
	return func(n core.NodeInfo) bool { return n.HasLabels(labels) }, nil
}

// ParseLabels reads "k=v[,k=v...]" (core.CheckLabels' rules; a value
// may be empty, not contain a comma).
func ParseLabels(s string) (map[string]string, error) {
	labels := map[string]string{}
	if s == "" {
		return labels, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not k=v", core.ErrBadLabel, kv)
		}
		if _, dup := labels[k]; dup {
			return nil, fmt.Errorf("%w: %q given twice", core.ErrBadLabel, k)
		}
		labels[k] = v
	}
	return labels, core.CheckLabels(labels)
}

// call calls service on agent with req as JSON and decodes the reply
// into resp.
func (c *Client) call(ctx context.Context, agent, service string, req, resp any) error {
	var body []byte
	if req != nil {
		body = marshal(req)
	}
	reply, err := c.p.Call(ctx, service, body, core.OnNode(agent))
	if err != nil {
		return fromRemote(err)
	}
	if err := json.Unmarshal(reply, resp); err != nil {
		return fmt.Errorf("agent: %s's reply to %s: %w", agent, service, err)
	}
	return nil
}

// Start places the node of spec on agent and returns its status once
// it runs: started, or Adopted when it already ran with the same spec.
// When ctx ends first, the start goes on at the agent: Start again
// adopts the node. Errors match this package's sentinels (ErrConflict,
// ErrUnknownKind, ErrBadArgs, ErrTooManyNodes, ErrStartFailed…).
func (c *Client) Start(ctx context.Context, agent string, spec Spec) (NodeStatus, error) {
	var st NodeStatus
	return st, c.call(ctx, agent, ServiceStart, spec, &st)
}

// Stop stops the node name on agent and removes it; its status then
// says StateStopped.
func (c *Client) Stop(ctx context.Context, agent, name string) (NodeStatus, error) {
	var st NodeStatus
	return st, c.call(ctx, agent, ServiceStop, nameRequest{Name: name}, &st)
}

// Restart stops the node name on agent if it runs and starts it again.
func (c *Client) Restart(ctx context.Context, agent, name string) (NodeStatus, error) {
	var st NodeStatus
	return st, c.call(ctx, agent, ServiceRestart, nameRequest{Name: name}, &st)
}

// PS lists the nodes placed on agent, in placement order.
func (c *Client) PS(ctx context.Context, agent string) ([]NodeStatus, error) {
	var nodes []NodeStatus
	return nodes, c.call(ctx, agent, ServicePS, nil, &nodes)
}

// Status describes agent.
func (c *Client) Status(ctx context.Context, agent string) (Status, error) {
	var st Status
	return st, c.call(ctx, agent, ServiceStatus, nil, &st)
}

// Logs returns a reader of the output of node r.Name on agent, one
// line after another, each ending in "\n"; with r.Follow it goes on
// until the node is stopped, ctx ends or the reader is closed. Close
// the reader. Errors match this package's sentinels.
func (c *Client) Logs(ctx context.Context, agent string, r LogsRequest) (io.ReadCloser, error) {
	rc, err := c.p.Download(ctx, ServiceLogs, marshal(r), core.OnNode(agent))
	if err != nil {
		return nil, fromRemote(err)
	}
	return logsReader{rc}, nil
}

// logsReader maps the stream's errors to the package's sentinels.
type logsReader struct{ io.ReadCloser }

func (r logsReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fromRemote(err)
	}
	return n, err
}

// Find returns the agent that holds the node name among the agents
// sel names (see Select), and the node's status there. It asks the
// registry first (a placed node carries the LabelAgent label), then
// every agent in turn. A node on none is ErrNotFound.
func (c *Client) Find(ctx context.Context, sel, name string) (string, NodeStatus, error) {
	agents, err := c.Select(ctx, sel)
	if err != nil {
		return "", NodeStatus{}, err
	}
	if n, err := core.Lookup(ctx, c.p.Registry(), name); err == nil {
		if at := n.Labels[LabelAgent]; at != "" && slices.ContainsFunc(agents, func(a core.NodeInfo) bool { return a.Name == at }) {
			agents = slices.Insert(slices.DeleteFunc(agents, func(a core.NodeInfo) bool { return a.Name == at }), 0, core.NodeInfo{Name: at})
		}
	}
	var errs []error
	for _, a := range agents {
		nodes, err := c.PS(ctx, a.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range nodes {
			if n.Name == name {
				return a.Name, n, nil
			}
		}
	}
	return "", NodeStatus{}, errors.Join(append([]error{fmt.Errorf("%w: %q is on none of the %d agents asked", ErrNotFound, name, len(agents))}, errs...)...)
}
