package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Pushing a registry node's changes to its clients (see protocol.md):
// the node publishes every new state, numbered by a revision, on the
// topic registryChanges of its PUB socket, and the bare revision every
// registryBeacon. A client subscribes, then reads the state and its
// revision with zmp.registry.watch (a short request: no worker is held
// between changes), and from then on takes each pushed state newer than
// the one it has; a beacon or a state too large to push that is newer
// makes it read again. A client that lost pushes (its queue was full)
// thus converges by the next beacon at the latest.

// registryChanges is the topic a registry node pushes its changes on.
const registryChanges = "zmp.registry.changes"

const (
	// registryBeacon is how often a registry node publishes its
	// revision even without changes.
	registryBeacon = time.Second
	// registrySilence is how long a watching client waits for any
	// message before it takes the watch for broken.
	registrySilence = 5 * registryBeacon
	// registryPoll is how often a registry node reads a backing registry
	// that cannot watch, besides after each request that changed it.
	registryPoll = time.Second
)

// registryChange is a message on registryChanges. Nodes is absent in a
// beacon and when the state is too large for one message.
type registryChange struct {
	Epoch string      `json:"epoch"`
	Rev   uint64      `json:"rev"`
	Nodes *[]NodeInfo `json:"nodes,omitempty"`
}

// watchReply is the reply of zmp.registry.watch: where changes are
// pushed, and the current state with its revision.
type watchReply struct {
	Pub   string     `json:"pub"`
	Topic string     `json:"topic"`
	Epoch string     `json:"epoch"`
	Rev   uint64     `json:"rev"`
	Nodes []NodeInfo `json:"nodes"`
}

// registryPubEndpoint returns where a registry node served at rpc binds
// its PUB socket: the same interface on a port of the system's choice,
// or a socket file beside the RPC one.
func registryPubEndpoint(rpc string) string {
	if path, ok := strings.CutPrefix(rpc, "ipc://"); ok {
		return "ipc://" + path + ".pub"
	}
	if hostport, ok := strings.CutPrefix(rpc, "tcp://"); ok {
		if host, _, err := net.SplitHostPort(hostport); err == nil {
			return "tcp://" + net.JoinHostPort(host, "0")
		}
	}
	return ""
}

// registryPush is a registry node's pushing state.
type registryPush struct {
	peer  *Peer
	epoch string        // per start of the node: revisions restart with it
	wake  chan struct{} // capacity 1: a request changed the registry

	mu    sync.Mutex
	rev   uint64
	nodes []NodeInfo // the state of rev, read-only; nil before the first
}

func (rp *registryPush) init(p *Peer) {
	rp.peer, rp.epoch, rp.wake = p, newID(), make(chan struct{}, 1)
}

// changed tells the push loop that a request changed the registry, for
// backing registries that cannot watch.
func (rp *registryPush) changed() {
	select {
	case rp.wake <- struct{}{}:
	default:
	}
}

func (rp *registryPush) state() (uint64, []NodeInfo) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.rev, rp.nodes
}

// publish makes nodes the next revision and pushes it.
func (rp *registryPush) publish(nodes []NodeInfo) {
	rp.mu.Lock()
	rp.rev++
	rp.nodes = nodes
	rev := rp.rev
	rp.mu.Unlock()
	data, err := json.Marshal(registryChange{Epoch: rp.epoch, Rev: rev, Nodes: &nodes})
	if err != nil || int64(len(data)) > rp.peer.cfg.maxMessageSize/2 {
		rp.beacon() // clients read the state with zmp.registry.watch
		return
	}
	_ = rp.peer.Publish(registryChanges, data)
}

// beacon pushes the current revision alone.
func (rp *registryPush) beacon() {
	rev, _ := rp.state()
	data, _ := json.Marshal(registryChange{Epoch: rp.epoch, Rev: rev})
	_ = rp.peer.Publish(registryChanges, data)
}

// pushLoop pushes the backing registry's changes until Close.
func (s *RegistryServer) pushLoop() {
	defer s.wg.Done()
	beacon := time.NewTicker(registryBeacon)
	defer beacon.Stop()
	for s.ctx.Err() == nil {
		s.forward(s.source(), beacon.C)
		sleepCtx(s.ctx, registryBackoff)
	}
}

// source returns the backing registry's changes: its own watch, or one
// that reads it after each changing request and every registryPoll. It
// is closed when the server closes or the watch breaks.
func (s *RegistryServer) source() <-chan []NodeInfo {
	if w, ok := s.reg.(RegistryWatcher); ok {
		if ch, err := w.Watch(s.ctx); err == nil {
			return ch
		}
	}
	feed := newWatchFeed()
	go func() {
		defer close(feed.ch)
		runWatch(s.ctx, feed, s.reg.Nodes, s.push.wake, nil, registryPoll)
	}()
	return feed.ch
}

// forward pushes each state of ch, and beacons, until ch is closed.
func (s *RegistryServer) forward(ch <-chan []NodeInfo, beacon <-chan time.Time) {
	for {
		select {
		case nodes, ok := <-ch:
			if !ok {
				return
			}
			s.push.publish(nodes)
		case <-beacon:
			s.push.beacon()
		case <-s.ctx.Done():
			for range ch { // the source's goroutines end with ctx
			}
			return
		}
	}
}

// watch serves zmp.registry.watch.
func (s *RegistryServer) watch(ctx context.Context, _ *Request) ([]byte, error) {
	rev, nodes := s.push.state()
	if nodes == nil { // nothing pushed yet: revision 0 is this reading
		var err error
		if nodes, err = s.reg.Nodes(ctx); err != nil {
			return nil, err
		}
	}
	return json.Marshal(watchReply{Pub: s.peer.Info().Pub, Topic: registryChanges, Epoch: s.push.epoch, Rev: rev, Nodes: nodes})
}

// Watch implements RegistryWatcher: the registry node pushes its
// changes. It fails with ErrRegistryUnavailable while the node cannot
// be reached, and with ErrWatchUnsupported when the node is too old to
// push. The watch breaks when the connection to the node's PUB socket
// is lost, when the node restarts, when nothing (not even its
// once-a-second beacon) arrives for 5 s, or when the client is closed.
func (r *RemoteRegistry) Watch(ctx context.Context) (<-chan []NodeInfo, error) {
	rep, err := r.readWatch(ctx)
	if errors.Is(err, ErrUnknownService) {
		return nil, fmt.Errorf("%w: registry node %s does not push changes", ErrWatchUnsupported, r.conn.info.RPC)
	}
	if err != nil {
		return nil, err
	}
	pub, err := r.pubEndpoint(rep.Pub)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	rw := newRemoteWatch(r, pub, rep)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		rw.run(ctx)
	}()
	return rw.feed.ch, nil
}

// readWatch calls zmp.registry.watch.
func (r *RemoteRegistry) readWatch(ctx context.Context) (watchReply, error) {
	var rep watchReply
	reply, err := r.call(ctx, registryWatch, struct{}{})
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(reply, &rep); err != nil {
		return rep, fmt.Errorf("core: registry reply: %w", err)
	}
	return rep, nil
}

// pubEndpoint turns the PUB endpoint a registry node reports into one
// to dial: for TCP, its port at the host this client reaches the node
// at (the node may report the address it bound, such as 0.0.0.0).
func (r *RemoteRegistry) pubEndpoint(pub string) (string, error) {
	rest, ok := strings.CutPrefix(pub, "tcp://")
	if !ok {
		return pub, nil
	}
	_, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", fmt.Errorf("core: registry pub endpoint %q: %w", pub, err)
	}
	u, err := url.Parse(r.conn.info.RPC)
	if err != nil || u.Hostname() == "" {
		return pub, nil
	}
	return "tcp://" + net.JoinHostPort(u.Hostname(), port), nil
}

// remoteWatch is one watch of a registry node: a SUB session to its PUB
// socket and the newest message received on it.
type remoteWatch struct {
	r     *RemoteRegistry
	sess  *sock.Session
	epoch string
	feed  *watchFeed
	rev   uint64 // revision of the last state offered; run's goroutine only

	acked    chan struct{} // closed when the subscription is confirmed
	down     chan struct{} // closed when the link is lost
	sig      chan struct{} // capacity 1: a message is waiting in msg
	ackOnce  sync.Once
	downOnce sync.Once

	mu  sync.Mutex
	msg []byte // the newest message body; older unread ones are dropped
}

func newRemoteWatch(r *RemoteRegistry, pub string, rep watchReply) *remoteWatch {
	rw := &remoteWatch{
		r: r, epoch: rep.Epoch, feed: newWatchFeed(),
		acked: make(chan struct{}), down: make(chan struct{}), sig: make(chan struct{}, 1),
	}
	meta := zmtp.Metadata{"X-Zmp-Node": "zmp-registry-watch", sock.PropSubAck: "1"}
	sec, dial := r.cfg.clientDial(r.conn.info.Key)
	key := string(topicFrame(rep.Topic))
	rw.sess = sock.StartSession(sock.SessionConfig{
		Endpoint:         pub,
		Dial:             dial,
		ZMTP:             zmtp.Config{Type: zmtp.Sub, MaxMessageSize: r.cfg.maxMessageSize, Metadata: meta, Security: sec},
		HandshakeTimeout: r.cfg.handshakeTimeout,
		Link: sock.LinkConfig{
			OnMessage:        rw.onMessage,
			Heartbeat:        r.cfg.heartbeat,
			HeartbeatTimeout: r.cfg.heartbeatTimeout,
		},
		OnUp: func(l *sock.Link) {
			l.Send(context.Background(), [][]byte{append([]byte{1}, key...)})
		},
		OnDown: func(*sock.Link, error) { rw.downOnce.Do(func() { close(rw.down) }) },
	})
	return rw
}

func (rw *remoteWatch) onMessage(_ *sock.Link, frames [][]byte) {
	if len(frames) == 1 && len(frames[0]) > 0 && frames[0][0] == sock.SubAckByte {
		rw.ackOnce.Do(func() { close(rw.acked) })
		return
	}
	d, err := parseData(frames)
	if err != nil || d.topic != registryChanges {
		return
	}
	rw.mu.Lock()
	rw.msg = append(rw.msg[:0:0], d.body...)
	rw.mu.Unlock()
	select {
	case rw.sig <- struct{}{}:
	default:
	}
}

func (rw *remoteWatch) take() []byte {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	m := rw.msg
	rw.msg = nil
	return m
}

// run follows the registry node's pushes until the watch ends, then
// closes the session and the channel.
func (rw *remoteWatch) run(ctx context.Context) {
	defer close(rw.feed.ch)
	defer rw.sess.Close()
	if !rw.start(ctx) {
		return
	}
	silence := time.NewTimer(registrySilence)
	defer silence.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rw.r.done:
			return
		case <-rw.down:
			return
		case <-silence.C:
			return
		case <-rw.sig:
			silence.Reset(registrySilence)
			if !rw.apply(ctx, rw.take()) {
				return
			}
		}
	}
}

// start waits until the node confirmed the subscription, so that no
// change after the reading that follows is missed, and offers that
// reading.
func (rw *remoteWatch) start(ctx context.Context) bool {
	t := time.NewTimer(rw.r.cfg.handshakeTimeout + rw.r.cfg.callTimeout)
	defer t.Stop()
	select {
	case <-rw.acked:
	case <-rw.down:
		return false
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	case <-rw.r.done:
		return false
	}
	return rw.reread(ctx)
}

// apply takes one pushed message; it reports false when the watch must
// end (the node restarted, or a reading failed).
func (rw *remoteWatch) apply(ctx context.Context, body []byte) bool {
	var m registryChange
	if body == nil || json.Unmarshal(body, &m) != nil {
		return true // not ours to judge: the next beacon tells
	}
	switch {
	case m.Epoch != rw.epoch:
		return false
	case m.Rev <= rw.rev:
		return true
	case m.Nodes != nil:
		rw.rev = m.Rev
		rw.feed.offer(*m.Nodes)
		return true
	}
	return rw.reread(ctx)
}

// reread reads the node's state and offers it if it is newer.
func (rw *remoteWatch) reread(ctx context.Context) bool {
	rep, err := rw.r.readWatch(ctx)
	if err != nil || rep.Epoch != rw.epoch {
		return false
	}
	if rep.Rev >= rw.rev {
		rw.rev = rep.Rev
		rw.feed.offer(rep.Nodes)
	}
	return true
}
