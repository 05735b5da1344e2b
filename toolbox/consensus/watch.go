package consensus

import (
	"context"
	"strings"
	"sync"
)

// history keeps the most recent events, for watches that start from a
// past revision. It is bounded by count: older events are compacted.
type history struct {
	ring  []Event
	start int    // index of the oldest event in ring
	n     int    // events held
	since uint64 // the history is complete after this revision
}

func newHistory(n int) history { return history{ring: make([]Event, max(n, 1))} }

func (h *history) add(evs []Event) {
	for _, e := range evs {
		if h.n == len(h.ring) {
			h.since = h.ring[h.start].Rev // dropping it: complete only after its revision
			// events of one revision may straddle: be conservative
			h.start = (h.start + 1) % len(h.ring)
			h.n--
		}
		h.ring[(h.start+h.n)%len(h.ring)] = e
		h.n++
	}
}

// from returns the events after rev under prefix, at most limit.
func (h *history) from(rev uint64, prefix string, limit int) ([]Event, error) {
	if rev < h.since {
		return nil, ErrCompacted
	}
	var out []Event
	for i := 0; i < h.n && len(out) < limit; i++ {
		e := h.ring[(h.start+i)%len(h.ring)]
		if e.Rev > rev && strings.HasPrefix(e.Entry.Key, prefix) {
			out = append(out, e)
		}
	}
	return out, nil
}

// eventsAfter returns up to limit events after rev under prefix, and
// the revision the caller has seen everything up to: the last event's,
// or the store's when fewer than limit came.
func (s *state) eventsAfter(rev uint64, prefix string, limit int) ([]Event, uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	evs, err := s.hist.from(rev, prefix, limit)
	if err != nil {
		return nil, rev, err
	}
	if len(evs) == limit {
		return evs, evs[len(evs)-1].Rev, nil
	}
	return evs, max(rev, s.rev), nil
}

// watchSet wakes those waiting for the revision to move.
type watchSet struct {
	mu   sync.Mutex
	rev  uint64
	wake chan struct{}
}

func (w *watchSet) notify(rev uint64) {
	w.mu.Lock()
	w.rev = max(w.rev, rev)
	if w.wake != nil {
		close(w.wake)
		w.wake = nil
	}
	w.mu.Unlock()
}

// wait returns once the revision is past rev, or ctx ends.
func (w *watchSet) wait(ctx context.Context, rev uint64) error {
	for {
		w.mu.Lock()
		if w.rev > rev {
			w.mu.Unlock()
			return nil
		}
		if w.wake == nil {
			w.wake = make(chan struct{})
		}
		ch := w.wake
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
