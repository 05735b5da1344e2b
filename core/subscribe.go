package core

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Message is one message received on a subscription.
type Message struct {
	Topic string
	// Data is the message's body. It belongs to the receiver, which may
	// keep and modify it; it shares no memory with other messages.
	Data      []byte
	Seq       uint64 // the publisher's sequence number on this topic
	Publisher string // the publishing node's name
}

// SubscribeOption adjusts a subscription.
type SubscribeOption func(*subOptions) error

type subOptions struct {
	prefix   bool
	queue    int
	overflow Overflow
	labels   map[string]string
}

// AsPrefix subscribes to every topic whose name starts with the given
// string instead of to the one topic of that name.
func AsPrefix() SubscribeOption {
	return func(o *subOptions) error { o.prefix = true; return nil }
}

// FromLabels restricts the subscription to publishers whose labels
// include every key=value of sel (see NodeInfo.HasLabels): it connects
// only to those, and takes no message from other publishers of the
// topic that a subscription without this restriction connected to.
// sel follows the rules of CheckLabels and is copied. Default: every
// publisher; an empty sel also means every publisher. Given again, it
// replaces the earlier selector.
func FromLabels(sel map[string]string) SubscribeOption {
	return func(o *subOptions) error {
		if err := CheckLabels(sel); err != nil {
			return err
		}
		o.labels = cloneLabels(sel)
		return nil
	}
}

// WithQueue bounds the subscription's receive queue and sets what
// happens when it is full. Default 1000 messages, DropNewest. A slow
// subscription loses messages (counted in Stats); it never makes the
// connection wait or the other subscriptions lose messages (before
// dropping, the connection's reader lets other goroutines run once, so
// that a reader that was merely waiting for a CPU can catch up).
func WithQueue(n int, policy Overflow) SubscribeOption {
	return func(o *subOptions) error {
		if policy != DropNewest && policy != DropOldest {
			return fmt.Errorf("core: unknown overflow policy %d", policy)
		}
		o.queue, o.overflow = n, policy
		return positive("subscription queue", n)
	}
}

// Subscription receives the messages of one topic, or of every topic
// under a prefix, from every node that publishes them.
type Subscription struct {
	s        *subscriber
	key      string // what is sent upstream: name+NUL, or the prefix
	pattern  string
	prefix   bool
	overflow Overflow
	labels   map[string]string // FromLabels; read-only, nil for every publisher

	pushMu sync.Mutex
	ch     chan Message
	closed bool   // under pushMu: Close closed ch
	stuck  uint64 // under pushMu: taken() when a yield last left ch full
	done   chan struct{}
	once   sync.Once

	received, dropped, missed atomic.Uint64
}

// Subscribe starts receiving topic (or, with AsPrefix, every topic
// under it). Publishers are found in the registry, now and as they
// appear; use WaitConnected to wait for them.
func (p *Peer) Subscribe(topic string, opts ...SubscribeOption) (*Subscription, error) {
	o := subOptions{queue: DefaultQueueLen, overflow: DropNewest}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := checkName(topic); err != nil && !(o.prefix && topic == "") {
		return nil, err
	}
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	sub := &Subscription{
		s: p.subs, pattern: topic, prefix: o.prefix, overflow: o.overflow, labels: o.labels,
		ch: make(chan Message, o.queue), done: make(chan struct{}), stuck: ^uint64(0),
	}
	sub.key = topic
	if !o.prefix {
		sub.key = string(topicFrame(topic))
	}
	if err := p.subs.add(sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// Topic returns the topic name or prefix subscribed to.
func (s *Subscription) Topic() string { return s.pattern }

func (s *Subscription) matches(topic string) bool {
	if s.prefix {
		return strings.HasPrefix(topic, s.pattern)
	}
	return topic == s.pattern
}

// matchesInfo reports whether a node publishes a topic of interest and
// carries the labels the subscription selects.
func (s *Subscription) matchesInfo(n NodeInfo) bool {
	if !n.HasLabels(s.labels) {
		return false
	}
	for _, t := range n.Topics {
		if s.matches(t) {
			return true
		}
	}
	return false
}

// C returns the channel messages arrive on. It is closed by Close.
func (s *Subscription) C() <-chan Message { return s.ch }

// Next returns the next message, waiting until one comes, ctx ends or
// the subscription is closed (ErrClosed).
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	select {
	case m, ok := <-s.ch:
		if !ok {
			return Message{}, ErrClosed
		}
		return m, nil
	case <-ctx.Done():
		return Message{}, ctx.Err()
	}
}

// pushAll queues the messages of batch, which are all for s, in
// order, under the subscription's overflow policy. It runs on the
// reader goroutine of a publisher's connection and never waits for the
// subscription's reader (see yieldForRoom).
func (s *Subscription) pushAll(batch []pendingMsg) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	yielded := false // at most one yield per batch
	for i := range batch {
		if s.closed {
			return
		}
		s.pushLocked(batch[i].m, &yielded)
	}
}

// pushLocked queues m; pushMu is held, and may be let go of and taken
// again while it yields (yieldForRoom): the caller checks closed again.
func (s *Subscription) pushLocked(m Message, yielded *bool) {
	if s.offer(m) {
		return
	}
	if !*yielded && s.taken() != s.stuck {
		*yielded = true
		if s.yieldForRoom(m) {
			return // closed meanwhile, or queued after the yield
		}
	}
	s.pushDrop(m)
}

// pushDrop applies the overflow policy to m, which found ch full;
// pushMu is held.
func (s *Subscription) pushDrop(m Message) {
	s.dropped.Add(1)
	if s.overflow == DropNewest {
		return
	}
	// DropOldest: the oldest queued message is the one lost. It was
	// counted received when queued; m takes its place in that count, so
	// that every message is counted once, received or dropped.
	select {
	case <-s.ch:
	default:
		// The reader emptied a slot meanwhile: nothing is lost after all.
		s.dropped.Add(^uint64(0))
		s.received.Add(1)
	}
	s.ch <- m // room is certain: only push, under pushMu, fills ch
}

// offer queues m if there is room.
func (s *Subscription) offer(m Message) bool {
	select {
	case s.ch <- m:
		s.received.Add(1)
		return true
	default:
		return false
	}
}

// taken counts the messages the subscription's reader has taken from
// ch (with DropOldest, or those push took back).
func (s *Subscription) taken() uint64 { return s.received.Load() - uint64(len(s.ch)) }

// yieldForRoom is called under pushMu with ch full. The connection's
// reader goroutine, which fills ch, may have run for its whole time
// slice while the subscription's reader, ready to run, waited for a
// CPU: then the queue is full although nobody is slow. So the
// connection's reader steps aside once (runtime.Gosched), without
// holding pushMu (Stats and Close do not wait behind a yield in a
// crowded scheduler), and offers m again. It reports whether m needs
// nothing more: queued, or the subscription closed meanwhile. Its
// callers yield only if the subscription's reader took messages since
// the last yield that left ch full, and at most once per batch: a
// stalled subscription costs its connection at most one yield per
// batch, never a wait, and the other subscriptions on the connection
// are not held up.
func (s *Subscription) yieldForRoom(m Message) bool {
	s.pushMu.Unlock()
	runtime.Gosched()
	s.pushMu.Lock()
	if s.closed || s.offer(m) {
		return true
	}
	s.stuck = s.taken()
	return false
}

// SubscriptionStats counts what a subscription received and lost.
type SubscriptionStats struct {
	// Received counts messages queued for the reader, Dropped those
	// lost because the queue was full (with DropOldest, a queued message
	// pushed out moves from Received to Dropped): every message that
	// arrived is counted once.
	Received uint64 `json:"received"`
	Dropped  uint64 `json:"dropped"`
	// Missed counts gaps in the publishers' sequence numbers: messages
	// the publishing side dropped for this subscriber.
	Missed     uint64 `json:"missed"`
	Queued     int    `json:"queued"`
	Publishers int    `json:"publishers"` // publishers connected and confirmed
}

// Stats returns the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats {
	// Under pushMu no push is half done: a message already read is
	// counted, and Received+Dropped never shows a transient value.
	s.pushMu.Lock()
	st := SubscriptionStats{
		Received: s.received.Load(), Dropped: s.dropped.Load(), Missed: s.missed.Load(),
		Queued: len(s.ch),
	}
	s.pushMu.Unlock()
	st.Publishers = s.s.confirmed(s)
	return st
}

// WaitConnected waits until at least n publishers of the topic are
// connected and have confirmed the subscription, so that messages they
// publish from then on are delivered.
func (s *Subscription) WaitConnected(ctx context.Context, n int) error {
	for {
		changed := s.s.changes()
		select {
		case <-s.done:
			return ErrClosed // another subscription may share the key
		default:
		}
		if s.s.confirmed(s) >= n {
			return nil
		}
		select {
		case <-changed:
		case <-s.done:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("core: %d of %d publishers of %q connected: %w", s.s.confirmed(s), n, s.pattern, ctx.Err())
		}
	}
}

// Close ends the subscription and closes C. It is idempotent.
func (s *Subscription) Close() error {
	s.once.Do(func() {
		s.s.remove(s)
		s.pushMu.Lock()
		close(s.done)
		close(s.ch)
		s.closed = true
		s.pushMu.Unlock()
	})
	return nil
}

// Receive is the typed form of Subscription.Next: the message is
// decoded with codec into T.
func Receive[T any](ctx context.Context, p *Peer, s *Subscription) (T, Message, error) {
	var v T
	m, err := s.Next(ctx)
	if err != nil {
		return v, m, err
	}
	if err := p.cfg.codec.Unmarshal(m.Data, &v); err != nil {
		return v, m, fmt.Errorf("core: decoding message on %q: %w", m.Topic, err)
	}
	return v, m, nil
}
