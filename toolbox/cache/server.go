package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/gozmp/zmp/core"
)

// DefaultServerName is the name a cache server takes by default (the
// zmptool cache commands' --name).
const DefaultServerName = "cache"

// Server is a cache server: a key-value cache of byte values served on
// a peer, bounded by entries and bytes like a Cache, whose every write
// is published in order so that replicas can keep a copy.
//
// A server named N provides these services on its peer: N.get, N.set,
// N.del and N.cas (binary bodies, see ops_wire.go and
// docs/protocol.md), N.stats (ServerStats as JSON), the download stream
// N.snapshot, and publishes topic N.updates: every write (set, delete,
// eviction, expiry) numbered by seq within the server's epoch, and a
// heartbeat every WithServerHeartbeat. Each entry has a version, the
// seq of the write that set it, which CompareAndSet compares.
//
// The server is secured like the peer it runs on (core.WithSecurity).
// Values it is given are kept, not copied (a request body belongs to
// its handler); values it returns are encoded copies.
type Server struct {
	p     *core.Peer
	name  string
	topic string
	cfg   serverConfig
	epoch uint64
	c     *Cache[srvEntry]

	mu     sync.Mutex // orders writes: seq, the cache's changes, publication
	seq    uint64     // the last write's number
	buf    []byte     // encodes updates, under mu
	closed bool

	gmu  sync.Mutex // guards gone
	gone []goneKey  // removals by the cache (evictions, expiries) not yet published

	kick        chan struct{} // wakes publishLoop: gone is not empty
	done        chan struct{} // closed by Close
	wg          sync.WaitGroup
	closeOnce   sync.Once
	removeStats func()
	st          serverCounters

	published func(seq uint64) // test hook: a write is about to be published
}

// srvEntry is what a server stores under a key.
type srvEntry struct {
	val []byte
	ver uint64
}

// goneKey is an entry the cache removed by itself, to publish.
type goneKey struct {
	key string
	why Reason
}

// serverCounters are a server's counts of its operations.
type serverCounters struct {
	gets, hits, misses, sets, deletes     atomic.Uint64
	casOK, casConflicts, badRequests      atomic.Uint64
	tooLarge, snapshots, publishErrors    atomic.Uint64
	supersededRemovals, refusedWhenClosed atomic.Uint64
}

// NewServer starts a cache server named name (DefaultServerName when
// empty) on p: it provides its services, advertises its update topic
// (waiting for the registry as Advertise does) and publishes its first
// heartbeat. Its statistics are added to p's zmp.stats as
// "cache.server.<name>". Options are validated; see the WithServer
// options for the defaults.
func NewServer(p *core.Peer, name string, opts ...ServerOption) (*Server, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil peer", ErrBadOption)
	}
	if name == "" {
		name = DefaultServerName
	}
	cfg := defaultServerConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil server option", ErrBadOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Server{
		p: p, name: name, topic: name + ".updates", cfg: cfg, epoch: newEpoch(),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	c, err := New[srvEntry](WithMaxEntries(cfg.maxEntries), WithMaxBytes(cfg.maxBytes), WithPolicy(cfg.policy),
		WithSizer(func(e srvEntry) int { return len(e.val) + 8 }), WithOnEvict(s.onRemove))
	if err != nil {
		return nil, err
	}
	s.c = c
	if err := s.provide(); err != nil {
		s.withdraw()
		c.Close()
		return nil, err
	}
	s.goFunc(s.heartbeatLoop)
	s.goFunc(s.publishLoop)
	return s, nil
}

// newEpoch returns a random epoch, never 0.
func newEpoch() uint64 {
	for {
		if e := rand.Uint64(); e != 0 {
			return e
		}
	}
}

// goFunc runs f on a goroutine that Close waits for.
func (s *Server) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// serverServices returns the suffixes of a server's services, the
// handlers' first, in provide's order.
func serverServices() []string {
	return []string{".get", ".set", ".del", ".cas", ".stats", ".snapshot"}
}

// provide registers the server's services, topic and stats on its peer.
func (s *Server) provide() error {
	handlers := []func(context.Context, *core.Request) ([]byte, error){s.serveGet, s.serveSet, s.serveDel, s.serveCAS, s.serveStats}
	suffixes := serverServices()
	for i, h := range handlers {
		if err := s.p.HandleFunc(s.name+suffixes[i], h); err != nil {
			return fmt.Errorf("cache: providing %s%s: %w", s.name, suffixes[i], err)
		}
	}
	if err := s.p.HandleStream(s.name+".snapshot", core.StreamHandlerFunc(s.serveSnapshot)); err != nil {
		return fmt.Errorf("cache: providing %s.snapshot: %w", s.name, err)
	}
	if err := s.p.Advertise(s.topic); err != nil && !errors.Is(err, core.ErrRegistryUnavailable) {
		return fmt.Errorf("cache: advertising %s: %w", s.topic, err)
	}
	remove, err := s.p.AddStats("cache.server."+s.name, func() any { return s.stats(false) })
	if err != nil {
		return fmt.Errorf("cache: adding stats: %w", err)
	}
	s.removeStats = remove
	s.mu.Lock()
	s.heartbeatLocked()
	s.mu.Unlock()
	return nil
}

// withdraw takes the server's services, topic and stats off its peer.
func (s *Server) withdraw() {
	for _, svc := range serverServices() {
		s.p.Withdraw(s.name + svc)
	}
	s.p.Unadvertise(s.topic)
	if s.removeStats != nil {
		s.removeStats()
	}
}

// Name returns the server's name, the prefix of its services and topic.
func (s *Server) Name() string { return s.name }

// Epoch returns the server's epoch: random, new at each NewServer.
func (s *Server) Epoch() uint64 { return s.epoch }

// Close withdraws the server's services and topic from its peer, stops
// its goroutines and waits for them. Writes that reach it afterwards are
// answered with core.CodeUnavailable. The peer stays open: it is the
// caller's. Close is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.withdraw()
		close(s.done)
		s.wg.Wait()
		s.c.Close()
	})
	return nil
}
