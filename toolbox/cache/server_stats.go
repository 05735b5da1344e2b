package cache

// ServerStats are a cache server's counters, as Server.Stats, the N.stats
// service and the peer's zmp.stats ("cache.server.<name>") give them.
type ServerStats struct {
	Name       string `json:"name"`
	Epoch      uint64 `json:"epoch,string"` // a string: JSON numbers lose precision past 2^53
	Seq        uint64 `json:"seq"`          // the last write's number in this epoch
	Policy     string `json:"policy"`
	Entries    int    `json:"entries"`
	Bytes      int64  `json:"bytes"`
	MaxEntries int    `json:"max_entries"`
	MaxBytes   int64  `json:"max_bytes"`

	Gets         uint64 `json:"gets"`
	Hits         uint64 `json:"hits"`
	Misses       uint64 `json:"misses"`
	Sets         uint64 `json:"sets"`    // by N.set
	Deletes      uint64 `json:"deletes"` // by N.del, of keys that were there
	CASOK        uint64 `json:"cas_ok"`
	CASConflicts uint64 `json:"cas_conflicts"`
	Evictions    uint64 `json:"evictions"`   // for room
	Expirations  uint64 `json:"expirations"` // TTL passed
	Snapshots    uint64 `json:"snapshots"`   // downloads begun

	// BadRequests counts requests that did not decode (answered
	// CodeBadRequest), TooLarge values refused (CodeValueTooLarge).
	BadRequests uint64 `json:"bad_requests"`
	TooLarge    uint64 `json:"too_large"`
	// PublishErrors counts updates the peer refused to publish;
	// PublishDropped the updates it dropped for subscribers that did
	// not keep up (the peer's counter of the update topic; Server.Stats
	// only, zmp.stats has it under topics).
	PublishErrors  uint64 `json:"publish_errors"`
	PublishDropped uint64 `json:"publish_dropped,omitempty"`
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats { return s.stats(true) }

// stats returns the counters; withPeer adds the peer's count of dropped
// updates (not from within the peer's own Stats, which calls stats).
func (s *Server) stats(withPeer bool) ServerStats {
	cs := s.c.Stats()
	s.mu.Lock()
	seq := s.seq
	s.mu.Unlock()
	st := ServerStats{
		Name: s.name, Epoch: s.epoch, Seq: seq, Policy: cs.Policy,
		Entries: cs.Entries, Bytes: cs.Bytes, MaxEntries: cs.MaxEntries, MaxBytes: cs.MaxBytes,
		Gets: s.st.gets.Load(), Hits: s.st.hits.Load(), Misses: s.st.misses.Load(),
		Sets: s.st.sets.Load(), Deletes: s.st.deletes.Load(),
		CASOK: s.st.casOK.Load(), CASConflicts: s.st.casConflicts.Load(),
		Evictions: cs.Evictions, Expirations: cs.Expirations, Snapshots: s.st.snapshots.Load(),
		BadRequests: s.st.badRequests.Load(), TooLarge: s.st.tooLarge.Load(),
		PublishErrors: s.st.publishErrors.Load(),
	}
	if withPeer {
		st.PublishDropped = s.p.Stats().Topics[s.topic].Dropped
	}
	return st
}
