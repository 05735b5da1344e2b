package consensus

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// Entry is a key's value in the store.
type Entry struct {
	Key   string
	Value []byte // shared: never modify it
	// CreateRev is the revision that created the key, ModRev the one
	// that last changed it; Version counts its changes since creation.
	CreateRev, ModRev, Version uint64
	Lease                      uint64 // the lease it lives by; 0 for none
}

// EventType says what an event did to its key.
type EventType int

// Event types.
const (
	EventPut EventType = iota + 1
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return "event?"
}

// Event is one change of a key, as watches report it. Rev is the
// change's revision: the raft log index of the command that made it.
type Event struct {
	Type  EventType
	Rev   uint64
	Entry Entry // the key's new state; for a delete, its last one
}

// lease is a lease as the state machine holds it: its deadline is in
// consensus time (the proposers' clocks, as commands carry them).
type lease struct {
	id       uint64
	ttl      time.Duration
	deadline int64 // unix ns
	keys     map[string]struct{}
}

// result is what applying a command returns to its proposer.
type result struct {
	rev  uint64 // the revision after the command
	prev *Entry // put, cas, delete: the key's state before, if it had one
	ok   bool   // cas: it matched; delete: the key was there; keepalive/revoke: the lease was there
	err  error  // a command that could not apply (a lease that does not exist)
}

// state is the replicated store: the keys, the leases, the revision
// and consensus time, and a bounded history of recent events for
// watches. Every change goes through apply, in log order.
type state struct {
	mu      sync.RWMutex
	keys    map[string]*Entry
	leases  map[uint64]*lease
	rev     uint64 // the last revision: the index of the last command applied
	clock   int64  // consensus time: the largest now applied
	hist    history
	watches watchSet
}

func newState(histLen int) *state {
	return &state{keys: map[string]*Entry{}, leases: map[uint64]*lease{}, hist: newHistory(histLen)}
}

// apply applies c as the command at log index idx.
func (s *state) apply(idx uint64, c command) result {
	s.mu.Lock()
	if idx <= s.rev {
		// Already applied (raft replays from the last snapshot).
		s.mu.Unlock()
		return result{rev: s.rev}
	}
	s.rev = idx
	s.clock = max(s.clock, c.now)
	var evs []Event
	res := result{rev: idx}
	switch c.op {
	case opPut:
		res, evs = s.put(idx, c.key, c.value, c.lease)
	case opCAS:
		cur := s.keys[c.key]
		if (cur == nil && c.modRev == 0) || (cur != nil && cur.ModRev == c.modRev) {
			res, evs = s.put(idx, c.key, c.value, c.lease)
			res.ok = res.err == nil
		} else if cur != nil {
			p := *cur
			res.prev = &p
		}
	case opDelete:
		if e := s.keys[c.key]; e != nil {
			res.prev, res.ok = e, true
			evs = append(evs, s.del(idx, e))
		}
	case opGrant:
		if s.leases[c.lease] != nil {
			res.err = ErrLeaseExists
			break
		}
		s.leases[c.lease] = &lease{id: c.lease, ttl: c.ttl, deadline: c.now + int64(c.ttl), keys: map[string]struct{}{}}
		res.ok = true
	case opKeepAlive:
		if l := s.leases[c.lease]; l != nil {
			l.deadline = c.now + int64(l.ttl)
			res.ok = true
		} else {
			res.err = ErrLeaseNotFound
		}
	case opRevoke:
		if l := s.leases[c.lease]; l != nil {
			evs = s.revoke(idx, l)
			res.ok = true
		} else {
			res.err = ErrLeaseNotFound
		}
	case opExpire:
		for _, l := range s.expiredLocked() {
			evs = append(evs, s.revoke(idx, l)...)
		}
	}
	s.hist.add(evs)
	s.mu.Unlock()
	s.watches.notify(idx)
	return res
}

// put sets a key; the caller holds the lock.
func (s *state) put(idx uint64, key string, value []byte, leaseID uint64) (result, []Event) {
	var l *lease
	if leaseID != 0 {
		if l = s.leases[leaseID]; l == nil {
			return result{rev: idx, err: ErrLeaseNotFound}, nil
		}
	}
	res := result{rev: idx, ok: true}
	e := &Entry{Key: key, Value: value, CreateRev: idx, ModRev: idx, Version: 1, Lease: leaseID}
	if old := s.keys[key]; old != nil {
		res.prev = old
		e.CreateRev, e.Version = old.CreateRev, old.Version+1
		if old.Lease != 0 && old.Lease != leaseID {
			if ol := s.leases[old.Lease]; ol != nil {
				delete(ol.keys, key)
			}
		}
	}
	if l != nil {
		l.keys[key] = struct{}{}
	}
	s.keys[key] = e
	return res, []Event{{Type: EventPut, Rev: idx, Entry: *e}}
}

// del removes a key; the caller holds the lock.
func (s *state) del(idx uint64, e *Entry) Event {
	delete(s.keys, e.Key)
	if e.Lease != 0 {
		if l := s.leases[e.Lease]; l != nil {
			delete(l.keys, e.Key)
		}
	}
	return Event{Type: EventDelete, Rev: idx, Entry: *e}
}

// revoke removes a lease and its keys; the caller holds the lock.
func (s *state) revoke(idx uint64, l *lease) []Event {
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same events in the same order everywhere
	var evs []Event
	for _, k := range keys {
		if e := s.keys[k]; e != nil {
			evs = append(evs, s.del(idx, e))
		}
	}
	delete(s.leases, l.id)
	return evs
}

// expiredLocked returns the leases past their deadline in consensus
// time, in id order.
func (s *state) expiredLocked() []*lease {
	var out []*lease
	for _, l := range s.leases {
		if l.deadline <= s.clock {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// get returns a key's entry.
func (s *state) get(key string) (Entry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.keys[key]
	if e == nil {
		return Entry{}, false
	}
	return *e, true
}

// list returns the entries under prefix in key order, at most limit (0:
// all), and the revision they are at.
func (s *state) list(prefix string, limit int) ([]Entry, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Entry
	for k, e := range s.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, *e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, s.rev
}

// revision returns the last revision applied.
func (s *state) revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// leaseInfo returns a lease's TTL and its deadline in consensus time.
func (s *state) leaseInfo(id uint64) (ttl time.Duration, deadline time.Time, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l := s.leases[id]
	if l == nil {
		return 0, time.Time{}, false
	}
	return l.ttl, time.Unix(0, l.deadline), true
}

// nextExpiry returns the earliest lease deadline, for the leader's
// expiry proposals.
func (s *state) nextExpiry() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var first int64
	for _, l := range s.leases {
		if first == 0 || l.deadline < first {
			first = l.deadline
		}
	}
	return time.Unix(0, first), first != 0
}
