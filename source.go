package tokensource

import (
	"cmp"
	"context"
	"errors"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
)

// RetryTokenSource returns a cached source of the tokens of src, with the
// retries, shared failures and renewal ahead of expiry of p (nil means the
// default policy) and of this package's own sources. Each call of
// src.Token is one attempt; an *oauth2.RetrieveError is classified by its
// status. ctx bounds the waits between attempts; src's own HTTP client
// bounds each attempt, which RetryTokenSource cannot interrupt.
//
// The result is safe for concurrent use and renews as the configs' sources
// do: in the background from min(L/2, 5m) before expiry, L being the
// token's lifetime when obtained, and serves a token until min(10s, L/4)
// before it. Wrapping it in another ReuseTokenSource is harmless, but
// hides from it the calls that renew ahead of expiry.
func RetryTokenSource(ctx context.Context, src oauth2.TokenSource, p *RetryPolicy) oauth2.TokenSource {
	return RetryTokenSourceWithObserver(ctx, src, p, nil)
}

// RetryTokenSourceWithObserver is [RetryTokenSource] with an [Observer],
// told of what the source does with the provider ProviderCustom and no
// Identity: src's identity is unknown here, so wrap o in an [ObserverFunc]
// that sets one.
func RetryTokenSourceWithObserver(ctx context.Context, src oauth2.TokenSource, p *RetryPolicy, o Observer) oauth2.TokenSource {
	if src == nil {
		return failingSource{errors.New("tokensource: RetryTokenSource needs a source, not nil")}
	}
	if err := p.validate("RetryTokenSource"); err != nil {
		return failingSource{err}
	}
	s := settings{retry: p, observer: o, provider: ProviderCustom}
	return s.cached(ctx, func(context.Context) (*oauth2.Token, error) { return src.Token() }, retryable, nil, nil)
}

// fetcher fetches for one cached source, with its policy; it holds the
// source's options too, so that a source makes one allocation for all.
type fetcher struct {
	attempt   attempt
	retryable func(error) bool
	policy    RetryPolicy
	opts      cache.Options
	observe   func(cache.Event) // the source's Observe, nil without an observer
	provider  string            // for the events of a Pool holding the source
}

// cached returns a cached source of the tokens a fetches with the policy's
// retries and cool-downs, starting from tok if it is not nil, and sharing
// them as shared says if it is not nil.
func (s settings) cached(ctx context.Context, a attempt, retryable func(error) bool, tok *oauth2.Token,
	shared *cache.Shared) *cache.Source {
	f := &fetcher{attempt: a, retryable: retryable, policy: s.retry.withDefaults(), provider: s.provider}
	f.opts = cache.Options{
		ExpiryDelta: cmp.Or(s.expiryDelta, defaultExpiryDelta),
		MinCoolDown: f.policy.CoolDown,
		MaxCoolDown: f.policy.MaxCoolDown,
		RetryAfter:  retryAfter,
		Notify:      f.policy.Notify,
		Observe:     s.observe(context.Background()), // the source gives each event its context
		Shared:      shared,
	}
	src := cache.New(ctx, f, tok, &f.opts)
	if f.opts.Observe != nil {
		f.observe = src.Observe
	}
	return src
}

// Fetch makes one fetch: a whole retry cycle, or a single attempt for a
// probe.
func (f *fetcher) Fetch(ctx context.Context, probe bool) (*oauth2.Token, error) {
	if probe {
		return f.policy.do(ctx, f.attempt, never, f.observe)
	}
	return f.policy.do(ctx, f.attempt, f.retryable, f.observe)
}

// never is the retry rule of a single attempt.
func never(error) bool { return false }

// failingSource is a source whose configuration is invalid: every call
// returns the same error, and nothing is sent.
type failingSource struct{ err error }

func (s failingSource) Token() (*oauth2.Token, error) { return nil, s.err }

// guard calls hook, the user's code that what names (such as "Notify"),
// through [cache.Protect], the one guard of every user hook, and returns a
// panic in it as a tokensource: error.
func guard(what string, hook func()) error {
	if err := cache.Protect(what, func() error { hook(); return nil }); err != nil {
		return errors.New("tokensource: " + err.Error())
	}
	return nil
}
