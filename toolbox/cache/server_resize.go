package cache

// Resize changes the server's bounds at run time, as a feedback loop
// may: 0 leaves a bound as it is. Shrinking evicts at once, as the
// policy chooses, and the evictions are published to replicas as
// deletes before Resize returns.
func (s *Server) Resize(maxEntries int, maxBytes int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.c.Resize(maxEntries, maxBytes); err != nil {
		return err
	}
	s.flushGoneLocked()
	return nil
}
