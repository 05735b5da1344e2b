package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
)

// DefaultInvalidationTopic is the topic memos listen to for
// invalidations unless told otherwise.
const DefaultInvalidationTopic = "cache.invalidate"

// Invalidation says which cached entries changed: keys, every key under
// a prefix, or all of them.
type Invalidation struct {
	Keys     []string
	Prefixes []string
	All      bool
}

// Invalidatable is what an invalidation applies to: a Memo, or a Cache
// (through CacheInvalidator).
type Invalidatable interface {
	Invalidate(keys ...string)
	InvalidatePrefix(prefix string)
	InvalidateAll()
}

// apply runs an invalidation on t.
func (inv Invalidation) apply(t Invalidatable) {
	if inv.All {
		t.InvalidateAll()
		return
	}
	if len(inv.Keys) > 0 {
		t.Invalidate(inv.Keys...)
	}
	for _, p := range inv.Prefixes {
		t.InvalidatePrefix(p)
	}
}

// PublishInvalidation publishes inv on topic from p: every memo (or
// other listener) attached to that topic drops the entries. Publish
// after the change is made, so that a fill that starts after the
// invalidation reaches a listener sees the new state. Delivery is
// core's pub/sub: a listener whose queue overflows loses it (its
// subscription counts the drop), and a listener drops all its entries
// when its subscription reports one.
func PublishInvalidation(p *core.Peer, topic string, inv Invalidation) error {
	b, err := encodeInvalidation(inv)
	if err != nil {
		return err
	}
	return p.Publish(topic, b)
}

// The encoding: flags 1 byte (1: all), then count 4, then count
// entries of kind 1 (1 key, 2 prefix), length 4, bytes.
const (
	invKey    byte = 1
	invPrefix byte = 2
	// maxInvalidationEntries bounds the keys and prefixes of one message.
	maxInvalidationEntries = 65536
)

var errBadInvalidation = errors.New("cache: malformed invalidation")

func encodeInvalidation(inv Invalidation) ([]byte, error) {
	n := len(inv.Keys) + len(inv.Prefixes)
	if n > maxInvalidationEntries {
		return nil, fmt.Errorf("%w: %d keys and prefixes, at most %d", ErrBadOption, n, maxInvalidationEntries)
	}
	if n == 0 && !inv.All {
		return nil, fmt.Errorf("%w: an invalidation of nothing", ErrBadOption)
	}
	var flags byte
	if inv.All {
		flags = 1
	}
	b := []byte{flags}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for _, k := range inv.Keys {
		b = appendInvEntry(b, invKey, k)
	}
	for _, p := range inv.Prefixes {
		b = appendInvEntry(b, invPrefix, p)
	}
	return b, nil
}

func appendInvEntry(b []byte, kind byte, s string) []byte {
	b = append(b, kind)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func decodeInvalidation(b []byte) (Invalidation, error) {
	r := reader{b: b}
	var inv Invalidation
	flags := r.byte()
	n := r.u32()
	if flags > 1 || n > maxInvalidationEntries {
		r.fail()
	}
	inv.All = flags == 1
	for i := uint32(0); i < n && !r.err; i++ {
		kind := r.byte()
		s := string(r.bytes(int(r.u32())))
		switch kind {
		case invKey:
			inv.Keys = append(inv.Keys, s)
		case invPrefix:
			inv.Prefixes = append(inv.Prefixes, s)
		default:
			r.fail()
		}
	}
	if r.err || len(r.b) != 0 || (n == 0 && !inv.All) {
		return Invalidation{}, fmt.Errorf("%w (%d bytes)", errBadInvalidation, len(b))
	}
	return inv, nil
}

// Listener applies the invalidations published on a topic to its
// targets until closed.
type Listener struct {
	sub     *core.Subscription
	targets []Invalidatable
	done    chan struct{}
	stats   listenerStats
}

type listenerStats struct {
	applied, malformed, lost atomic.Uint64
}

// ListenerStats counts what a Listener did.
type ListenerStats struct {
	Applied   uint64 `json:"applied"`   // invalidations applied
	Malformed uint64 `json:"malformed"` // messages that were not invalidations
	// Lost counts the times the subscription lost messages, each of
	// which invalidated everything.
	Lost uint64 `json:"lost"`
}

// Stats returns the listener's counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{Applied: l.stats.applied.Load(), Malformed: l.stats.malformed.Load(), Lost: l.stats.lost.Load()}
}

// lossCheck is how often a listener looks for lost messages when none
// arrive.
const lossCheck = time.Second

// Listen subscribes p to topic and applies each invalidation received
// to every target, in the order published by each publisher. When
// messages are lost (the subscription's queue overflowed, a publisher
// dropped some for it, its connection to a publisher broke, or a
// publisher restarted), the listener invalidates everything in its
// targets, since it cannot know what it missed. Malformed messages
// are counted and ignored.
func Listen(p *core.Peer, topic string, targets ...Invalidatable) (*Listener, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: Listen without a target", ErrBadOption)
	}
	sub, err := p.Subscribe(topic)
	if err != nil {
		return nil, err
	}
	l := &Listener{sub: sub, targets: targets, done: make(chan struct{})}
	go l.run()
	return l, nil
}

func (l *Listener) run() {
	defer close(l.done)
	var seen uint64             // drops and misses reported by the subscription so far
	last := map[string]uint64{} // each publisher's last sequence number
	t := time.NewTicker(lossCheck)
	defer t.Stop()
	for {
		select {
		case msg, ok := <-l.sub.C():
			if !ok {
				return
			}
			seen = l.checkLoss(seen)
			if gap(last, msg) {
				l.lost()
			}
			inv, err := decodeInvalidation(msg.Data)
			if err != nil {
				l.stats.malformed.Add(1)
				continue
			}
			l.applyAll(inv)
			l.stats.applied.Add(1)
		case <-t.C:
			seen = l.checkLoss(seen)
		}
	}
}

// checkLoss invalidates everything when the subscription has lost
// messages since it last looked.
func (l *Listener) checkLoss(seen uint64) uint64 {
	st := l.sub.Stats()
	if lost := st.Dropped + st.Missed; lost != seen {
		l.lost()
		return lost
	}
	return seen
}

func (l *Listener) lost() {
	l.stats.lost.Add(1)
	l.applyAll(Invalidation{All: true})
}

// maxPublishers bounds the publishers a listener tracks.
const maxPublishers = 4096

// gap reports whether msg shows that messages of its publisher were
// lost: its sequence number skips ahead of the last one seen (the
// subscription's own count misses those lost while its connection to
// the publisher was down), or goes back (the publisher restarted, and
// what its last life published after the last message seen is unknown).
// A publisher's first message seen is no gap: what it published before
// was not for this listener.
func gap(last map[string]uint64, msg core.Message) bool {
	prev, seen := last[msg.Publisher]
	if !seen && len(last) >= maxPublishers {
		clear(last)
	}
	last[msg.Publisher] = msg.Seq
	return seen && msg.Seq != prev+1
}

func (l *Listener) applyAll(inv Invalidation) {
	for _, t := range l.targets {
		inv.apply(t)
	}
}

// WaitConnected waits until the listener hears n publishers of its
// topic (see core.Subscription.WaitConnected).
func (l *Listener) WaitConnected(ctx context.Context, n int) error {
	return l.sub.WaitConnected(ctx, n)
}

// Close stops the listener and waits for it. Idempotent.
func (l *Listener) Close() error {
	err := l.sub.Close()
	<-l.done
	if errors.Is(err, core.ErrClosed) {
		err = nil
	}
	return err
}

// CacheInvalidator adapts a Cache to Invalidatable, for Listen.
func CacheInvalidator[V any](c *Cache[V]) Invalidatable { return cacheInv[V]{c} }

type cacheInv[V any] struct{ c *Cache[V] }

func (ci cacheInv[V]) Invalidate(keys ...string) {
	for _, k := range keys {
		ci.c.Delete(k)
	}
}
func (ci cacheInv[V]) InvalidatePrefix(p string) { ci.c.DeletePrefix(p) }
func (ci cacheInv[V]) InvalidateAll()            { ci.c.Purge() }
