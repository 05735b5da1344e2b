package feedback

import (
	"slices"
	"strings"

	"github.com/gozmp/zmp/core"
)

// ServerLimiterStats is a snapshot of a ServerLimiter's counters.
type ServerLimiterStats struct {
	Limit    int    `json:"limit"`     // the limiter's Limit() now
	InFlight int    `json:"in_flight"` // admitted requests not yet answered
	Admitted uint64 `json:"admitted"`  // requests let through, all partitions
	Shed     uint64 `json:"shed"`      // requests answered CodeOverloaded, all partitions
	// Dropped counts admitted requests given to OnSample as dropped:
	// their handler answered overloaded or ran out of time.
	Dropped uint64 `json:"dropped"`
	// Panics counts admitted requests whose handler panicked; their
	// slot was freed and they were not samples.
	Panics     uint64           `json:"panics"`
	Partitions []PartitionStats `json:"partitions"` // in priority order
}

// PartitionStats is one partition's part of ServerLimiterStats.
type PartitionStats struct {
	Name       string  `json:"name"`
	Share      float64 `json:"share"`
	Guaranteed int     `json:"guaranteed"` // slots of the current limit kept for it
	InFlight   int     `json:"in_flight"`
	Admitted   uint64  `json:"admitted"`
	Shed       uint64  `json:"shed"`
}

// Stats returns a snapshot of the limiter's counters.
func (s *ServerLimiter) Stats() ServerLimiterStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ServerLimiterStats{
		Limit: s.lim.Limit(), InFlight: s.inflight, Dropped: s.dropped, Panics: s.panics,
		Partitions: make([]PartitionStats, len(s.parts)),
	}
	for i, p := range s.parts {
		st.Admitted += p.admitted
		st.Shed += p.shed
		st.Partitions[i] = PartitionStats{
			Name: p.Name, Share: p.Share, Guaranteed: p.guaranteed(st.Limit),
			InFlight: p.inflight, Admitted: p.admitted, Shed: p.shed,
		}
	}
	return st
}

// AddStatsTo reports the limiter's Stats in p's zmp.stats, under
// Stats.Extra[name] (core.Peer.AddStats, whose errors it returns);
// zmptool info shows them. Call remove to take them away again.
func (s *ServerLimiter) AddStatsTo(p *core.Peer, name string) (remove func(), err error) {
	return p.AddStats(name, func() any { return s.Stats() })
}

// CallLimitStats is a snapshot of one of a CallLimiter's limits.
type CallLimitStats struct {
	// Service is the service limited, "" for the limit shared by all
	// (WithOneLimit) or by the services beyond WithMaxServices.
	Service  string `json:"service"`
	Limit    int    `json:"limit"`
	InFlight int    `json:"in_flight"`
	Waiting  int    `json:"waiting"`  // calls waiting for a slot (WithWait)
	Admitted uint64 `json:"admitted"` // calls sent
	Limited  uint64 `json:"limited"`  // calls failed with ErrLimited
	Dropped  uint64 `json:"dropped"`  // sent calls the provider shed or that timed out
}

// Stats returns a snapshot of each limit, sorted by service.
func (c *CallLimiter) Stats() []CallLimitStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := make([]CallLimitStats, 0, len(c.gates)+1)
	for name, g := range c.gates {
		st = append(st, g.statsLocked(name))
	}
	if c.overflow != nil {
		st = append(st, c.overflow.statsLocked(""))
	}
	slices.SortFunc(st, func(a, b CallLimitStats) int { return strings.Compare(a.Service, b.Service) })
	return st
}

func (g *callGate) statsLocked(service string) CallLimitStats {
	return CallLimitStats{
		Service: service, Limit: g.lim.Limit(), InFlight: g.inflight, Waiting: len(g.waiters),
		Admitted: g.admitted, Limited: g.limited, Dropped: g.dropped,
	}
}

// AddStatsTo reports the limiter's Stats in p's zmp.stats, under
// Stats.Extra[name] (core.Peer.AddStats, whose errors it returns).
// Call remove to take them away again.
func (c *CallLimiter) AddStatsTo(p *core.Peer, name string) (remove func(), err error) {
	return p.AddStats(name, func() any { return c.Stats() })
}
