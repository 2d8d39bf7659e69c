package cache

// Fetching reports whether a fetch runs: a caller's, or a renewal in the
// background.
func (s *Source) Fetching() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy != nil
}

// Fetcher returns the Fetcher s was made with.
func (s *Source) Fetcher() Fetcher { return s.fetcher }
