package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
)

// Client calls a key-value service from any peer: any node of the
// cluster answers (the registry finds them; a follower forwards to the
// leader), so it needs no address and survives a change of leader.
type Client struct {
	p    *core.Peer
	name string
	opts []core.CallOption
}

// NewClient returns a client of the service name ("" for
// DefaultServiceName); opts apply to every call (core.OnNode, core.At
// to pin one node...).
func NewClient(p *core.Peer, name string, opts ...core.CallOption) *Client {
	if name == "" {
		name = DefaultServiceName
	}
	return &Client{p: p, name: name, opts: opts}
}

func (c *Client) call(ctx context.Context, op string, body []byte, extra ...core.CallOption) ([]byte, error) {
	b, err := c.p.Call(ctx, c.name+"."+op, body, append(append([]core.CallOption(nil), c.opts...), extra...)...)
	return b, localErr(err)
}

// propose sends a command, retrying a while when no leader is known
// (an election is under way) and the command is safe to repeat.
func (c *Client) propose(ctx context.Context, cmd command) (proposeReply, error) {
	for {
		b, err := c.call(ctx, "propose", appendCommand(nil, cmd))
		if err == nil {
			return decodeProposeReply(b)
		}
		if !errors.Is(err, ErrNotLeader) {
			return proposeReply{}, err
		}
		// Not applied: a node that is not the leader never proposes.
		select {
		case <-ctx.Done():
			return proposeReply{}, fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Put sets key to value (tied to lease unless 0) and returns the
// write's revision.
func (c *Client) Put(ctx context.Context, key string, value []byte, lease uint64) (uint64, error) {
	if err := checkKey(key, value); err != nil {
		return 0, err
	}
	r, err := c.propose(ctx, command{op: opPut, key: key, value: value, lease: lease})
	return r.rev, err
}

// Delete removes key and reports whether it was there.
func (c *Client) Delete(ctx context.Context, key string) (bool, uint64, error) {
	if err := checkKey(key, nil); err != nil {
		return false, 0, err
	}
	r, err := c.propose(ctx, command{op: opDelete, key: key})
	return r.ok, r.rev, err
}

// CompareAndSwap sets key to value only if its ModRev is modRev (0:
// only if absent); cur is the key's entry when it did not.
func (c *Client) CompareAndSwap(ctx context.Context, key string, modRev uint64, value []byte, lease uint64) (ok bool, rev uint64, cur *Entry, err error) {
	if err := checkKey(key, value); err != nil {
		return false, 0, nil, err
	}
	r, err := c.propose(ctx, command{op: opCAS, key: key, modRev: modRev, value: value, lease: lease})
	if !r.ok {
		cur = r.prev
	}
	return r.ok, r.rev, cur, err
}

// Grant creates a lease of ttl and returns its ID.
func (c *Client) Grant(ctx context.Context, ttl time.Duration) (uint64, error) {
	return grant(ctx, ttl, func(cmd command) error {
		_, err := c.propose(ctx, cmd)
		return err
	})
}

// KeepAlive restarts a lease's ttl.
func (c *Client) KeepAlive(ctx context.Context, lease uint64) error {
	_, err := c.propose(ctx, command{op: opKeepAlive, lease: lease})
	return err
}

// Revoke ends a lease now, with its keys.
func (c *Client) Revoke(ctx context.Context, lease uint64) error {
	_, err := c.propose(ctx, command{op: opRevoke, lease: lease})
	return err
}

func readStale(opts []ReadOption) bool {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	return o.stale
}

// Get returns a key's entry, linearizably unless Stale is given (then
// from whichever node answers).
func (c *Client) Get(ctx context.Context, key string, opts ...ReadOption) (Entry, bool, error) {
	b, err := c.call(ctx, "get", appendGetRequest(nil, readStale(opts), key), core.Idempotent())
	if err != nil {
		return Entry{}, false, err
	}
	_, e, err := decodeGetReply(b)
	if err != nil || e == nil {
		return Entry{}, false, err
	}
	return *e, true, nil
}

// List returns the entries under prefix in key order (at most limit; 0:
// the service's bound) and their revision.
func (c *Client) List(ctx context.Context, prefix string, limit int, opts ...ReadOption) ([]Entry, uint64, error) {
	b, err := c.call(ctx, "list", appendListRequest(nil, readStale(opts), uint32(max(limit, 0)), prefix), core.Idempotent())
	if err != nil {
		return nil, 0, err
	}
	rev, es, err := decodeListReply(b)
	return es, rev, err
}

// Events waits for events after revision after under prefix (see
// Node.Events) on the node that answers, for as long as ctx allows;
// with no event before ctx's deadline it returns none and the revision
// seen, and a nil error.
func (c *Client) Events(ctx context.Context, prefix string, after uint64, limit int) ([]Event, uint64, error) {
	b, err := c.call(ctx, "events", appendEventsRequest(nil, after, uint32(max(limit, 0)), prefix))
	if err != nil {
		return nil, after, err
	}
	seen, evs, err := decodeEventsReply(b)
	return evs, seen, err
}
