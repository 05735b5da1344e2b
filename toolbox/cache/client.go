package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// Client calls a cache server by name through a peer. It holds no
// state of its own beyond its options and is safe for concurrent use.
//
// Bytes: the values given to Set and CompareAndSet are copied before
// they return and may be reused at once; the value Get returns belongs
// to the caller, which may keep and modify it.
type Client struct {
	p    *core.Peer
	name string
	opts []core.CallOption
}

// NewClient returns a client of the cache server named name
// (DefaultServerName when empty) through p. opts apply to every call
// (OnNode, Where, Balance...); Get and Stats are also marked
// Idempotent, so they are retried on another provider after a failure.
func NewClient(p *core.Peer, name string, opts ...core.CallOption) (*Client, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil peer", ErrBadOption)
	}
	if name == "" {
		name = DefaultServerName
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("%w: %q", core.ErrBadName, name)
	}
	return &Client{p: p, name: name, opts: opts}, nil
}

// Name returns the name of the server the client calls.
func (c *Client) Name() string { return c.name }

// call calls N.op with body and maps the server's error codes to the
// package's sentinels.
func (c *Client) call(ctx context.Context, op string, body []byte, idempotent bool) ([]byte, error) {
	opts := c.opts
	if idempotent {
		opts = append(opts[:len(opts):len(opts)], core.Idempotent())
	}
	reply, err := c.p.Call(ctx, c.name+"."+op, body, opts...)
	if err != nil {
		return nil, remoteToSentinel(err)
	}
	return reply, nil
}

// Get returns the value of key and its version, or ErrNotFound. The
// value is the caller's.
func (c *Client) Get(ctx context.Context, key string) (value []byte, version uint64, err error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	reply, err := c.call(ctx, "get", appendKeyRequest(nil, key), true)
	if err != nil {
		return nil, 0, err
	}
	g, err := decodeGetReply(reply)
	if err != nil {
		return nil, 0, err
	}
	if !g.found {
		return nil, 0, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return g.value, g.version, nil
}

// Set stores value under key for ttl and returns the entry's new
// version. ttl 0 takes the server's default TTL (none unless it was
// given one), NoExpiry (or any negative ttl) none; a positive ttl is
// rounded up to whole milliseconds, and the server may cap it. A value
// above the server's maximum value size fails with ErrTooLarge.
func (c *Client) Set(ctx context.Context, key string, value []byte, ttl time.Duration) (version uint64, err error) {
	return c.write(ctx, "set", opRequest{key: key, ttl: ttl, value: value}, false)
}

// CompareAndSet stores value under key only if the entry's version is
// version (0: only if there is no entry) and returns the new version;
// otherwise it fails with ErrVersionMismatch and changes nothing. ttl
// is as for Set.
func (c *Client) CompareAndSet(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (newVersion uint64, err error) {
	return c.write(ctx, "cas", opRequest{key: key, version: version, ttl: ttl, value: value}, true)
}

func (c *Client) write(ctx context.Context, op string, q opRequest, cas bool) (uint64, error) {
	if err := checkKey(q.key); err != nil {
		return 0, err
	}
	reply, err := c.call(ctx, op, appendSetRequest(make([]byte, 0, 24+len(q.key)+len(q.value)), q, cas), false)
	if err != nil {
		return 0, err
	}
	return decodeVersionReply(reply)
}

// Delete removes key and reports whether it was there.
func (c *Client) Delete(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	reply, err := c.call(ctx, "del", appendKeyRequest(nil, key), false)
	if err != nil {
		return false, err
	}
	return decodeDelReply(reply)
}

// Stats returns the server's counters.
func (c *Client) Stats(ctx context.Context) (ServerStats, error) {
	reply, err := c.call(ctx, "stats", nil, true)
	if err != nil {
		return ServerStats{}, err
	}
	var st ServerStats
	if err := json.Unmarshal(reply, &st); err != nil {
		return ServerStats{}, fmt.Errorf("%w: stats: %v", errBadOp, err)
	}
	return st, nil
}
