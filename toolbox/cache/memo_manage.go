package cache

// Invalidate drops the replies of keys, and keeps the fills of them
// now running from storing theirs.
func (m *Memo) Invalidate(keys ...string) {
	m.invalidations.Add(1)
	m.group.invalidate(keys, nil, false)
	for _, k := range keys {
		m.cache.Delete(k)
	}
}

// InvalidatePrefix drops the replies whose keys begin with prefix (see
// ServicePrefix), and keeps the fills of such keys from storing theirs.
func (m *Memo) InvalidatePrefix(prefix string) {
	m.invalidations.Add(1)
	m.group.invalidate(nil, []string{prefix}, false)
	m.cache.DeletePrefix(prefix)
}

// InvalidateAll drops every reply, and keeps every fill now running
// from storing its reply.
func (m *Memo) InvalidateAll() {
	m.invalidations.Add(1)
	m.group.invalidate(nil, nil, true)
	m.cache.Purge()
}

// Resize changes the memo's bounds at run time (0 keeps a bound), as a
// feedback loop may.
func (m *Memo) Resize(maxEntries int, maxBytes int64) error {
	return m.cache.Resize(maxEntries, maxBytes)
}

// MemoStats are a memo's counters.
type MemoStats struct {
	Stats
	// Hits and Misses count the memo's lookups (the embedded cache
	// stats count the cache's own, which include refresh lookups).
	MemoHits   uint64 `json:"memo_hits"`
	MemoMisses uint64 `json:"memo_misses"`
	// Collapsed counts callers that waited for a fill another caller
	// had started; Fills counts the service's runs for the memo.
	Collapsed uint64 `json:"collapsed"`
	Fills     uint64 `json:"fills"`
	// FillErrors counts fills that ended in an error not cached.
	FillErrors uint64 `json:"fill_errors"`
	// Discarded counts fills whose reply was not kept: invalidated, or
	// abandoned by every caller, while running.
	Discarded     uint64 `json:"discarded"`
	Bypassed      uint64 `json:"bypassed"` // no-store, or the key function said no
	Refreshes     uint64 `json:"refreshes"`
	Invalidations uint64 `json:"invalidations"`
}

// Stats returns the memo's counters.
func (m *Memo) Stats() MemoStats {
	s := MemoStats{Stats: m.cache.Stats(),
		MemoHits: m.hits.Load(), MemoMisses: m.misses.Load(),
		Collapsed: m.group.collapsed.Load(), Fills: m.group.fills.Load(), FillErrors: m.fillErrors.Load(),
		Discarded: m.group.discarded.Load(), Bypassed: m.bypassed.Load(), Refreshes: m.refreshes.Load(),
		Invalidations: m.invalidations.Load(),
	}
	if n := s.MemoHits + s.MemoMisses; n > 0 {
		s.HitRate = float64(s.MemoHits) / float64(n)
	}
	return s
}
