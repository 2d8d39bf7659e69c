package cache

import (
	"context"
	"time"

	"golang.org/x/oauth2"
)

// hit returns the current token if it may still be served, without a lock:
// one atomic load and a clock read. Within the token's renewal window it
// also loads holdOff, and takes s.mu once to start a background renewal.
func (s *Source) hit() (*oauth2.Token, bool) {
	st := s.state.Load()
	if st == nil {
		return nil, false
	}
	now := time.Now().UnixNano()
	if now < st.renewAt {
		return &st.tok, true
	}
	if now >= st.staleAt {
		return nil, false
	}
	if now >= s.holdOff.Load() {
		s.renewAhead(st)
	}
	return &st.tok, true
}

// renewAhead starts a renewal of st's token in the background, unless one
// runs, a cool-down lasts, or st is no longer current.
func (s *Source) renewAhead(st *state) {
	s.mu.Lock()
	if s.busy != nil || time.Now().UnixNano() < s.holdOff.Load() || s.state.Load() != st {
		s.mu.Unlock()
		return
	}
	probe := s.startFetch(context.Background()) // a renewal starts a trace of its own
	s.mu.Unlock()
	s.Report(Event{Kind: RenewalStarted, Expiry: st.tok.Expiry})
	go s.runFetch(probe, nil)
}
