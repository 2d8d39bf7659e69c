package cache

import (
	"time"

	"golang.org/x/oauth2"
)

// adoptable returns the outcome in e if this source should take it instead
// of fetching: a usable token newer than both the source's own and the one
// it last invalidated, or a failure whose cool-down still lasts.
//
// Times in e come from the writer's clock, which may be off, so they are
// capped: a token is served at most as long as it had left when stored,
// counted from now; a cool-down lasts at most as long as the writer's, and
// at most the larger of MaxCoolDown and the failure's Retry-After. A
// failure is adopted only once: with a writer's clock ahead of ours, it
// would look new every time.
func (s *Source) adoptable(e *entry) (outcome, bool) {
	if e == nil {
		return outcome{}, false
	}
	now, stamp := time.Now(), time.Unix(0, e.Stamp)
	switch {
	case e.Failure != nil:
		if s.adoptedBefore(e.Stamp) {
			break
		}
		err := s.fetcher.(Sharer).DecodeErr(e.Failure.Err)
		longest := min(e.Failure.Until.Sub(stamp), max(s.opts.MaxCoolDown, s.fetcher.RetryAfter(err)), MaxWait)
		until := minTime(e.Failure.Until, now.Add(longest))
		if !now.Before(until) {
			break
		}
		s.Report(Event{Kind: Adopted, Err: err, Wait: until.Sub(now)})
		return outcome{err: &adopted{err: err, stamp: e.Stamp}, until: until, base: e.Failure.Base}, true
	case e.Token != nil:
		t := e.Token
		lifetime := min(t.Lifetime, MaxWait) // a day at most, as for a fetched token
		expiry := t.Expiry
		if !expiry.IsZero() {
			expiry = minTime(expiry, now.Add(min(t.Expiry.Sub(stamp), lifetime)))
		}
		margin := min(s.opts.ExpiryDelta, lifetime/4)
		if !now.Before(expiry.Add(-margin)) || !newer(t, s.state.Load()) || !newer(t, s.rejected()) {
			break
		}
		tok := (&oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: expiry, ExpiresIn: t.ExpiresIn}).
			WithExtra(map[string]any{"scope": t.Scope})
		tok = s.fetcher.(Sharer).Adopt(tok)
		s.Report(Event{Kind: Adopted, Expiry: expiry})
		return outcome{tok: tok, lifetime: lifetime}, true
	}
	return outcome{}, false
}

// adopted is a failure this source adopted from another process.
type adopted struct {
	err   error
	stamp int64 // the entry's Stamp, which distinguishes this failure from a later one
}

func (e *adopted) Error() string { return e.err.Error() }

func (e *adopted) Unwrap() error { return e.err }

// Is matches ErrCoolingDown: the source sent nothing for it.
func (e *adopted) Is(target error) bool { return target == ErrCoolingDown }

// adoptedBefore reports whether the failure stored with stamp is the one
// the source's current or last cool-down came from: a failure is adopted
// only once.
func (s *Source) adoptedBefore(stamp int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		return false
	}
	a, ok := s.failed.err.(*adopted)
	return ok && a.stamp == stamp
}

// minTime returns the earlier of a and b.
func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// newer reports whether t is another token than ref's, and expires later.
func newer(t *sharedToken, ref *state) bool {
	return ref == nil || (t.AccessToken != ref.tok.AccessToken && t.Expiry.After(ref.tok.Expiry))
}
