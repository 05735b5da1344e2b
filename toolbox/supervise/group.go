package supervise

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// GroupLabel is the label a Group puts on each of its members, with the
// group's name as its value: other nodes find the members in discovery
// by it (GroupMembers) and send calls to the group's services only with
// core.Where(map[string]string{GroupLabel: name}).
const GroupLabel = "zmp.group"

// Member is one node of a Group.
type Member struct {
	// Name is the member's node name. Required, unique in the group.
	Name string
	// New makes the member's node with opts added after its own: the
	// group's labels (GroupLabel, and Labels). For example
	//
	//	func(opts ...core.Option) (*core.Node, error) {
	//		return launcher.NewNode("worker", "pipeline-worker", opts...)
	//	}
	New func(opts ...core.Option) (*core.Node, error)
	// Labels are the member's own labels; the group adds GroupLabel.
	Labels map[string]string
	// Restart, Shutdown and Significant are as in Spec.
	Restart     RestartType
	Shutdown    time.Duration
	Significant bool
}

// Group is a node made of nodes: its members are started in order,
// stopped in reverse order and supervised as one (it is a Supervisor of
// its members, with the strategy given), and each member carries the
// label GroupLabel=name, so that the group's services and topics are
// visible under its name (Info, GroupMembers, `zmptool info GROUP`).
// A Group is a Child: it nests in supervisors, and an agent can run it.
type Group struct {
	*Supervisor
	members []*core.Node
}

// NewGroup makes the members' nodes and a supervisor named name over
// them. opts are the supervisor's. The group owns the nodes: Close
// closes them.
func NewGroup(name string, strategy Strategy, members []Member, opts ...Option) (*Group, error) {
	if strategy == SimpleOneForOne {
		return nil, fmt.Errorf("%w: a group's members are fixed: use OneForOne, OneForAll or RestForOne", ErrBadOption)
	}
	if err := core.CheckLabels(map[string]string{GroupLabel: name}); err != nil {
		return nil, fmt.Errorf("%w: group name %q: %v", ErrBadOption, name, err)
	}
	g := &Group{}
	specs := make([]Spec, 0, len(members))
	for _, m := range members {
		n, err := g.newMember(name, m)
		if err != nil {
			g.closeMembers()
			return nil, err
		}
		specs = append(specs, Spec{Name: m.Name, Child: n, Restart: m.Restart, Shutdown: m.Shutdown, Significant: m.Significant})
	}
	s, err := New(name, strategy, specs, opts...)
	if err != nil {
		g.closeMembers()
		return nil, err
	}
	g.Supervisor = s
	return g, nil
}

func (g *Group) newMember(group string, m Member) (*core.Node, error) {
	if m.New == nil {
		return nil, fmt.Errorf("%w: group member %q has no New", ErrBadSpec, m.Name)
	}
	labels := maps.Clone(m.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if _, ok := labels[GroupLabel]; ok {
		return nil, fmt.Errorf("%w: member %q: the label %s is the group's", ErrBadSpec, m.Name, GroupLabel)
	}
	labels[GroupLabel] = group
	n, err := m.New(core.WithLabels(labels))
	if err != nil {
		return nil, fmt.Errorf("%w: group member %q: %w", ErrBadSpec, m.Name, err)
	}
	if n == nil {
		return nil, fmt.Errorf("%w: group member %q: New returned no node", ErrBadSpec, m.Name)
	}
	if n.Name() != m.Name {
		n.Close()
		return nil, fmt.Errorf("%w: group member %q: New made a node named %q", ErrBadSpec, m.Name, n.Name())
	}
	g.members = append(g.members, n)
	return n, nil
}

func (g *Group) closeMembers() {
	for _, n := range slices.Backward(g.members) {
		n.Close()
	}
}

// Members returns the members' nodes, in start order.
func (g *Group) Members() []*core.Node { return slices.Clone(g.members) }

// GroupInfo is what a group offers: its running members, and the union
// of their services and topics.
type GroupInfo struct {
	Name     string          `json:"name"`
	Members  []core.NodeInfo `json:"members"`
	Services []string        `json:"services"`
	Topics   []string        `json:"topics"`
}

// Info describes the group from its members' status: the members that
// run, and what they offer together.
func (g *Group) Info() GroupInfo {
	var nodes []core.NodeInfo
	for _, n := range g.members {
		if st := n.Status(); st.Alive() {
			nodes = append(nodes, st.Info)
		}
	}
	return groupInfo(g.Name(), nodes)
}

// GroupMembers reads the members of group name from reg: the live nodes
// labelled GroupLabel=name, with the union of their services and topics.
func GroupMembers(ctx context.Context, reg core.Registry, name string) (GroupInfo, error) {
	nodes, err := reg.Nodes(ctx)
	if err != nil {
		return GroupInfo{}, err
	}
	sel := map[string]string{GroupLabel: name}
	var in []core.NodeInfo
	for _, n := range nodes {
		if n.HasLabels(sel) {
			in = append(in, n)
		}
	}
	return groupInfo(name, in), nil
}

func groupInfo(name string, nodes []core.NodeInfo) GroupInfo {
	gi := GroupInfo{Name: name, Members: nodes, Services: []string{}, Topics: []string{}}
	for _, n := range nodes {
		gi.Services = append(gi.Services, n.Services...)
		gi.Topics = append(gi.Topics, n.Topics...)
	}
	slices.SortFunc(gi.Members, func(a, b core.NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(gi.Services)
	slices.Sort(gi.Topics)
	gi.Services, gi.Topics = slices.Compact(gi.Services), slices.Compact(gi.Topics)
	return gi
}
