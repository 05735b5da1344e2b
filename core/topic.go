package core

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
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

// add returns the topic's state and whether it is new.
func (t *topics) add(name string) (*topicState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ts, ok := t.byName[name]; ok {
		return ts, false
	}
	ts := &topicState{name: name, frame: topicFrame(name)}
	t.byName[name] = ts
	return ts, true
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

// Advertise lists topic in the registry as published by this peer, so
// that subscribers connect before the first message. Publish does it
// on first use of a topic.
func (p *Peer) Advertise(topic string) error {
	_, err := p.advertise(topic)
	return err
}

func (p *Peer) advertise(topic string) (*topicState, error) {
	if ts := p.topics.get(topic); ts != nil {
		return ts, nil
	}
	if err := checkName(topic); err != nil {
		return nil, err
	}
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	ts, added := p.topics.add(topic)
	if added {
		if err := p.reregister(); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// Publish sends data to every current subscriber of topic. It never
// blocks: a subscriber whose queue is full loses the message, and the
// loss is counted (see WithPublishQueue and Stats). data is copied.
func (p *Peer) Publish(topic string, data []byte) error {
	ts, err := p.advertise(topic)
	if err != nil {
		return err
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

// Publish is the typed form of Peer.Publish: v is encoded with the
// peer's codec.
func Publish[T any](p *Peer, topic string, v T) error {
	data, err := p.cfg.codec.Marshal(v)
	if err != nil {
		return fmt.Errorf("core: encoding message for %q: %w", topic, err)
	}
	return p.Publish(topic, data)
}
