package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrStatsTaken is returned by AddStats for a name another source holds.
var ErrStatsTaken = errors.New("core: stats name taken")

// statSources are the extra statistics a peer reports (AddStats).
type statSources struct {
	mu  sync.Mutex
	byN map[string]*statSource
}

type statSource struct{ f func() any }

// AddStats adds a source of statistics to the peer's zmp.stats, under
// Stats.Extra[name]: a toolbox package (a cache, a limiter, a
// replicated store) reports its counters there, and zmptool info shows
// them. f is called on each Stats call, from any goroutine and without
// the peer's locks held; it must be quick and return something
// encoding/json can marshal. A source that panics or whose value does
// not marshal is reported as {"error": "..."}.
//
// remove takes the source away again; calling it more than once is
// harmless. A name must be a valid name (ErrBadName) that no other
// source holds (ErrStatsTaken).
func (p *Peer) AddStats(name string, f func() any) (remove func(), err error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("core: AddStats %q: nil function", name)
	}
	s := &statSource{f: f}
	p.extra.mu.Lock()
	defer p.extra.mu.Unlock()
	if _, ok := p.extra.byN[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrStatsTaken, name)
	}
	if p.extra.byN == nil {
		p.extra.byN = map[string]*statSource{}
	}
	p.extra.byN[name] = s
	return func() {
		p.extra.mu.Lock()
		defer p.extra.mu.Unlock()
		if p.extra.byN[name] == s {
			delete(p.extra.byN, name)
		}
	}, nil
}

// snapshot calls every source, outside the lock, in name order.
func (s *statSources) snapshot() map[string]json.RawMessage {
	s.mu.Lock()
	names := make([]string, 0, len(s.byN))
	srcs := make(map[string]*statSource, len(s.byN))
	for n, src := range s.byN {
		names = append(names, n)
		srcs[n] = src
	}
	s.mu.Unlock()
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	out := make(map[string]json.RawMessage, len(names))
	for _, n := range names {
		out[n] = srcs[n].json()
	}
	return out
}

// json marshals the source's value; a panic or an error becomes
// {"error": "..."} so that one bad source does not cost the others.
func (s *statSource) json() (b []byte) {
	defer func() {
		if r := recover(); r != nil {
			b, _ = json.Marshal(map[string]string{"error": fmt.Sprintf("panic: %v", r)})
		}
	}()
	b, err := json.Marshal(s.f())
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": err.Error()})
	}
	return b
}
