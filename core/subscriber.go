package core

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// subscriber holds a peer's subscriptions and one SUB session per
// publishing node that has a topic some subscription wants.
type subscriber struct {
	p      *Peer
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	snap   atomic.Pointer[[]*Subscription]
	keys   map[string]int      // upstream subscription -> subscriptions using it
	pubs   map[string]*pubConn // by publisher node ID
	change chan struct{}       // closed and replaced on every change of state
	closed bool
}

func newSubscriber(p *Peer) *subscriber {
	s := &subscriber{
		p: p, subs: map[*Subscription]struct{}{}, keys: map[string]int{}, pubs: map[string]*pubConn{},
		change: make(chan struct{}),
	}
	s.snap.Store(&[]*Subscription{})
	return s
}

func (s *subscriber) add(sub *Subscription) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.subs[sub] = struct{}{}
	s.updateSnapshotLocked()
	s.keys[sub.key]++
	if s.keys[sub.key] == 1 {
		for _, pc := range s.pubs {
			pc.send(1, sub.key)
		}
	}
	s.p.watch.request()
	return nil
}

func (s *subscriber) remove(sub *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[sub]; !ok {
		return
	}
	delete(s.subs, sub)
	s.updateSnapshotLocked()
	s.keys[sub.key]--
	if s.keys[sub.key] == 0 {
		delete(s.keys, sub.key)
		for _, pc := range s.pubs {
			pc.send(0, sub.key)
		}
	}
	s.p.watch.request() // publishers no subscription wants are dropped at the reading
}

func (s *subscriber) updateSnapshotLocked() {
	subs := make([]*Subscription, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.snap.Store(&subs)
}

// wanted reports whether subscriptions want the registry watched.
func (s *subscriber) wanted() bool { return len(*s.snap.Load()) > 0 }

// changes returns a channel closed at the next change of connection or
// confirmation state.
func (s *subscriber) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.change
}

func (s *subscriber) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.change)
	s.change = make(chan struct{})
}

// confirmed counts the publishers sub selects that confirmed its key.
func (s *subscriber) confirmed(sub *Subscription) int {
	s.mu.Lock()
	pcs := make([]*pubConn, 0, len(s.pubs))
	for _, pc := range s.pubs {
		pcs = append(pcs, pc)
	}
	_, live := s.subs[sub]
	s.mu.Unlock()
	if !live {
		return 0
	}
	n := 0
	for _, pc := range pcs {
		if sub.matchesInfo(pc.nodeInfo()) && pc.isAcked(sub.key) {
			n++
		}
	}
	return n
}

// reconcile connects to new publishers of wanted topics and drops
// publishers that left the registry, after a reading of it.
func (s *subscriber) reconcile(v *view) {
	subs := *s.snap.Load()
	wanted := map[string]NodeInfo{}
	for _, n := range v.nodes {
		for _, sub := range subs {
			if n.Pub != "" && sub.matchesInfo(n) {
				wanted[n.ID] = n
			}
		}
	}
	for _, pc := range s.apply(v, wanted, subs) {
		pc.sess.Close()
	}
}

// apply makes the publisher connections those of wanted and returns
// the ones to close. A publisher that the reading v lacks but whose
// connection is up, and that a subscription still wants, is kept for a
// lease's time (see client.keepLive).
func (s *subscriber) apply(v *view, wanted map[string]NodeInfo, subs []*Subscription) (stale []*pubConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	now := time.Now()
	for id, pc := range s.pubs {
		n, ok := wanted[id]
		if !ok && !v.ids[id] && pc.keep(now, s.p.cfg.leaseTTL, subs) {
			continue
		}
		if !ok || n.Pub != pc.info.Pub {
			stale = append(stale, pc)
			delete(s.pubs, id)
			continue
		}
		pc.setInfo(n)
	}
	for id, n := range wanted {
		if _, ok := s.pubs[id]; !ok {
			s.pubs[id] = newPubConn(s, n)
		}
	}
	return stale
}

func (s *subscriber) keyList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.keys))
	for k := range s.keys {
		keys = append(keys, k)
	}
	return keys
}

func (s *subscriber) close() {
	s.mu.Lock()
	s.closed = true
	pubs := s.pubs
	s.pubs = map[string]*pubConn{}
	s.mu.Unlock()
	for _, pc := range pubs {
		pc.sess.Close()
	}
	for _, sub := range *s.snap.Load() {
		sub.Close()
	}
}

// pubConn is the SUB session to one publishing node.
type pubConn struct {
	s    *subscriber
	sess *sock.Session
	name string // the publisher's node name
	// labels are the publisher's labels: fixed for a node ID, so read
	// without the lock.
	labels map[string]string

	mu       sync.Mutex
	info     NodeInfo
	vanished time.Time // when a reading of the registry first lacked it
	link     *sock.Link
	acked    map[string]bool
	topics   map[string]*topicTrack // by interned topic name
	recent   *topicTrack            // the topic of the last message: most messages repeat it
	gen      uint64                 // the connection's generation (see topicTrack)

	// Messages read and not yet handed to their subscriptions, owned by
	// the connection's reader goroutine (see onMessage).
	pending      []pendingMsg
	pendingBytes int
}

// pendingMsg is a message on its way to one subscription.
type pendingMsg struct {
	sub *Subscription
	m   Message
}

// A connection's reader hands messages to subscriptions once no whole
// message is left in its input (Link.OnIdle), or once it holds
// maxPending messages or maxPendingBytes of bodies, whichever comes
// first: a subscription's reader then wakes once per batch, not once
// per message.
const (
	maxPending      = 256
	maxPendingBytes = 1 << 20
)

// topicTrack is what a publisher connection remembers of one topic:
// its name, interned (and checked) once, and the last sequence number
// seen on it in generation gen of the connection. A new connection
// (onUp) starts a generation, which forgets every sequence number
// without visiting the topics.
type topicTrack struct {
	name string
	last uint64
	gen  uint64
}

// maxInterned bounds the topic names a connection keeps; past it names
// are copied per message and gaps on them are not counted.
const maxInterned = 4096

func newPubConn(s *subscriber, n NodeInfo) *pubConn {
	pc := &pubConn{s: s, info: n, name: n.Name, labels: n.Labels, acked: map[string]bool{}, topics: map[string]*topicTrack{}, gen: 1}
	meta := zmtp.Metadata{"X-Zmp-Node": s.p.name, sock.PropSubAck: "1"}
	sec, dial := s.p.cfg.clientDial(n.Key)
	pc.sess = sock.StartSession(sock.SessionConfig{
		Endpoint:         n.Pub,
		Dial:             dial,
		ZMTP:             zmtp.Config{Type: zmtp.Sub, MaxMessageSize: s.p.cfg.maxMessageSize, Metadata: meta, Security: sec},
		HandshakeTimeout: s.p.cfg.handshakeTimeout,
		Link: sock.LinkConfig{
			OnMessage:        pc.onMessage,
			ReuseFrames:      true, // onMessage keeps the body frame only
			OnIdle:           pc.flush,
			Heartbeat:        s.p.cfg.heartbeat,
			HeartbeatTimeout: s.p.cfg.heartbeatTimeout,
		},
		OnUp:   pc.onUp,
		OnDown: pc.onDown,
	})
	return pc
}

// keep reports whether a publisher the registry no longer lists is kept:
// its connection is up, a subscription wants it, and it vanished less
// than grace ago.
func (pc *pubConn) keep(now time.Time, grace time.Duration, subs []*Subscription) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.link == nil || !slices.ContainsFunc(subs, func(s *Subscription) bool { return s.matchesInfo(pc.info) }) {
		return false
	}
	if pc.vanished.IsZero() {
		pc.vanished = now
	}
	return now.Sub(pc.vanished) <= grace
}

func (pc *pubConn) nodeInfo() NodeInfo {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.info
}

func (pc *pubConn) setInfo(n NodeInfo) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.info, pc.vanished = n, time.Time{}
}

func (pc *pubConn) isAcked(key string) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.acked[key]
}

// send sends a subscribe (1) or cancel (0) for key if connected.
func (pc *pubConn) send(op byte, key string) {
	pc.mu.Lock()
	l := pc.link
	if op == 0 {
		delete(pc.acked, key)
	}
	pc.mu.Unlock()
	if l != nil {
		l.TrySend([][]byte{append([]byte{op}, key...)}, sock.DropOldest)
	}
}

func (pc *pubConn) onUp(l *sock.Link) {
	pc.mu.Lock()
	pc.link = l
	clear(pc.acked)
	pc.gen++ // sequence numbers start afresh on a new connection
	pc.mu.Unlock()
	for _, k := range pc.s.keyList() {
		l.Send(context.Background(), [][]byte{append([]byte{1}, k...)})
	}
}

func (pc *pubConn) onDown(*sock.Link, error) {
	pc.mu.Lock()
	pc.link = nil
	clear(pc.acked)
	pc.mu.Unlock()
	pc.s.notify()
}

func (pc *pubConn) onMessage(_ *sock.Link, frames [][]byte) {
	if len(frames) == 1 && len(frames[0]) > 0 && frames[0][0] == sock.SubAckByte {
		pc.mu.Lock()
		pc.acked[string(frames[0][1:])] = true
		pc.mu.Unlock()
		pc.s.notify()
		return
	}
	d, err := parseDataEnvelope(frames)
	if err != nil {
		return
	}
	topic, missed, err := pc.track(d.topic, d.seq)
	if err != nil {
		return
	}
	m := Message{Topic: topic, Data: d.body, Seq: d.seq, Publisher: pc.name}
	for _, sub := range *pc.s.snap.Load() {
		if sub.matches(d.topic) && pc.selectedBy(sub) {
			sub.missed.Add(missed)
			pc.pending = append(pc.pending, pendingMsg{sub, m})
			pc.pendingBytes += len(m.Data)
		}
	}
	if len(pc.pending) >= maxPending || pc.pendingBytes >= maxPendingBytes {
		pc.flush(nil)
	}
}

// flush hands the pending messages to their subscriptions, those of
// one subscription in one go. It runs on the connection's reader.
func (pc *pubConn) flush(*sock.Link) {
	for rest := pc.pending; len(rest) > 0; {
		n := 1
		for n < len(rest) && rest[n].sub == rest[0].sub {
			n++
		}
		rest[0].sub.pushAll(rest[:n])
		rest = rest[n:]
	}
	clear(pc.pending) // keep no body alive
	pc.pending, pc.pendingBytes = pc.pending[:0], 0
}

// selectedBy reports whether sub takes messages from this publisher.
func (pc *pubConn) selectedBy(sub *Subscription) bool {
	return len(sub.labels) == 0 || (NodeInfo{Labels: pc.labels}).HasLabels(sub.labels)
}

// track interns the topic name (view is only valid with its frame),
// checking it the first time it is seen, and returns how many sequence
// numbers were skipped on it since the last message from this
// publisher on this connection.
func (pc *pubConn) track(view string, seq uint64) (topic string, missed uint64, err error) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	t := pc.recent
	if t == nil || t.name != view {
		if t = pc.topics[view]; t == nil {
			if err := checkName(view); err != nil {
				return "", 0, err
			}
			name := strings.Clone(view)
			if len(pc.topics) >= maxInterned {
				return name, 0, nil
			}
			t = &topicTrack{name: name}
			pc.topics[name] = t
		}
		pc.recent = t
	}
	if t.gen == pc.gen && seq > t.last+1 {
		missed = seq - t.last - 1
	}
	t.last, t.gen = seq, pc.gen
	return t.name, missed, nil
}
