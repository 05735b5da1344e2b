package consensus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// RegistryPrefix is where a replicated registry keeps its entries in
// the store: one key per node name.
const RegistryPrefix = "zmp/registry/nodes/"

// Registry is a core.Registry (and core.RegistryWatcher) kept in a
// replicated key-value store: discovery that spans hosts with no single
// point of failure. Each entry lives by a lease of the store, which
// expires in consensus time: a node that stops renewing disappears
// from every replica at once, whatever any one machine's clock says.
//
// It reaches the store's nodes straight at their addresses (the raft
// addresses of this package's Transport, which are zmp endpoints),
// trying the next one when one does not answer, through a peer of its
// own that is listed in no registry. Give it a peer option for
// security (core.WithSecurity) when the store's nodes run CURVE.
type Registry struct {
	p       *core.Peer
	name    string
	addrs   []string
	mu      sync.Mutex
	next    int               // the address to try first
	trusted bool              // next answered, and nothing failed since
	leases  map[string]uint64 // by node name: the lease of our registration
	closing sync.Once
}

// NewRegistry returns a registry kept in the store whose nodes answer
// at addrs under service name ("" for DefaultServiceName). opts are
// options of its own peer.
func NewRegistry(ctx context.Context, addrs []string, name string, opts ...core.Option) (*Registry, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: a replicated registry needs the store's addresses", ErrBadConfig)
	}
	if name == "" {
		name = DefaultServiceName
	}
	popts := append([]core.Option{core.WithRegistry(core.NewMemRegistry())}, opts...)
	p, err := core.NewPeer(ctx, "", popts...)
	if err != nil {
		return nil, err
	}
	return &Registry{p: p, name: name, addrs: append([]string(nil), addrs...), leases: map[string]uint64{}}, nil
}

// Close closes the registry's peer. Idempotent.
func (r *Registry) Close() error {
	var err error
	r.closing.Do(func() { err = r.p.Close() })
	return err
}

// try runs f with a client pinned to each address in turn, from the
// last that answered, giving each a share of ctx's time, until one
// answers or fails for good.
func (r *Registry) try(ctx context.Context, f func(ctx context.Context, c *Client) error) error {
	r.mu.Lock()
	start, trusted := r.next, r.trusted
	r.mu.Unlock()
	if !trusted && len(r.addrs) > 1 {
		start = r.probe(ctx, start)
	}
	var last error
	for i := range r.addrs {
		k := (start + i) % len(r.addrs)
		actx, cancel := context.WithTimeout(ctx, attemptTime(ctx, len(r.addrs)-i))
		err := f(actx, NewClient(r.p, r.name, core.At(r.addrs[k])))
		cancel()
		if err == nil || !retryElsewhere(err) || ctx.Err() != nil {
			if err == nil {
				r.mu.Lock()
				r.next, r.trusted = k, true
				r.mu.Unlock()
			}
			return err
		}
		r.mu.Lock()
		r.trusted = false
		r.mu.Unlock()
		last = err
	}
	return fmt.Errorf("%w: %v", core.ErrRegistryUnavailable, last)
}

// attemptTime is an attempt's share of what is left of ctx when n
// attempts may follow: at least a second, unless less is left.
func attemptTime(ctx context.Context, n int) time.Duration {
	d, ok := ctx.Deadline()
	if !ok {
		return 5 * time.Second
	}
	left := time.Until(d)
	return min(left, max(left/time.Duration(max(n, 1)), time.Second))
}

// retryElsewhere reports whether another node of the store may do
// better: the one tried did not answer in its time, or knows no leader.
func retryElsewhere(err error) bool {
	for _, e := range []error{ErrNotLeader, ErrTimeout, core.ErrConnectionLost, core.ErrTimeout,
		core.ErrNoProvider, core.ErrUnknownService, core.ErrOverloaded, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	var re *core.RemoteError
	return errors.As(err, &re) && re.Code == core.CodeUnavailable
}

// Register records info under its name for ttl, tied to a lease of the
// store that registering again renews. A name held by another node is
// refused with core.ErrNameTaken while that node's entry lives, unless
// the node's process is known to be gone (core.NodeGone: it ran on this
// host and died), so that a node restarted on the same host takes its
// name back at once.
func (r *Registry) Register(ctx context.Context, info core.NodeInfo, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("%w: registration ttl %v", ErrBadRequest, ttl)
	}
	info.Expires = time.Now().Add(ttl)
	body, err := json.Marshal(info)
	if err != nil {
		return err
	}
	key := RegistryPrefix + info.Name
	return r.try(ctx, func(ctx context.Context, c *Client) error {
		cur, found, err := c.Get(ctx, key)
		if err != nil {
			return err
		}
		var modRev uint64
		if found {
			var old core.NodeInfo
			if json.Unmarshal(cur.Value, &old) == nil && old.ID != info.ID && !core.NodeGone(old) {
				return fmt.Errorf("%w: %q is registered by %s", core.ErrNameTaken, info.Name, old.ID)
			}
			modRev = cur.ModRev
		}
		lease, err := r.lease(ctx, c, info.Name, ttl, found)
		if err != nil {
			return err
		}
		ok, _, now, err := c.CompareAndSwap(ctx, key, modRev, body, lease)
		if err == nil && !ok {
			if now != nil {
				var other core.NodeInfo
				if json.Unmarshal(now.Value, &other) == nil && other.ID != info.ID {
					return fmt.Errorf("%w: %q is registered by %s", core.ErrNameTaken, info.Name, other.ID)
				}
			}
			return fmt.Errorf("%w: %q changed while registering; try again", core.ErrRegistryUnavailable, info.Name)
		}
		return err
	})
}

// lease renews the lease of name's registration, or grants a new one.
func (r *Registry) lease(ctx context.Context, c *Client, name string, ttl time.Duration, registered bool) (uint64, error) {
	r.mu.Lock()
	id, ok := r.leases[name]
	r.mu.Unlock()
	if ok && registered {
		err := c.KeepAlive(ctx, id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, ErrLeaseNotFound) {
			return 0, err
		}
	}
	id, err := c.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.leases[name] = id
	r.mu.Unlock()
	return id, nil
}

// Deregister removes name's entry if it belongs to id.
func (r *Registry) Deregister(ctx context.Context, name, id string) error {
	key := RegistryPrefix + name
	return r.try(ctx, func(ctx context.Context, c *Client) error {
		cur, found, err := c.Get(ctx, key)
		if err != nil || !found {
			return err
		}
		var info core.NodeInfo
		if json.Unmarshal(cur.Value, &info) == nil && info.ID != id {
			return nil
		}
		r.mu.Lock()
		lease, ok := r.leases[name]
		delete(r.leases, name)
		r.mu.Unlock()
		if ok {
			if err := c.Revoke(ctx, lease); err == nil || errors.Is(err, ErrLeaseNotFound) {
				return nil
			}
		}
		_, _, err = c.Delete(ctx, key)
		return err
	})
}

// Nodes returns every live entry, sorted by name, read linearizably.
// Entries of nodes whose process is known to be gone (core.NodeGone) are
// left out before their lease expires.
func (r *Registry) Nodes(ctx context.Context) ([]core.NodeInfo, error) {
	var out []core.NodeInfo
	err := r.try(ctx, func(ctx context.Context, c *Client) error {
		es, _, err := c.List(ctx, RegistryPrefix, 0)
		if err != nil {
			return err
		}
		out = decodeNodes(es)
		return nil
	})
	return out, err
}

func decodeNodes(es []Entry) []core.NodeInfo {
	out := make([]core.NodeInfo, 0, len(es))
	for _, e := range es {
		var info core.NodeInfo
		if json.Unmarshal(e.Value, &info) == nil && info.Name == strings.TrimPrefix(e.Key, RegistryPrefix) && !core.NodeGone(info) {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Watch sends the entries now, then again after every change, as the
// store's events show them (core.RegistryWatcher).
func (r *Registry) Watch(ctx context.Context) (<-chan []core.NodeInfo, error) {
	var es []Entry
	var rev uint64
	err := r.try(ctx, func(ctx context.Context, c *Client) error {
		var err error
		es, rev, err = c.List(ctx, RegistryPrefix, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	ch := make(chan []core.NodeInfo, 1)
	ch <- decodeNodes(es)
	go r.watch(ctx, ch, rev)
	return ch, nil
}

// watch long-polls the store's events and sends the new state after
// each batch; a failure closes the channel (the peer polls meanwhile).
func (r *Registry) watch(ctx context.Context, ch chan []core.NodeInfo, rev uint64) {
	defer close(ch)
	for ctx.Err() == nil {
		var evs []Event
		err := r.try(ctx, func(ctx context.Context, c *Client) error {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			var err error
			evs, rev, err = c.Events(pctx, RegistryPrefix, rev, 1000)
			return err
		})
		if err != nil {
			return
		}
		if len(evs) == 0 {
			continue
		}
		nodes, err := r.Nodes(ctx)
		if err != nil {
			return
		}
		select {
		case <-ch: // drop the state not yet read: only the newest counts
		default:
		}
		ch <- nodes
	}
}
