package sock

import (
	"bytes"
	"context"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/gozmp/zmp/internal/zmtp"
)

// PropSubAck is the READY property with which a zmp subscriber asks the
// publisher to confirm each subscription (see docs/protocol.md).
const PropSubAck = "X-Zmp-Sub-Ack"

// SubAckByte starts the one-frame message that confirms a subscription;
// the rest of the frame is the subscribed prefix.
const SubAckByte = 0x01

// PubConfig configures a Pub.
type PubConfig struct {
	Listen ListenConfig // Listen.ZMTP.Type is set to PUB and OnConn is replaced
	// QueueLen bounds each subscriber's send queue. Default DefaultQueueLen.
	QueueLen int
	// Policy is applied when a subscriber's queue is full: DropNewest
	// (the default when Block is given) or DropOldest. A publisher never waits.
	Policy Policy
}

// Pub fans each published message out to the subscribers whose
// subscriptions prefix its first frame. Each subscriber has its own
// bounded queue; a slow one loses messages (counted), never slows the
// publisher or the other subscribers.
type Pub struct {
	ln  *Listener
	cfg PubConfig

	mu     sync.RWMutex
	peers  map[*Link]*pubPeer
	closed bool

	dropped atomic.Uint64
}

type pubPeer struct {
	ack  bool
	mu   sync.Mutex
	subs map[string]int
	snap atomic.Pointer[[]string]
}

// ListenPub binds a Pub on endpoint.
func ListenPub(endpoint string, cfg PubConfig) (*Pub, error) {
	if cfg.Policy == Block {
		cfg.Policy = DropNewest
	}
	p := &Pub{cfg: cfg, peers: map[*Link]*pubPeer{}}
	cfg.Listen.ZMTP.Type = zmtp.Pub
	cfg.Listen.OnConn = p.addConn
	ln, err := Listen(endpoint, cfg.Listen)
	if err != nil {
		return nil, err
	}
	p.ln = ln
	return p, nil
}

// Endpoint returns the bound endpoint.
func (p *Pub) Endpoint() string { return p.ln.Endpoint() }

// Listener returns the pub's listener, for its counters.
func (p *Pub) Listener() *Listener { return p.ln }

func (p *Pub) addConn(c *zmtp.Conn) {
	peer := &pubPeer{ack: c.PeerMetadata().Get(PropSubAck) == "1", subs: map[string]int{}}
	peer.snap.Store(&[]string{})
	lc := LinkConfig{QueueLen: p.cfg.QueueLen, OnMessage: p.onMessage, OnClose: p.removeLink, Value: peer}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return
	}
	p.peers[StartLink(c, lc)] = peer
}

func (p *Pub) removeLink(l *Link, _ error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.peers, l)
}

// onMessage applies subscribe (0x01 prefix) and cancel (0x00 prefix)
// messages; anything else from a subscriber is ignored.
func (p *Pub) onMessage(l *Link, frames [][]byte) {
	if len(frames) != 1 || len(frames[0]) == 0 {
		return
	}
	peer := l.Value().(*pubPeer)
	prefix := string(frames[0][1:])
	switch frames[0][0] {
	case 1:
		peer.update(prefix, +1)
		if peer.ack {
			ack := append([]byte{SubAckByte}, prefix...)
			l.Send(context.Background(), [][]byte{ack})
		}
	case 0:
		peer.update(prefix, -1)
	}
}

func (s *pubPeer) update(prefix string, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.subs[prefix] + delta
	if n <= 0 {
		delete(s.subs, prefix)
	} else {
		s.subs[prefix] = n
	}
	snap := make([]string, 0, len(s.subs))
	for k := range s.subs {
		snap = append(snap, k)
	}
	sort.Strings(snap)
	s.snap.Store(&snap)
}

func (s *pubPeer) matches(topic []byte) bool {
	for _, prefix := range *s.snap.Load() {
		if bytes.HasPrefix(topic, []byte(prefix)) {
			return true
		}
	}
	return false
}

// Publish queues frames for every matching subscriber and returns how
// many matched and how many of those dropped a message. frames must not
// be modified afterwards: they are shared by all subscriber queues.
func (p *Pub) Publish(frames [][]byte) (matched, dropped int) {
	if len(frames) == 0 {
		return 0, 0
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	for l, peer := range p.peers {
		if !peer.matches(frames[0]) {
			continue
		}
		matched++
		if d, _ := l.TrySend(frames, p.cfg.Policy); d {
			dropped++
		}
	}
	if dropped > 0 {
		p.dropped.Add(uint64(dropped))
	}
	return matched, dropped
}

// PublishFunc is Publish for a message that is expensive to make: it
// calls build, at most once, only when a subscriber matching topic has
// room for the message (or drops its oldest), so that a message every
// subscriber would drop is never built.
func (p *Pub) PublishFunc(topic []byte, build func() [][]byte) (matched, dropped int) {
	var frames [][]byte
	p.mu.RLock()
	defer p.mu.RUnlock()
	for l, peer := range p.peers {
		if !peer.matches(topic) {
			continue
		}
		matched++
		if p.cfg.Policy == DropNewest && l.q.full() {
			l.dropped.Add(1)
			dropped++
			continue
		}
		if frames == nil {
			frames = build()
		}
		if d, _ := l.TrySend(frames, p.cfg.Policy); d {
			dropped++
		}
	}
	if dropped > 0 {
		p.dropped.Add(uint64(dropped))
	}
	return matched, dropped
}

// PubStats counts a Pub's subscribers and drops.
type PubStats struct {
	Subscribers int
	Dropped     uint64
}

// Stats returns the pub's counters.
func (p *Pub) Stats() PubStats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return PubStats{Subscribers: len(p.peers), Dropped: p.dropped.Load()}
}

// Close stops accepting, closes every subscriber link and waits.
func (p *Pub) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	links := make([]*Link, 0, len(p.peers))
	for l := range p.peers {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	return err
}
