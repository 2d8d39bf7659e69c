// Package cache keeps a source's current token through its life: it serves
// it without a lock, renews it in the background ahead of its expiry when
// callers come, serves it through failed renewals, answers with the last
// failure during the cool-down after a failed fetch, and drops a token
// that an API rejected.
//
// A token that lived L when it was obtained is served until
// min(ExpiryDelta, L/4) before its expiry (its margin). The first call in
// the last min(L/2, 5m) of its life (its window; never less than the margin)
// starts a renewal in the background and is served the current token, as
// are the calls after it; only past the margin does a call wait for the
// renewal or see its failure. A source that shares through a store opens
// its window later, at a point it draws for each token (see spread), so
// that the replicas of a fleet do not all renew at once. A source nobody
// calls sends nothing and runs no goroutine.
//
// The walk of one call: [Source.TokenContext] reads the current state with
// one atomic load and a clock read (hit.go); on a miss it waits for a fetch,
// starting one if none runs (fetch.go), which obtains a token from the
// provider or, with a store, from another process (shared.go).
package cache

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

const (
	// MaxWindow caps how long before its expiry a token is renewed.
	MaxWindow = 5 * time.Minute

	// MaxWait caps any cool-down and any pause, whatever a provider or
	// another process asks for.
	MaxWait = 24 * time.Hour
)

// Fetcher is the code above a Source, and the one way the cache calls up
// to it: it fetches tokens, and the source reports to it what it does. A
// source that shares through a store needs the [Sharer] methods too.
type Fetcher interface {
	// Fetch gets a new token: a whole retry cycle or, for a probe (the
	// first fetch after a cool-down), a single attempt. It reports the
	// fetch's own events through [Source.Report].
	Fetch(ctx context.Context, probe bool) (*oauth2.Token, error)
	// RetryAfter returns the wait a failure asked for, or 0.
	RetryAfter(err error) time.Duration
	// Report receives every Event, on the goroutine that caused it; it
	// must be quick.
	Report(Event)
}

// Options say how a Source behaves.
type Options struct {
	// ExpiryDelta is the longest margin before expiry at which a token is
	// still served. Required.
	ExpiryDelta time.Duration
	// CoolDown and MaxCoolDown bound the pause after a failed fetch,
	// which doubles while failures continue, and between tokens an API
	// rejects. Required.
	CoolDown, MaxCoolDown time.Duration
	// Traced keeps what events need to name the calls waiting for a
	// fetch (Event.Context and Joined); without it they get none. Optional.
	Traced bool
	// Shared, if set, shares tokens and failures with other processes.
	Shared *Shared
}

// Source is a cached, concurrency-safe oauth2.TokenSource.
type Source struct {
	state   atomic.Pointer[state]      // the token served and its schedule; nil when there is none
	holdOff atomic.Int64               // Unix ns before which no renewal starts: one runs, or a cool-down lasts
	trace   atomic.Pointer[fetchTrace] // the contexts of the running fetch's callers, kept only when Traced
	ctx     context.Context            // every fetch runs in it
	fetcher Fetcher
	opts    *Options

	mu      sync.Mutex    // guards the fields below, and changes to state and holdOff
	failed  *failure      // the last failed fetch and its cool-down; nil after a success
	busy    chan struct{} // open while a fetch runs; closed when it ends
	dropped *dropped      // the token last invalidated; nil if none was
}

// state is the token served and its schedule, replaced whole, never
// changed: a hit reads it without a lock.
type state struct {
	tok     oauth2.Token
	renewAt int64 // Unix ns: its window opens
	staleAt int64 // Unix ns: its margin begins; it is no longer served
}

// failure is the last failed fetch and the cool-down after it, kept apart
// so that a source that never failed does not pay for it.
type failure struct {
	err   error
	until time.Time     // when the cool-down ends
	base  time.Duration // the cool-down before jitter
}

// dropped is the token last invalidated, when, and the pause before
// another may be. Neither that token nor an older one is adopted from a
// store.
type dropped struct {
	state *state
	at    time.Time
	pause time.Duration
}

// rejected returns the state of the token last invalidated, or nil.
func (s *Source) rejected() *state {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped == nil {
		return nil
	}
	return s.dropped.state
}

// New returns a source that fetches with f, in ctx, starting from tok if it
// has an access token.
func New(ctx context.Context, f Fetcher, tok *oauth2.Token, opts *Options) *Source {
	s := &Source{ctx: ctx, fetcher: f, opts: opts}
	if tok != nil && tok.AccessToken != "" {
		// How long it lived is unknown: it is served until ExpiryDelta
		// before its expiry, as x/oauth2 would serve it, whatever is left
		// of it. A lifetime of at least 4*ExpiryDelta gives that margin.
		s.state.Store(s.newState(tok, max(time.Until(tok.Expiry), 4*opts.ExpiryDelta)))
	}
	return s
}

// newState schedules tok, which lived lifetime when it was obtained. The
// copy it keeps is the caller's no more.
func (s *Source) newState(tok *oauth2.Token, lifetime time.Duration) *state {
	st := &state{tok: *tok, renewAt: math.MaxInt64, staleAt: math.MaxInt64}
	if !tok.Expiry.IsZero() {
		margin := min(s.opts.ExpiryDelta, lifetime/4)
		window := max(min(lifetime/2, MaxWindow), margin)
		exp := int64(math.MaxInt64) // Unix ns end in 2262: a later expiry would wrap around
		if tok.Expiry.Before(time.Unix(0, math.MaxInt64)) {
			exp = tok.Expiry.UnixNano()
		}
		st.staleAt, st.renewAt = exp-int64(margin), exp-int64(window)
		if s.opts.Shared != nil {
			st.renewAt = exp - int64(margin) - int64(float64(window-margin)*spread())
		}
	}
	return st
}

// spread returns, for a source that shares through a store, the share of
// its token's window (from the window's opening to the margin) still ahead
// when it renews: at least half, so that the renewal has time to end
// before the margin; mostly a little over half, now and then all of it.
// The sources of a fleet that share one token draw different shares: the
// one with the largest renews first, well ahead of the others, which adopt
// its token instead of waiting for its lock. This is how XFetch spreads
// recomputes (1-U^c is about c·Exp(1) for small values).
func spread() float64 {
	return 0.5 + 0.5*(1-math.Pow(rand.Float64(), 0.25))
}

// Token returns a copy of the current token, fetching one if there is
// none, as [Source.TokenContext] does without a deadline.
//
// Each call gets a copy of its own: x/oauth2's ReuseTokenSource, which
// oauth2.NewClient sets over any source, writes to each token it gets, and
// would otherwise write to one that other callers read.
func (s *Source) Token() (*oauth2.Token, error) {
	tok, err := s.TokenContext(context.Background())
	if err != nil {
		return nil, err
	}
	return new(*tok), nil
}

// TokenContext returns the current token, waiting for a fetch no longer
// than ctx allows; the fetch goes on for the other callers. The token is
// s's own: the caller must not write to it, nor hand it to code that might.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	if tok, ok := s.hit(); ok {
		return tok, nil
	}
	return s.wait(ctx)
}

// Invalidate drops tok if it is still the current token, so that the next
// call fetches another, and reports whether it did.
//
// A token is dropped at once, unless another was dropped less than a pause
// ago: CoolDown after the first, doubling up to MaxCoolDown while tokens
// keep being rejected, and back to CoolDown only after MaxCoolDown
// without a drop. Within the pause, tok stays.
func (s *Source) Invalidate(tok *oauth2.Token) bool {
	if !s.dropIfCurrent(tok) {
		return false
	}
	s.Report(Event{Kind: Invalidated})
	return true
}

// dropIfCurrent drops tok as Invalidate describes, and reports whether it
// did.
func (s *Source) dropIfCurrent(tok *oauth2.Token) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.state.Load()
	if tok == nil || cur == nil || cur.tok.AccessToken != tok.AccessToken {
		return false
	}
	now, pause := time.Now(), s.opts.CoolDown
	if d := s.dropped; d != nil {
		if now.Before(d.at.Add(d.pause)) {
			return false
		}
		if now.Before(d.at.Add(d.pause + s.opts.MaxCoolDown)) {
			pause = min(2*d.pause, s.opts.MaxCoolDown)
		}
	}
	s.dropped = &dropped{state: cur, at: now, pause: pause}
	s.state.Store(nil)
	return true
}
