package cache

import (
	"time"
)

// onMessage takes one message of the update topic.
func (r *Replica) onMessage(l *syncLoop, data []byte) {
	u, err := decodeUpdate(data)
	if err == nil && u.kind == kindSet && len(u.value) > r.cfg.maxValue {
		err = errOversized
	}
	r.mu.Lock()
	r.st.LastHeard = time.Now()
	wasStale := r.st.State == ReplicaStale
	r.mu.Unlock()
	if err != nil {
		// The update lost may have been a write. A live copy starts
		// again; a download in progress goes on, as the seq of what
		// follows tells whether a write is missing.
		r.countMalformed()
		if l.live {
			r.resync(l)
		}
		return
	}
	if h := r.cfg.hooks.drop; h != nil && h(u) {
		return
	}
	if u.kind == kindHeartbeat {
		l.interval = u.interval
	}
	switch {
	case !l.live && wasStale:
		r.mu.Lock()
		r.setState(ReplicaSyncing) // heard again: the resynchronisation goes on
		r.mu.Unlock()
		if l.dl != nil && !l.dl.stale {
			r.buffer(l, u, len(data))
		}
	case l.live && wasStale:
		r.resync(l) // the server is back: whatever it did meanwhile is fetched
	case l.live:
		r.applyLive(l, u)
	case l.dl != nil && !l.dl.stale:
		r.buffer(l, u, len(data))
	}
	// Otherwise a synchronisation waits for its backoff: its snapshot
	// will hold what this update did.
}

// buffer holds an update that came while a snapshot downloads.
func (r *Replica) buffer(l *syncLoop, u update, size int) {
	if len(l.buf) >= r.cfg.bufCount || l.bufBytes+int64(size) > r.cfg.bufBytes {
		r.mu.Lock()
		r.st.BufferOverflows++
		r.mu.Unlock()
		r.resync(l)
		return
	}
	l.buf = append(l.buf, u)
	l.bufBytes += int64(size)
}

// applyLive applies an update to the live copy when it is the next in
// sequence, and resynchronises when it is not.
func (r *Replica) applyLive(l *syncLoop, u update) {
	switch {
	case u.epoch != l.epoch:
		r.countEpoch()
	case u.kind == kindHeartbeat && u.seq == l.seq:
		return
	case u.seq <= l.snapSeq:
		// Published before the snapshot was taken, and in it: pub/sub
		// may deliver it after the snapshot's stream has ended.
		return
	case u.kind == kindHeartbeat && u.seq > l.seq, u.seq > l.seq+1:
		r.countGap()
	case u.seq <= l.seq:
		r.countMalformed() // a seq going back, within one epoch
	default:
		if h := r.cfg.hooks.beforeApply; h != nil {
			h(u)
		}
		st := r.store.Load()
		stored := r.applyTo(st, u)
		l.seq = u.seq
		r.mu.Lock()
		r.st.Seq = u.seq
		r.st.Applied++
		r.mu.Unlock()
		if stored {
			r.notify(u.key, false)
		}
		return
	}
	r.resync(l)
}

// applyTo applies a set or a delete to st, reporting whether a value
// was stored.
func (r *Replica) applyTo(st *replicaStore, u update) bool {
	if u.kind == kindDelete {
		st.c.Delete(u.key) // reported by the store's eviction callback
		return false
	}
	return r.storeSet(st, u.key, u.value, u.seq, u.ttl)
}

// storeSet stores an entry, its TTL counted from now. A value the
// store cannot hold is counted, and its key left out rather than
// left at an older value.
func (r *Replica) storeSet(st *replicaStore, key string, value []byte, version uint64, ttl time.Duration) bool {
	if ttl <= 0 {
		ttl = NoExpiry
	}
	if err := st.c.Set(key, replicaValue{value: value, version: version}, ttl); err != nil {
		r.mu.Lock()
		r.st.Refused++
		r.mu.Unlock()
		st.c.Delete(key)
		return false
	}
	return true
}
