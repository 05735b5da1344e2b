package core

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/gozmp/zmp/internal/sock"
)

// topics holds the state of the topics a peer publishes.
type topics struct {
	mu     sync.RWMutex
	byName map[string]*topicState
}

type topicState struct {
	name  string
	frame []byte // name + NUL, shared by every message
	seq   atomic.Uint64
	stats topicStats
}

type topicStats struct {
	published, delivered, dropped, bytes atomic.Uint64
}

func newTopics() *topics { return &topics{byName: map[string]*topicState{}} }

func (t *topics) get(name string) *topicState {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byName[name]
}

// add returns the topic's state and whether it is new; it refuses a
// new topic beyond max.
func (t *topics) add(name string, max int) (*topicState, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts, ok := t.byName[name]; ok {
		return ts, false, nil
	}
	if len(t.byName) >= max {
		return nil, false, fmt.Errorf("%w: %q would be topic %d, limit %d", ErrTooManyTopics, name, len(t.byName)+1, max)
	}
	ts := &topicState{name: name, frame: topicFrame(name)}
	t.byName[name] = ts
	return ts, true, nil
}

// remove forgets a topic; it reports whether it was there.
func (t *topics) remove(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.byName[name]
	delete(t.byName, name)
	return ok
}

func (t *topics) names() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := make([]string, 0, len(t.byName))
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Advertise lists topics in the registry as published by this peer, so
// that subscribers connect before the first message, and returns once
// the registry has them (or, when the registry is unavailable, at once:
// the registrar lists them as soon as the registry answers). Publish
// advertises a topic on its first use, in the background. A peer
// advertises at most WithMaxTopics topics (ErrTooManyTopics).
//
// Every Advertise that adds a topic rewrites the peer's whole registry
// entry: a program with many topics passes them in one call, which
// writes the entry once (advertising 10,000 topics one call each takes
// time that grows with the square of their number). On an error, the
// topics before the one that failed are advertised.
func (p *Peer) Advertise(topics ...string) error {
	var added bool
	var err error
	for _, topic := range topics {
		var a bool
		if _, a, err = p.advertise(topic); err != nil {
			break
		}
		added = added || a
	}
	if !added {
		return err
	}
	return errors.Join(err, p.reregister())
}

// Unadvertise removes topic from the peer's registry entry: subscribers
// looking for its publishers no longer find this peer, and its counters
// are dropped. Subscribers already connected stay connected until their
// next reading of the registry. Publishing on it again advertises it
// again.
func (p *Peer) Unadvertise(topic string) error {
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	if !p.topics.remove(topic) {
		return nil
	}
	return p.reregister()
}

// advertise adds topic to the peer's topics; added reports a new one.
func (p *Peer) advertise(topic string) (ts *topicState, added bool, err error) {
	if ts := p.topics.get(topic); ts != nil {
		return ts, false, nil
	}
	if err := checkName(topic); err != nil {
		return nil, false, err
	}
	if p.ctx.Err() != nil {
		return nil, false, ErrClosed
	}
	return p.topics.add(topic, p.cfg.maxTopics)
}

// Publish sends data to every current subscriber of topic. It never
// blocks, not even on the first use of a topic (which is advertised in
// the background): a subscriber whose queue is full loses the message,
// and the loss is counted (see WithPublishQueue and Stats). data is
// copied.
func (p *Peer) Publish(topic string, data []byte) error {
	ts, added, err := p.advertise(topic)
	if err != nil {
		return err
	}
	if added {
		p.requestRegistration()
	}
	if int64(len(data)) > p.cfg.maxMessageSize-int64(len(ts.frame)+headerLen+3*32) {
		return fmt.Errorf("%w: message of %d bytes on %q", ErrTooLarge, len(data), topic)
	}
	seq := ts.seq.Add(1)
	size := int64(len(ts.frame) + headerLen + len(data))
	matched, dropped := p.pub.PublishFunc(ts.frame, size, func() [][]byte { return dataFrames(ts.frame, seq, data) })
	ts.stats.published.Add(1)
	ts.stats.bytes.Add(uint64(len(data)))
	ts.stats.delivered.Add(uint64(matched - dropped))
	ts.stats.dropped.Add(uint64(dropped))
	return nil
}

// WaitRoom waits until every subscriber of topic has room in its
// queue at this peer (WithPublishQueue, WithQueueBytes), so that the
// next Publish on topic is queued for every subscriber rather than
// dropped for some; it returns ctx.Err() if ctx ends first, ErrClosed
// once the peer is closed. Publish itself never waits: a publisher that
// would rather slow down to its subscribers' pace than lose messages
// calls WaitRoom before publishing. A subscriber that stops reading
// holds WaitRoom until ctx ends or until it is disconnected (5 s
// without taking any bytes), so give ctx a deadline. Several
// publishing goroutines may still overfill a queue between their
// WaitRoom and their Publish. WaitRoom sees only this peer's queues: a
// subscription whose own queue (WithQueue) is full still drops.
func (p *Peer) WaitRoom(ctx context.Context, topic string) error {
	if p.ctx.Err() != nil || p.pub == nil {
		return ErrClosed
	}
	frame := topicFrame(topic)
	if ts := p.topics.get(topic); ts != nil {
		frame = ts.frame
	}
	if err := p.pub.WaitRoom(ctx, frame); err != nil {
		if errors.Is(err, sock.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	return nil
}

// Publish is the typed form of Peer.Publish: v is encoded with the
// peer's codec.
func Publish[T any](p *Peer, topic string, v T) error {
	data, err := p.cfg.codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("core: encoding message for %q: %w", topic, err)
	}
	return p.Publish(topic, data)
}
