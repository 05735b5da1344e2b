package sock

import (
	"bytes"
	"context"
	"slices"
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

// DefaultMaxSubscriptions bounds the distinct prefixes one subscriber
// connection may subscribe to.
const DefaultMaxSubscriptions = 1024

// PubConfig configures a Pub.
type PubConfig struct {
	Listen ListenConfig // Listen.ZMTP.Type is set to PUB and OnConn is replaced
	// Link is the template of each subscriber's link: its QueueLen and
	// QueueBytes bound that subscriber's queue (defaults DefaultQueueLen
	// and DefaultQueueBytes), its WriteTimeout drops a subscriber that
	// stops reading. OnMessage, OnClose and Value are replaced.
	Link LinkConfig
	// Policy is applied when a subscriber's queue is full: DropNewest
	// (the default when Block is given) or DropOldest. A publisher never waits.
	Policy Policy
	// MaxSubscriptions bounds the distinct prefixes each subscriber may
	// hold; further SUBSCRIBEs are ignored (not confirmed) and counted.
	// Default DefaultMaxSubscriptions.
	MaxSubscriptions int
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
	closed atomic.Bool // set under mu; read without it by WaitRoom
	// snap is a copy of peers that publishing reads without locking,
	// replaced (under mu) whenever peers changes.
	snap atomic.Pointer[[]pubLink]

	dropped, refused atomic.Uint64
}

// pubLink is one subscriber: its link and its subscriptions.
type pubLink struct {
	l    *Link
	peer *pubPeer
}

// updateSnapLocked copies peers into snap; mu is held.
func (p *Pub) updateSnapLocked() {
	snap := make([]pubLink, 0, len(p.peers))
	for l, peer := range p.peers {
		snap = append(snap, pubLink{l, peer})
	}
	p.snap.Store(&snap)
}

// pubPeer is one subscriber's subscriptions: a count per prefix, and a
// copy of the prefixes that Publish reads without locking.
type pubPeer struct {
	ack  bool
	mu   sync.Mutex
	subs map[string]int
	snap atomic.Pointer[[]string]
}

// ListenPub binds a Pub on endpoint.
func ListenPub(endpoint string, cfg PubConfig) (*Pub, error) {
	if cfg.Policy == Block || cfg.Policy == Force {
		cfg.Policy = DropNewest
	}
	if cfg.MaxSubscriptions <= 0 {
		cfg.MaxSubscriptions = DefaultMaxSubscriptions
	}
	p := &Pub{cfg: cfg, peers: map[*Link]*pubPeer{}}
	p.snap.Store(&[]pubLink{})
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
	lc := p.cfg.Link
	lc.OnMessage, lc.OnClose, lc.Value = p.onMessage, p.removeLink, peer
	lc.ReuseFrames = true // onMessage copies what it keeps
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		c.Close()
		return
	}
	p.peers[StartLink(c, lc)] = peer
	p.updateSnapLocked()
}

func (p *Pub) removeLink(l *Link, _ error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.peers, l)
	p.updateSnapLocked()
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
		if !peer.subscribe(prefix, p.cfg.MaxSubscriptions) {
			p.refused.Add(1)
			return
		}
		if peer.ack {
			// Publishing reads the snapshot of subscribers, which addConn
			// updates under mu after this link's reader started: confirm
			// only once the link is in it, so that a message published
			// after the confirmation reaches this subscriber.
			p.mu.RLock()
			_, listed := p.peers[l]
			p.mu.RUnlock()
			if !listed {
				return // the Pub is closing or the link is gone
			}
			// The subscriber's own reader waits here while it does not
			// read its confirmations: flow control, not a stall of others.
			ack := append([]byte{SubAckByte}, prefix...)
			l.Send(context.Background(), [][]byte{ack})
		}
	case 0:
		peer.cancel(prefix)
	}
}

// subscribe counts one more subscription to prefix; it refuses a new
// prefix beyond max.
func (s *pubPeer) subscribe(prefix string, max int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.subs[prefix]; ok {
		s.subs[prefix] = n + 1
		return true
	}
	if len(s.subs) >= max {
		return false
	}
	s.subs[prefix] = 1
	snap := append(slices.Clip(*s.snap.Load()), prefix) // copy on write
	s.snap.Store(&snap)
	return true
}

// cancel counts one subscription to prefix less.
func (s *pubPeer) cancel(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.subs[prefix]
	if !ok {
		return
	}
	if n > 1 {
		s.subs[prefix] = n - 1
		return
	}
	delete(s.subs, prefix)
	old := *s.snap.Load()
	i := slices.Index(old, prefix)
	snap := slices.Concat(old[:i], old[i+1:])
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
	for _, s := range *p.snap.Load() {
		if !s.peer.matches(frames[0]) {
			continue
		}
		matched++
		if d, _ := s.l.TrySend(frames, p.cfg.Policy); d {
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
// room for a message of size bytes (or drops its oldest), so that a
// message every subscriber would drop is never built.
func (p *Pub) PublishFunc(topic []byte, size int64, build func() [][]byte) (matched, dropped int) {
	var frames [][]byte
	for _, s := range *p.snap.Load() {
		l := s.l
		if !s.peer.matches(topic) {
			continue
		}
		matched++
		if p.cfg.Policy == DropNewest && l.q.fullNow(size) {
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

// WaitRoom returns once every subscriber whose subscriptions match
// topic has room in its queue (it is under both of its bounds), or ctx
// ends (its error), or the Pub is closed (ErrClosed). A subscriber that
// goes away meanwhile is not waited for.
func (p *Pub) WaitRoom(ctx context.Context, topic []byte) error {
	for {
		l, err := p.backlogged(topic)
		if l == nil || err != nil {
			return err
		}
		if l.WaitRoom(ctx) != nil {
			// ctx ended, or the link is stopping: wait for it to be gone.
			select {
			case <-l.Done():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// backlogged returns a subscriber of topic whose queue is at or over
// one of its bounds, or nil.
func (p *Pub) backlogged(topic []byte) (*Link, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	for _, s := range *p.snap.Load() {
		if s.l.q.overNow.Load() && s.peer.matches(topic) {
			return s.l, nil
		}
	}
	return nil, nil
}

// PubStats counts a Pub's subscribers, drops, and the subscriptions
// refused past MaxSubscriptions.
type PubStats struct {
	Subscribers int
	Dropped     uint64
	Refused     uint64
}

// Stats returns the pub's counters.
func (p *Pub) Stats() PubStats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return PubStats{Subscribers: len(p.peers), Dropped: p.dropped.Load(), Refused: p.refused.Load()}
}

// Close stops accepting, closes every subscriber link and waits.
func (p *Pub) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed.Store(true)
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
