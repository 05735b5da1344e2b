package cache

import (
	"bufio"
	"context"
	"time"

	"github.com/gozmp/zmp/core"
)

// Replication: the update stream, heartbeats and snapshots of a server
// (docs/cache.md, "Replication protocol"; the encoding is repl_wire.go).

// publishLocked publishes u as the write numbered s.seq (a heartbeat:
// after write s.seq). The caller holds mu, which keeps the updates in
// seq order. Publish copies the message and never blocks; a failure is
// counted, and replicas see the gap in seq and resync.
func (s *Server) publishLocked(u update) {
	u.epoch, u.seq = s.epoch, s.seq
	if s.published != nil && u.kind != kindHeartbeat {
		s.published(s.seq)
	}
	s.buf = appendUpdate(s.buf[:0], u)
	if err := s.p.Publish(s.topic, s.buf); err != nil {
		s.st.publishErrors.Add(1)
	}
	if cap(s.buf) > 64<<10 {
		s.buf = nil // do not keep a large value's buffer
	}
}

// heartbeatLocked publishes a heartbeat. The caller holds mu.
func (s *Server) heartbeatLocked() {
	s.publishLocked(update{kind: kindHeartbeat, interval: s.cfg.heartbeat})
}

// onRemove is the cache's eviction callback. It runs on the goroutine
// that caused the removal, which may hold mu (a set that evicts), so it
// only queues the removal; deletes by the server itself are published
// by serveDel.
func (s *Server) onRemove(key string, _ srvEntry, why Reason) {
	if why == Deleted {
		return
	}
	s.gmu.Lock()
	s.gone = append(s.gone, goneKey{key: key, why: why})
	s.gmu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// flushGoneLocked publishes the queued removals as writes. A removal
// whose key the cache holds again was followed by a set of the key,
// already published: it is skipped, as the set superseded it. The
// caller holds mu.
func (s *Server) flushGoneLocked() {
	s.gmu.Lock()
	gone := s.gone
	s.gone = nil
	s.gmu.Unlock()
	for _, g := range gone {
		if _, ok := s.c.Peek(g.key); ok {
			s.st.supersededRemovals.Add(1)
			continue
		}
		s.seq++
		s.publishLocked(update{kind: kindDelete, key: g.key, reason: g.why})
	}
}

// publishLoop publishes the removals the cache makes by itself
// (expiries) soon after they happen.
func (s *Server) publishLoop() {
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
			s.mu.Lock()
			s.flushGoneLocked()
			s.mu.Unlock()
		}
	}
}

// heartbeatLoop publishes a heartbeat every interval.
func (s *Server) heartbeatLoop() {
	t := time.NewTicker(s.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.mu.Lock()
			s.flushGoneLocked()
			s.heartbeatLocked()
			s.mu.Unlock()
		}
	}
}

// snapshotLocked copies the state after write s.seq: the header and
// every live entry. Values are shared, not copied: the server never
// modifies a stored value. The caller holds mu.
func (s *Server) snapshotLocked() (snapHeader, []snapRecord) {
	s.flushGoneLocked()
	items := s.c.liveItems()
	recs := make([]snapRecord, len(items))
	for i, it := range items {
		recs[i] = snapRecord{key: it.key, version: it.Value.ver, ttl: roundTTL(untilExpiry(it.Expires)), value: it.Value.val}
	}
	return snapHeader{epoch: s.epoch, seq: s.seq, count: uint64(len(recs))}, recs
}

// serveSnapshot streams a snapshot to a downloader. The state is copied
// under mu and written after mu is released, so a downloader that reads
// slowly, or not at all, delays no one but itself (core reaps it after
// the stream's idle timeout).
func (s *Server) serveSnapshot(ctx context.Context, req *core.StreamRequest) ([]byte, error) {
	s.mu.Lock()
	h, recs := s.snapshotLocked()
	s.mu.Unlock()
	s.st.snapshots.Add(1)
	w := bufio.NewWriterSize(req.Reply, 64<<10)
	buf := appendSnapHeader(make([]byte, 0, 256), h)
	for i := 0; ; i++ {
		if _, err := w.Write(buf); err != nil {
			return nil, err
		}
		if i == len(recs) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		buf = appendSnapRecord(buf[:0], recs[i])
		recs[i] = snapRecord{} // let the value go once written
	}
	return nil, w.Flush()
}
