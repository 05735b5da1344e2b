package core

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// NodeInfo is what a registry holds about one running node instance.
type NodeInfo struct {
	Name string `json:"name"`
	ID   string `json:"id"` // unique per start of a node
	PID  int    `json:"pid"`
	Host string `json:"host"`
	RPC  string `json:"rpc,omitempty"` // endpoint of its services
	Pub  string `json:"pub,omitempty"` // endpoint of its topics
	// Security is the mechanism its endpoints require ("CURVE",
	// "PLAIN"); empty for NULL.
	Security string `json:"security,omitempty"`
	// Key is its CURVE public key in Z85, when Security is "CURVE".
	Key string `json:"key,omitempty"`
	// Labels are the node's key/value labels (WithLabels): where it
	// runs, what it is for. Calls and subscriptions can select nodes by
	// them.
	Labels   map[string]string `json:"labels,omitempty"`
	Services []string          `json:"services,omitempty"`
	Topics   []string          `json:"topics,omitempty"`
	Started  time.Time         `json:"started"`
	// Expires is set by the registry: the entry is dead after it unless
	// renewed by registering again.
	Expires time.Time `json:"expires,omitzero"`
}

// Provides reports whether the node offers service.
func (n NodeInfo) Provides(service string) bool { return slices.Contains(n.Services, service) }

// Publishes reports whether the node publishes topic.
func (n NodeInfo) Publishes(topic string) bool { return slices.Contains(n.Topics, topic) }

// Registry maps node names to their endpoints, services and topics.
// Implementations must never return entries of dead nodes: an entry
// whose lease has expired, or (where the registry can tell) whose
// process has exited, is left out of Nodes and may be replaced.
type Registry interface {
	// Register records info for ttl, replacing an earlier entry of the
	// same info.ID. It fails with ErrNameTaken while a live entry of
	// another ID holds info.Name. Registering again renews the lease.
	Register(ctx context.Context, info NodeInfo, ttl time.Duration) error
	// Deregister removes the entry of name if it belongs to id. Removing
	// an absent entry is not an error.
	Deregister(ctx context.Context, name, id string) error
	// Nodes returns every live entry, sorted by name.
	Nodes(ctx context.Context) ([]NodeInfo, error)
}

// Lookup returns the live entry named name, or ErrNotFound.
func Lookup(ctx context.Context, r Registry, name string) (NodeInfo, error) {
	nodes, err := r.Nodes(ctx)
	if err != nil {
		return NodeInfo{}, err
	}
	for _, n := range nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return NodeInfo{}, ErrNotFound
}

// Providers returns the live nodes that offer service.
func Providers(ctx context.Context, r Registry, service string) ([]NodeInfo, error) {
	nodes, err := r.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(nodes, func(n NodeInfo) bool { return !n.Provides(service) }), nil
}

// discoverPoll is how often Discover re-reads the registry.
const discoverPoll = 25 * time.Millisecond

// Discover waits until at least min live nodes provide service and
// returns them, or returns ctx's error wrapped with how many it saw.
func Discover(ctx context.Context, r Registry, service string, min int) ([]NodeInfo, error) {
	for {
		nodes, err := Providers(ctx, r, service)
		if err == nil && len(nodes) >= min {
			return nodes, nil
		}
		t := time.NewTimer(discoverPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			if err == nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("core: discovering %q: %d of %d providers: %w", service, len(nodes), min, err)
		case <-t.C:
		}
	}
}
