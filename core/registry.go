package core

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
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

// RegistryWatcher is implemented by registries that push their changes
// instead of waiting to be read. A peer whose registry implements it
// watches the registry while its view is in use, and reads it every
// discovery interval otherwise (and while a watch is broken).
type RegistryWatcher interface {
	// Watch returns a channel of the registry's live entries, sorted by
	// name as Nodes returns them: first the current ones, then again
	// after every change (a registration, a removal, a lease that
	// expired, a process that exited). The channel holds at most one
	// state: a reader that falls behind finds only the newest, never a
	// backlog. Each state belongs to the receiver, which may keep and
	// change it. The channel is closed when ctx ends or the watch
	// breaks; the caller polls Nodes meanwhile and may call Watch
	// again. The goroutines of a watch end when ctx ends.
	//
	// A registry that cannot watch here returns ErrWatchUnsupported.
	Watch(ctx context.Context) (<-chan []NodeInfo, error)
}

// ErrWatchUnsupported is returned by Watch when the registry cannot
// push changes on this platform or from this server: poll it instead.
var ErrWatchUnsupported = errors.New("core: registry watch unsupported")

// watchFeed is the sending side of a watch channel: capacity one, where
// a new state replaces an unread one. It skips states equal to the last
// one sent but for lease expiry times (renewals are no change). Only
// one goroutine may send on it.
type watchFeed struct {
	ch   chan []NodeInfo
	last [sha256.Size]byte
	sent bool
}

func newWatchFeed() *watchFeed { return &watchFeed{ch: make(chan []NodeInfo, 1)} }

// offer sends nodes, replacing a state the reader has not taken yet.
// It never blocks.
func (f *watchFeed) offer(nodes []NodeInfo) {
	sum := nodesDigest(nodes)
	if f.sent && sum == f.last {
		return
	}
	f.last, f.sent = sum, true
	select {
	case f.ch <- nodes:
		return
	default:
	}
	select {
	case <-f.ch: // the unread older state
	default:
	}
	f.ch <- nodes // room is certain: only this sender fills ch
}

// nodesDigest fingerprints nodes without their lease expiry times.
func nodesDigest(nodes []NodeInfo) [sha256.Size]byte {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, n := range nodes {
		n.Expires = time.Time{}
		_ = enc.Encode(n)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// runWatch drives a watch: it reads the registry with read and offers
// the result to feed, first at once, then whenever wake fires, the
// earliest lease among the entries expires, or slow passes (0: never).
// It returns when ctx ends, broken is closed, or a read fails.
func runWatch(ctx context.Context, feed *watchFeed, read func(context.Context) ([]NodeInfo, error), wake, broken <-chan struct{}, slow time.Duration) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		nodes, err := read(ctx)
		if err != nil {
			return
		}
		feed.offer(nodes)
		t.Reset(nextWatchRead(nodes, slow))
		select {
		case <-ctx.Done():
			return
		case <-broken:
			return
		case <-wake:
		case <-t.C:
		}
	}
}

// watchMaxWait bounds the wait between two reads of a watch with no
// slow poll, so that a clock change cannot stall it for long.
const watchMaxWait = time.Minute

// nextWatchRead returns how long a watch may wait before reading again:
// until the earliest lease expires (just after), or slow.
func nextWatchRead(nodes []NodeInfo, slow time.Duration) time.Duration {
	d := watchMaxWait
	if slow > 0 {
		d = slow
	}
	now := time.Now()
	for _, n := range nodes {
		if !n.Expires.IsZero() {
			d = min(d, n.Expires.Sub(now)+time.Millisecond)
		}
	}
	return max(d, time.Millisecond)
}
