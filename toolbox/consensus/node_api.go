package consensus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ReadOption changes how a read is served.
type ReadOption func(*readOptions)

type readOptions struct{ stale bool }

// Stale serves a read from this node's state as it is, without asking
// the leader: fast, available on any node, but it may miss the latest
// writes (and, on a partitioned node, any number of them).
func Stale() ReadOption { return func(o *readOptions) { o.stale = true } }

// read makes the state ready for a read: linearizable unless stale.
func (n *Node) read(ctx context.Context, opts []ReadOption) error {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	if n.ctx.Err() != nil {
		return ErrClosed
	}
	if o.stale {
		return nil
	}
	idx, err := n.reads.readIndex(ctx)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, n.logs, idx)
}

// Get returns a key's entry; found is false when it has none.
func (n *Node) Get(ctx context.Context, key string, opts ...ReadOption) (e Entry, found bool, err error) {
	if err := n.read(ctx, opts); err != nil {
		return Entry{}, false, err
	}
	e, found = n.st.get(key)
	return e, found, nil
}

// List returns the entries whose keys begin with prefix, in key order,
// at most limit (0: all), and the revision they are at.
func (n *Node) List(ctx context.Context, prefix string, limit int, opts ...ReadOption) ([]Entry, uint64, error) {
	if err := n.read(ctx, opts); err != nil {
		return nil, 0, err
	}
	es, rev := n.st.list(prefix, limit)
	return es, rev, nil
}

// Revision returns the last revision this node has applied.
func (n *Node) Revision() uint64 { return n.st.revision() }

func checkKey(key string, value []byte) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes (1 to %d)", ErrBadRequest, len(key), MaxKeyLen)
	}
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: value of %d bytes (at most %d)", ErrBadRequest, len(value), MaxValueLen)
	}
	return nil
}

// Put sets key to value, tied to a lease if lease is not 0, and returns
// the write's revision. The value is copied.
func (n *Node) Put(ctx context.Context, key string, value []byte, lease uint64) (uint64, error) {
	if err := checkKey(key, value); err != nil {
		return 0, err
	}
	res, err := n.propose(ctx, command{op: opPut, key: key, value: value, lease: lease})
	return res.rev, err
}

// Delete removes key and reports whether it was there.
func (n *Node) Delete(ctx context.Context, key string) (deleted bool, rev uint64, err error) {
	if err := checkKey(key, nil); err != nil {
		return false, 0, err
	}
	res, err := n.propose(ctx, command{op: opDelete, key: key})
	return res.ok, res.rev, err
}

// CompareAndSwap sets key to value only if its ModRev is modRev (0:
// only if it does not exist). ok reports whether it did; cur is the
// key's entry when it did not, if it has one.
func (n *Node) CompareAndSwap(ctx context.Context, key string, modRev uint64, value []byte, lease uint64) (ok bool, rev uint64, cur *Entry, err error) {
	if err := checkKey(key, value); err != nil {
		return false, 0, nil, err
	}
	res, err := n.propose(ctx, command{op: opCAS, key: key, modRev: modRev, value: value, lease: lease})
	if !res.ok {
		cur = res.prev
	}
	return res.ok, res.rev, cur, err
}

// Grant creates a lease of ttl and returns its ID. Keys put with it go
// when it expires (ttl after its grant or last KeepAlive, in consensus
// time) or is revoked.
func (n *Node) Grant(ctx context.Context, ttl time.Duration) (uint64, error) {
	return grant(ctx, ttl, func(c command) error {
		_, err := n.propose(ctx, c)
		return err
	})
}

// grant proposes a lease of ttl under a random ID, drawing again while
// the ID is taken; Node and Client share it.
func grant(ctx context.Context, ttl time.Duration, propose func(command) error) (uint64, error) {
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: lease ttl %v", ErrBadRequest, ttl)
	}
	var b [8]byte
	for {
		rand.Read(b[:])
		id := binary.BigEndian.Uint64(b[:]) >> 1 // positive as an int64, for JSON users
		if id == 0 {
			continue
		}
		err := propose(command{op: opGrant, lease: id, ttl: ttl})
		if errors.Is(err, ErrLeaseExists) && ctx.Err() == nil {
			continue
		}
		return id, err
	}
}

// KeepAlive restarts a lease's ttl.
func (n *Node) KeepAlive(ctx context.Context, lease uint64) error {
	_, err := n.propose(ctx, command{op: opKeepAlive, lease: lease})
	return err
}

// Revoke ends a lease now, with its keys.
func (n *Node) Revoke(ctx context.Context, lease uint64) error {
	_, err := n.propose(ctx, command{op: opRevoke, lease: lease})
	return err
}

// Events returns up to limit events after revision after under prefix,
// waiting until at least one comes or ctx ends, and the revision up to
// which the caller has now seen everything (pass it as after next
// time). ErrCompacted means the events after after are gone: read the
// current state with List and go on from its revision.
func (n *Node) Events(ctx context.Context, prefix string, after uint64, limit int) ([]Event, uint64, error) {
	if limit <= 0 {
		limit = 1000
	}
	for {
		evs, seen, err := n.st.eventsAfter(after, prefix, limit)
		if err != nil || len(evs) > 0 {
			return evs, seen, err
		}
		after = seen
		if err := n.st.watches.wait(ctx, seen); err != nil {
			return nil, seen, err
		}
	}
}

// expireLeases runs on every node; on the leader it proposes an expiry
// when the earliest lease deadline has passed on its clock. The expiry
// itself is decided by consensus time (the command's now), so every
// replica removes the same keys at the same index.
func (n *Node) expireLeases() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !n.IsLeader() {
			continue
		}
		next, ok := n.st.nextExpiry()
		if !ok || time.Now().Before(next) {
			continue
		}
		ctx, cancel := context.WithTimeout(n.ctx, 5*time.Second)
		n.propose(ctx, command{op: opExpire})
		cancel()
	}
}
