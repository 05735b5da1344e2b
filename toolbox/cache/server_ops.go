package cache

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gozmp/zmp/core"
)

// The handlers of a server's RPC services. Reads take the cache's lock
// only; writes take the server's, which orders them with their
// publication.

// badRequest counts and answers a request that does not decode.
func (s *Server) badRequest(err error) error {
	s.st.badRequests.Add(1)
	return core.NewError(core.CodeBadRequest, "%v", err)
}

func (s *Server) serveGet(_ context.Context, req *core.Request) ([]byte, error) {
	key, err := decodeKeyRequest(req.Body)
	if err != nil {
		return nil, s.badRequest(err)
	}
	s.st.gets.Add(1)
	it, ok := s.c.Lookup(key)
	if !ok {
		s.st.misses.Add(1)
		return appendGetReply(nil, getReply{}), nil
	}
	s.st.hits.Add(1)
	g := getReply{found: true, version: it.Value.ver, ttl: untilExpiry(it.Expires), value: it.Value.val}
	return appendGetReply(make([]byte, 0, 21+len(g.value)), g), nil
}

func (s *Server) serveSet(_ context.Context, req *core.Request) ([]byte, error) {
	q, err := s.decodeWrite(req.Body, false)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return nil, err
	}
	ver, err := s.storeLocked(q)
	if err != nil {
		return nil, err
	}
	s.st.sets.Add(1)
	return appendVersionReply(nil, ver), nil
}

func (s *Server) serveCAS(_ context.Context, req *core.Request) ([]byte, error) {
	q, err := s.decodeWrite(req.Body, true)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return nil, err
	}
	var cur uint64
	if it, ok := s.c.Peek(q.key); ok {
		cur = it.Value.ver
	}
	if cur != q.version {
		s.st.casConflicts.Add(1)
		return nil, core.NewError(CodeVersionMismatch, "version mismatch: %q is at version %d, not %d", q.key, cur, q.version)
	}
	ver, err := s.storeLocked(q)
	if err != nil {
		return nil, err
	}
	s.st.casOK.Add(1)
	return appendVersionReply(nil, ver), nil
}

func (s *Server) serveDel(_ context.Context, req *core.Request) ([]byte, error) {
	key, err := decodeKeyRequest(req.Body)
	if err != nil {
		return nil, s.badRequest(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.openLocked(); err != nil {
		return nil, err
	}
	s.flushGoneLocked()
	ok := s.c.Delete(key)
	if ok {
		s.seq++
		s.publishLocked(update{kind: kindDelete, key: key, reason: Deleted})
		s.st.deletes.Add(1)
	}
	return appendDelReply(nil, ok), nil
}

func (s *Server) serveStats(context.Context, *core.Request) ([]byte, error) {
	return json.Marshal(s.Stats())
}

// decodeWrite decodes a set or CAS request and checks its value's size.
func (s *Server) decodeWrite(body []byte, cas bool) (opRequest, error) {
	q, err := decodeSetRequest(body, cas)
	if err != nil {
		return q, s.badRequest(err)
	}
	if len(q.value) > s.cfg.maxValue {
		s.st.tooLarge.Add(1)
		return q, core.NewError(CodeValueTooLarge, "value of %d bytes, the server's bound is %d", len(q.value), s.cfg.maxValue)
	}
	return q, nil
}

// openLocked refuses writes after Close.
func (s *Server) openLocked() error {
	if s.closed {
		s.st.refusedWhenClosed.Add(1)
		return core.NewError(core.CodeUnavailable, "cache server %s is closed", s.name)
	}
	return nil
}

// storeLocked writes q's value as the next write, publishes it and the
// evictions it caused, and returns its version. The caller holds mu.
func (s *Server) storeLocked(q opRequest) (uint64, error) {
	s.flushGoneLocked() // removals so far come first, with their own seqs
	ttl := s.cfg.effectiveTTL(q.ttl)
	cacheTTL := ttl
	if ttl == 0 {
		cacheTTL = NoExpiry
	}
	ver := s.seq + 1
	if err := s.c.Set(q.key, srvEntry{val: q.value, ver: ver}, cacheTTL); err != nil {
		switch {
		case errors.Is(err, ErrTooLarge):
			s.st.tooLarge.Add(1)
			return 0, core.NewError(CodeValueTooLarge, "%v", err)
		case errors.Is(err, ErrClosed):
			return 0, core.NewError(core.CodeUnavailable, "cache server %s is closed", s.name)
		}
		return 0, err
	}
	s.seq = ver
	s.publishLocked(update{kind: kindSet, key: q.key, value: q.value, ttl: roundTTL(ttl)})
	s.flushGoneLocked() // the evictions of this set
	return ver, nil
}

// roundTTL rounds a ttl up to whole milliseconds, as updates carry it.
func roundTTL(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}
