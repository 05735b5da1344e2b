package proxy

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Forwarder is a pub/sub broker (the XSUB/XPUB pattern). Publishers
// (PUB or XPUB) connect to its frontend, subscribers (SUB or XSUB) to
// its backend. The union of the subscribers' prefixes is sent upstream
// to every publisher, so publishers that filter (every ZeroMQ PUB does)
// send only topics someone wants; each publication is then queued for
// every subscriber with a matching prefix. Each subscriber has its own
// bounded queue: a slow one loses messages (counted in Backend.Dropped)
// and never slows the others.
type Forwarder struct {
	cfg      config
	front    *sock.Listener
	back     *sock.Listener
	sessions []*sock.Session
	tap      *tap
	cache    *lvc
	fc, bc   sideCounters
	refused  atomic.Uint64
	isPaused atomic.Bool
	closer   closer

	mu       sync.RWMutex
	pubs     map[*sock.Link]struct{}
	subs     map[*sock.Link]*subscriber
	union    map[string]int // prefix → subscribers holding it
	paused   bool
	held     [][][]byte // publications held while paused
	draining bool
	closed   bool
}

type subscriber struct {
	outbox
	subs subSet
}

// NewForwarder binds the frontend (for publishers) and the backend (for
// subscribers). Options: WithTap, WithPeerQueue, WithPendingLimit,
// WithMaxMessageSize, WithHandshakeTimeout, WithLastValueCache,
// WithConnect, WithMaxSubscriptions, WithSecurity,
// WithFrontendSecurity, WithBackendSecurity.
func NewForwarder(frontend, backend string, opts ...Option) (*Forwarder, error) {
	cfg, err := buildConfig(kindForwarder, opts)
	if err != nil {
		return nil, err
	}
	dials, err := connectSessions(&cfg)
	if err != nil {
		return nil, err
	}
	f := &Forwarder{
		cfg: cfg, cache: newLVC(cfg.cacheTopics), closer: newCloser(),
		pubs: map[*sock.Link]struct{}{}, subs: map[*sock.Link]*subscriber{}, union: map[string]int{},
	}
	if err := f.bind(frontend, backend); err != nil {
		f.Close()
		return nil, err
	}
	for _, d := range dials {
		d.Link = f.publisherLink()
		d.OnUp = func(l *sock.Link) { f.addPublisher(l) }
		f.sessions = append(f.sessions, sock.StartSession(d))
	}
	return f, nil
}

// connectSessions returns the sessions of WithConnect, each secured
// like the frontend; an endpoint may carry the publisher's CURVE key
// as "?key=Z85".
func connectSessions(cfg *config) ([]sock.SessionConfig, error) {
	var dials []sock.SessionConfig
	for _, addr := range cfg.connect {
		ep, sec, err := dialSecurity(cfg.sec.front, addr)
		if err != nil {
			return nil, err
		}
		if _, err := sock.ParseEndpoint(ep); err != nil {
			return nil, fmt.Errorf("%w: WithConnect: %w", ErrBadOption, err)
		}
		dials = append(dials, sock.SessionConfig{
			Endpoint:         ep,
			ZMTP:             zmtp.Config{Type: zmtp.XSub, MaxMessageSize: cfg.maxMessageSize, Security: sec},
			HandshakeTimeout: cfg.handshakeTimeout,
		})
	}
	return dials, nil
}

func (f *Forwarder) bind(frontend, backend string) error {
	var err error
	if f.tap, err = newTap(&f.cfg); err != nil {
		return err
	}
	if f.front, err = sock.Listen(frontend, listenConfig(&f.cfg, f.cfg.sec.frontZ, zmtp.XSub, f.onPublisherConn)); err != nil {
		return err
	}
	f.back, err = sock.Listen(backend, listenConfig(&f.cfg, f.cfg.sec.backZ, zmtp.XPub, f.onSubscriberConn))
	return err
}

// FrontendEndpoint returns where publishers connect (tcp port 0 resolved).
func (f *Forwarder) FrontendEndpoint() string { return f.front.Endpoint() }

// BackendEndpoint returns where subscribers connect.
func (f *Forwarder) BackendEndpoint() string { return f.back.Endpoint() }

// TapEndpoint returns the tap's endpoint, or "" without WithTap.
func (f *Forwarder) TapEndpoint() string { return f.tap.endpoint() }

func (f *Forwarder) publisherLink() sock.LinkConfig {
	return sock.LinkConfig{QueueLen: f.cfg.peerQueue, OnMessage: f.onPublish, OnClose: f.removePublisher}
}

func (f *Forwarder) onPublisherConn(c *zmtp.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.draining {
		c.Close()
		return
	}
	f.addPublisherLocked(sock.StartLink(c, f.publisherLink()))
}

// addPublisher registers a publisher link and sends it the current
// subscriptions.
func (f *Forwarder) addPublisher(l *sock.Link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && !f.draining {
		f.addPublisherLocked(l)
	}
}

func (f *Forwarder) addPublisherLocked(l *sock.Link) {
	f.pubs[l] = struct{}{}
	if f.cache != nil {
		send(l, subscriptionFrames(true, ""), &f.fc)
		return
	}
	for prefix := range f.union {
		send(l, subscriptionFrames(true, prefix), &f.fc)
	}
}

func (f *Forwarder) removePublisher(l *sock.Link, _ error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pubs, l)
}

func (f *Forwarder) onSubscriberConn(c *zmtp.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.draining {
		c.Close()
		return
	}
	l := sock.StartLink(c, sock.LinkConfig{QueueLen: f.cfg.peerQueue, OnMessage: f.onSubscriber, OnClose: f.removeSubscriber})
	f.subs[l] = &subscriber{outbox: outbox{link: l}, subs: subSet{}}
}

func (f *Forwarder) removeSubscriber(l *sock.Link, _ error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.subs[l]; ok {
		delete(f.subs, l)
		for prefix := range s.subs {
			f.unionRemove(prefix)
		}
	}
}

// onPublish forwards a publication to every matching subscriber.
func (f *Forwarder) onPublish(_ *sock.Link, frames [][]byte) {
	f.fc.in(frames)
	f.tap.mirror(labelFrontend, frames)
	if f.isPaused.Load() && f.hold(frames) {
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	f.deliver(frames)
}

// hold keeps a publication while paused; false means the forwarder
// was resumed meanwhile and the caller must deliver it.
func (f *Forwarder) hold(frames [][]byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.paused {
		return false
	}
	if len(f.held) >= f.cfg.pendingLimit {
		f.refused.Add(1)
	} else {
		f.held = append(f.held, frames)
	}
	return true
}

// deliver queues frames for the matching subscribers; f.mu is held
// (read or write).
func (f *Forwarder) deliver(frames [][]byte) {
	f.cache.put(frames)
	for _, s := range f.subs {
		if s.subs.matches(frames[0]) {
			s.send(frames, &f.bc)
		}
	}
}

// onSubscriber applies a subscription or cancel from a subscriber.
func (f *Forwarder) onSubscriber(l *sock.Link, frames [][]byte) {
	f.bc.in(frames)
	f.tap.mirror(labelBackend, frames)
	subscribe, prefix, ok := parseSubscription(frames)
	if !ok {
		f.bc.malformed.Add(1)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, live := f.subs[l]
	if !live {
		return
	}
	if !subscribe {
		if s.subs.remove(prefix) {
			f.unionRemove(prefix)
		}
		return
	}
	if _, has := s.subs[prefix]; !has && len(s.subs) >= f.cfg.maxSubscriptions {
		f.bc.malformed.Add(1)
		return
	}
	if s.subs.add(prefix) {
		f.unionAdd(prefix)
	}
	for _, m := range f.cache.matching(prefix) {
		s.send(m, &f.bc)
	}
}

func (f *Forwarder) unionAdd(prefix string) {
	f.union[prefix]++
	if f.union[prefix] == 1 && f.cache == nil {
		f.upstream(true, prefix)
	}
}

func (f *Forwarder) unionRemove(prefix string) {
	f.union[prefix]--
	if f.union[prefix] > 0 {
		return
	}
	delete(f.union, prefix)
	if f.cache == nil {
		f.upstream(false, prefix)
	}
}

// upstream sends a subscription change to every publisher.
func (f *Forwarder) upstream(subscribe bool, prefix string) {
	frames := subscriptionFrames(subscribe, prefix)
	for l := range f.pubs {
		send(l, frames, &f.fc)
	}
}

// Pause stops forwarding: publications are held (up to the pending
// limit, then refused and counted) until Resume. Subscriptions keep
// being applied.
func (f *Forwarder) Pause() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = true
	f.isPaused.Store(true)
}

// Resume forwards the held publications and resumes forwarding.
func (f *Forwarder) Resume() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumeLocked()
}

func (f *Forwarder) resumeLocked() {
	f.paused = false
	f.isPaused.Store(false)
	for _, m := range f.held {
		f.deliver(m)
	}
	f.held = nil
}

// Stats returns a snapshot of the forwarder's counters.
func (f *Forwarder) Stats() Stats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return Stats{
		Kind: "forwarder", Paused: f.paused, Draining: f.draining,
		Frontend:      f.fc.snapshot(f.front, f.cfg.sec.front, len(f.pubs)),
		Backend:       f.bc.snapshot(f.back, f.cfg.sec.back, len(f.subs)),
		Queued:        len(f.held),
		Refused:       f.refused.Load(),
		Subscriptions: len(f.union),
		Cached:        f.cache.len(),
	}
}

// Shutdown stops taking publishers and subscribers, forwards what it
// holds, waits until every subscriber's queue is written (or ctx ends)
// and closes. It returns ctx's error when it had to cut the drain.
func (f *Forwarder) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	if f.closed || f.draining {
		f.mu.Unlock()
		return ErrClosed
	}
	f.draining = true
	f.mu.Unlock()
	f.front.Close()
	f.back.Close()
	for _, s := range f.sessions {
		s.Close()
	}
	f.mu.Lock()
	pubs := make([]*sock.Link, 0, len(f.pubs))
	for l := range f.pubs {
		pubs = append(pubs, l)
	}
	f.resumeLocked()
	f.mu.Unlock()
	for _, l := range pubs {
		l.Close()
	}
	err := waitFor(ctx, func() bool {
		f.mu.RLock()
		defer f.mu.RUnlock()
		for _, s := range f.subs {
			if !s.flushed() {
				return false
			}
		}
		return true
	})
	f.Close()
	return err
}

// Close stops the forwarder at once, dropping what is queued. It is
// idempotent and returns after every goroutine has exited.
func (f *Forwarder) Close() error {
	f.closer.do(func() {
		for _, ln := range []*sock.Listener{f.front, f.back} {
			if ln != nil {
				ln.Close()
			}
		}
		for _, s := range f.sessions {
			s.Close()
		}
		f.mu.Lock()
		f.closed = true
		links := make([]*sock.Link, 0, len(f.pubs)+len(f.subs))
		for l := range f.pubs {
			links = append(links, l)
		}
		for l := range f.subs {
			links = append(links, l)
		}
		f.mu.Unlock()
		for _, l := range links {
			l.Close()
		}
		f.tap.close()
	})
	return nil
}
