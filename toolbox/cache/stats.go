package cache

// counters are a cache's counts, kept under its lock.
type counters struct {
	hits, misses, sets              uint64
	evictions, expirations, deletes uint64
}

// Stats is a snapshot of a cache's counters and size.
type Stats struct {
	Policy      string  `json:"policy"`
	Entries     int     `json:"entries"`
	Bytes       int64   `json:"bytes"`
	MaxEntries  int     `json:"max_entries"`
	MaxBytes    int64   `json:"max_bytes"`
	Hits        uint64  `json:"hits"`
	Misses      uint64  `json:"misses"`
	HitRate     float64 `json:"hit_rate"` // hits / (hits + misses); 0 before any lookup
	Sets        uint64  `json:"sets"`
	Evictions   uint64  `json:"evictions"`   // for room
	Expirations uint64  `json:"expirations"` // TTL passed
	Deletes     uint64  `json:"deletes"`     // deleted or invalidated
}

// Stats returns the cache's counters.
func (c *Cache[V]) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		Policy: c.cfg.policy.String(), Entries: len(c.entries), Bytes: c.bytes,
		MaxEntries: c.maxEntries, MaxBytes: c.maxBytes,
		Hits: c.st.hits, Misses: c.st.misses, Sets: c.st.sets,
		Evictions: c.st.evictions, Expirations: c.st.expirations, Deletes: c.st.deletes,
	}
	if n := s.Hits + s.Misses; n > 0 {
		s.HitRate = float64(s.Hits) / float64(n)
	}
	return s
}
