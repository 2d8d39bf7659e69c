// Package cache keeps a source's current token through its life: it serves
// it from an oauth2.ReuseTokenSource, renews it in the background ahead of
// its expiry when callers come, serves it through failed renewals, shares a
// failed fetch with a cool-down, and drops a token that an API rejected.
//
// A token that lived L when it was obtained is served until
// min(ExpiryDelta, L/4) before its expiry (its margin). The first call in
// the last min(L/2, 5m) of its life (its window; never less than the margin)
// starts a renewal in the background and is served the current token, as
// are the calls after it; only past the margin does a call wait for the
// renewal or see its failure. A source nobody calls sends nothing and runs
// no goroutine.
package cache

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/wire"
)

const (
	// MaxWindow caps how long before its expiry a token is renewed.
	MaxWindow = 5 * time.Minute

	// MaxWait caps any cool-down, whatever a provider asks for.
	MaxWait = wire.MaxRetryAfter
)

// Fetch gets a new token. A probe, the first fetch after a cool-down, is a
// single attempt rather than a whole retry cycle.
type Fetch func(ctx context.Context, probe bool) (*oauth2.Token, error)

// Options say how a Source behaves; several sources may share one.
type Options struct {
	// ExpiryDelta is the longest margin before expiry at which a token is
	// still served. Required.
	ExpiryDelta time.Duration
	// MinCoolDown and MaxCoolDown bound the pause after a failed fetch,
	// which doubles while failures continue. Required.
	MinCoolDown, MaxCoolDown time.Duration
	// RetryAfter returns the wait a failure asked for, or 0. Required.
	RetryAfter func(error) time.Duration
	// Notify, if set, is told of each failed background renewal, which no
	// caller sees, and of the cool-down before the next fetch; and of
	// trouble with the store.
	Notify func(err error, wait time.Duration)
	// Shared, if set, shares tokens and failures with other processes.
	Shared *Shared
}

// Source is a cached, concurrency-safe oauth2.TokenSource.
//
// Its front, an oauth2.ReuseTokenSource, decides when to ask it; the token
// the front holds is a private copy with just the access token and expiry,
// because the front writes to what it holds. Token's callers get a copy of
// the current token each; TryToken's get the token itself, which nothing
// here writes to.
type Source struct {
	front    atomic.Pointer[reuse] // replaced when its token is invalidated
	tok      atomic.Pointer[oauth2.Token]
	rejected atomic.Pointer[oauth2.Token] // the token last invalidated: neither it nor an older one is adopted from the store
	ctx      context.Context
	fetch    Fetch
	opts     *Options

	mu       sync.Mutex    // guards the fields below, and changes to tok
	lifetime time.Duration // of tok when it was obtained
	failed   *failure      // since the last failed fetch; nil after a success
	busy     chan struct{} // while a fetch runs; closed when it ends
	dropped  *dropped      // when a token was last invalidated; nil if none was
}

// dropped is when a token was last invalidated, and the pause before
// another may be: an API that rejects every token must not cost a token
// request per API request.
type dropped struct {
	at    time.Time
	pause time.Duration
}

// failure is the last failed fetch and the cool-down after it, kept apart
// so that a source that never failed does not pay for it.
type failure struct {
	err   error
	until time.Time     // when the cool-down ends
	base  time.Duration // the cool-down before jitter
}

// reuse is the oauth2.ReuseTokenSource in front.
type reuse struct{ oauth2.TokenSource }

// New returns a source that fetches with fetch, in ctx, starting from tok if
// it has an access token.
func New(ctx context.Context, fetch Fetch, tok *oauth2.Token, opts *Options) *Source {
	s := &Source{ctx: ctx, fetch: fetch, opts: opts}
	if tok != nil && tok.AccessToken != "" {
		s.tok.Store(new(*tok)) // the caller's token stays the caller's
		// How long it lived is unknown: it is served until ExpiryDelta
		// before its expiry, as x/oauth2 would serve it.
		s.lifetime = max(time.Until(tok.Expiry), 4*opts.ExpiryDelta)
	}
	s.front.Store(s.newFront())
	return s
}

// newFront returns the ReuseTokenSource that serves tokens outside every
// window and asks s within it.
func (s *Source) newFront() *reuse {
	return &reuse{oauth2.ReuseTokenSourceWithExpiry(nil, &inner{s: s}, max(MaxWindow, s.opts.ExpiryDelta))}
}

// Token returns a copy of the current token, fetching one if there is
// none. The front has the say; it asks s only within the token's window.
//
// Each call gets a copy of its own because x/oauth2 writes to the tokens
// it is handed: a ReuseTokenSource set over s (as oauth2.NewClient sets
// one) would otherwise write to a token that other callers read.
func (s *Source) Token() (*oauth2.Token, error) {
	for {
		if _, err := s.front.Load().Token(); err != nil {
			return nil, err
		}
		if tok := s.tok.Load(); tok != nil { // nil only if invalidated meanwhile
			return new(*tok), nil
		}
	}
}

// TryToken returns the current token if it can without waiting, starting a
// renewal in its window as Token does. The token is s's own: the caller
// must not write to it, nor hand it to code that might.
func (s *Source) TryToken() (*oauth2.Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current(time.Now())
}

// Invalidate drops tok if it is still the current token, so that the next
// call fetches another, and reports whether it did.
//
// A token is dropped at once, unless another was dropped less than a pause
// ago: MinCoolDown after the first, doubling up to MaxCoolDown while the
// API rejects each new token within twice the pause. Within it, tok stays.
func (s *Source) Invalidate(tok *oauth2.Token) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.tok.Load()
	if tok == nil || cur == nil || cur.AccessToken != tok.AccessToken {
		return false
	}
	now, pause := time.Now(), s.opts.MinCoolDown
	if d := s.dropped; d != nil {
		if now.Before(d.at.Add(d.pause)) {
			return false
		}
		if now.Before(d.at.Add(2 * d.pause)) {
			pause = min(2*d.pause, s.opts.MaxCoolDown)
		}
	}
	s.dropped = &dropped{at: now, pause: pause}
	s.tok.Store(nil)
	s.rejected.Store(cur)
	s.front.Store(s.newFront()) // the old front would serve tok until its window
	return true
}

// inner is what a front asks for a token within its window. Each front has
// its own, called under the front's lock.
type inner struct {
	s    *Source
	held *oauth2.Token // what the front holds of the current token
}

func (in *inner) Token() (*oauth2.Token, error) {
	s := in.s
	s.mu.Lock()
	for {
		now := time.Now()
		if tok, ok := s.current(now); ok {
			s.mu.Unlock()
			return in.hold(tok), nil
		}
		if busy := s.busy; busy != nil {
			s.mu.Unlock()
			<-busy
			s.mu.Lock()
			continue
		}
		if f := s.failed; f != nil && now.Before(f.until) {
			s.mu.Unlock()
			return nil, &coolingDown{err: f.err, wait: f.until.Sub(now)}
		}
		probe := s.start()
		s.mu.Unlock()
		tok, err := s.run(probe, false)
		if err != nil {
			return nil, err
		}
		return in.hold(tok), nil
	}
}

// hold returns what the front is to hold of tok: all it reads, in a copy
// of its own, because it writes to what it holds.
func (in *inner) hold(tok *oauth2.Token) *oauth2.Token {
	if h := in.held; h == nil || h.AccessToken != tok.AccessToken || !h.Expiry.Equal(tok.Expiry) {
		in.held = &oauth2.Token{AccessToken: tok.AccessToken, Expiry: tok.Expiry}
	}
	return in.held
}

// current returns the current token if it is still served at now, and
// starts a renewal if now is in its window. s.mu is held.
func (s *Source) current(now time.Time) (*oauth2.Token, bool) {
	tok := s.tok.Load()
	if tok == nil {
		return nil, false
	}
	if tok.Expiry.IsZero() {
		return tok, true
	}
	margin := min(s.opts.ExpiryDelta, s.lifetime/4)
	if !now.Before(tok.Expiry.Add(-margin)) {
		return nil, false
	}
	window := max(min(s.lifetime/2, MaxWindow), margin)
	if s.busy == nil && !now.Before(tok.Expiry.Add(-window)) && (s.failed == nil || !now.Before(s.failed.until)) {
		go s.run(s.start(), true)
	}
	return tok, true
}

// start marks a fetch as running and says whether it is a probe. s.mu is
// held.
func (s *Source) start() (probe bool) {
	s.busy = make(chan struct{})
	return s.failed != nil
}

// run obtains a token, records the outcome, shares it, ends the fetch that
// start began and returns the new token or the failure. A fetch that
// panics (from a hook), ends its goroutine (runtime.Goexit, as t.Fatal
// does) or brings neither a token nor an error is recorded as a failure,
// so that the source cools down rather than fetches on every call; in a
// caller's fetch, a panic then goes on to that caller.
func (s *Source) run(probe, background bool) (tok *oauth2.Token, err error) {
	var o outcome
	returned := false
	defer func() {
		r := recover()
		switch {
		case r != nil:
			o = outcome{err: panicked(r)}
		case !returned:
			o = outcome{err: errors.New("tokensource: the fetch ended its goroutine (runtime.Goexit)")}
		case o.tok == nil && o.err == nil:
			o.err = errors.New("tokensource: the fetch returned neither a token nor an error")
		}
		s.mu.Lock()
		s.record(&o)
		close(s.busy)
		s.busy = nil
		s.mu.Unlock()
		if o.share != nil {
			o.share(o)
		}
		switch {
		case r != nil && !background:
			panic(r)
		case o.err != nil && background && s.opts.Notify != nil && s.ctx.Err() == nil:
			s.opts.Notify(o.err, o.wait)
		}
		tok, err = o.tok, o.err
	}()
	o = s.obtain(probe)
	returned = true
	return o.tok, o.err
}

// panicked is the failure of a fetch that panicked with r. It names what
// the runtime said, or only r's type: a hook's own panic value may hold a
// token, and a failure is reported.
func panicked(r any) error {
	if re, ok := r.(runtime.Error); ok {
		return fmt.Errorf("tokensource: panic while fetching a token: %v", re)
	}
	return fmt.Errorf("tokensource: panic while fetching a token (a %T)", r)
}

// outcome is what a fetch brought, or what another process's fetch
// brought through the store.
type outcome struct {
	tok      *oauth2.Token
	err      error
	lifetime time.Duration // of tok; 0 means counted from now
	until    time.Time     // when err's cool-down ends; zero until recorded, unless shared
	base     time.Duration // err's cool-down before jitter; the next one doubles it
	wait     time.Duration // err's cool-down from now
	share    func(outcome) // shares a fetched outcome with other processes; nil if none
}

// record keeps a token, or a failure and its cool-down, and completes o. A
// fetch cut short by s.ctx is not the provider's failure and changes
// nothing. s.mu is held.
func (s *Source) record(o *outcome) {
	now := time.Now()
	switch {
	case o.err != nil && s.ctx.Err() != nil:
		return
	case o.err == nil && !o.tok.Expiry.IsZero() && !now.Before(o.tok.Expiry):
		o.tok, o.err = nil, fmt.Errorf("tokensource: token already expired at %v", o.tok.Expiry.Format(time.RFC3339))
	case o.err == nil:
		if o.lifetime == 0 {
			o.lifetime = o.tok.Expiry.Sub(now)
		}
		s.tok.Store(o.tok)
		s.lifetime, s.failed = o.lifetime, nil
		return
	}
	if o.until.IsZero() { // a failure of this process: its cool-down follows the last one
		o.base = s.opts.MinCoolDown
		if f := s.failed; f != nil {
			o.base = min(2*f.base, s.opts.MaxCoolDown)
		}
		jittered := o.base + time.Duration((rand.Float64()-0.5)*0.5*float64(o.base)) // ±25%: each longer than the last
		o.until = now.Add(min(max(min(jittered, s.opts.MaxCoolDown), s.opts.RetryAfter(o.err)), MaxWait))
	}
	o.wait = o.until.Sub(now)
	s.failed = &failure{err: o.err, until: o.until, base: o.base}
}

// coolingDown is the failure a call gets while a cool-down lasts.
type coolingDown struct {
	err  error
	wait time.Duration
}

func (e *coolingDown) Error() string {
	return fmt.Sprintf("tokensource: last fetch failed, next attempt in %v: %s",
		e.wait.Round(time.Millisecond), trimPrefix(e.err.Error()))
}

func (e *coolingDown) Unwrap() error { return e.err }

func trimPrefix(s string) string {
	const p = "tokensource: "
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}
