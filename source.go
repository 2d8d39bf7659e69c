package tokensource

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"time"

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
	return s.cached(ctx, func(context.Context) (*oauth2.Token, error) { return src.Token() }, nil, nil, nil)
}

// fetcher fetches for one cached source, with its policy, and receives
// what the source reports: it is the source's cache.Fetcher, and its
// cache.Sharer when the source shares through a Store. What only some
// sources need (an Observer, a Store, options other than the defaults) is
// held apart, so that an idle source of the defaults holds little.
type fetcher struct {
	attempt  attempt
	policy   *RetryPolicy // with its defaults; shared by every source of the default policy
	provider Provider     // for the events of a Pool holding the source
	reporter *reporter    // nil without an Observer
	sharing  *sharing     // nil without a Store
}

// sharing is what a source that shares through a Store keeps for it.
type sharing struct {
	key   func() string                     // the source's Store key
	adopt func(*oauth2.Token) *oauth2.Token // readies a token from the Store; nil if it needs nothing
}

// defaultPolicy is the policy of every source whose config sets none, and
// defaultOptions the cache options of every such source without an
// ExpiryDelta, an Observer or a Store.
var (
	defaultPolicy  = (*RetryPolicy)(nil).withDefaults()
	defaultOptions = cache.Options{ExpiryDelta: defaultExpiryDelta, CoolDown: defaultPolicy.CoolDown,
		MaxCoolDown: defaultPolicy.MaxCoolDown}
)

// policyOf returns p with its defaults.
func policyOf(p *RetryPolicy) *RetryPolicy {
	if p == nil {
		return &defaultPolicy
	}
	return new(p.withDefaults())
}

// cached returns a cached source of the tokens a fetches, with the
// policy's retries (of the failures that retryable allows) and
// cool-downs, starting from tok if it is not nil. With a Store, it shares
// them under the key that key returns, and readies a token another
// process fetched with adopt, if set.
func (s settings) cached(ctx context.Context, a attempt, tok *oauth2.Token,
	key func() string, adopt func(*oauth2.Token) *oauth2.Token) *cache.Source {
	f := &fetcher{attempt: a, policy: policyOf(s.retry), provider: s.provider}
	opts := cache.Options{
		ExpiryDelta: cmp.Or(s.expiryDelta, defaultExpiryDelta),
		CoolDown:    f.policy.CoolDown,
		MaxCoolDown: f.policy.MaxCoolDown,
		Traced:      s.observer != nil,
	}
	if s.store != nil {
		opts.Shared = &cache.Shared{Store: s.store, LockTTL: min(f.policy.budget()+time.Second, cache.MaxWait)}
		f.sharing = &sharing{key: key, adopt: adopt}
	}
	o := &defaultOptions
	if opts != defaultOptions {
		o = new(opts)
	}
	src := cache.New(ctx, f, tok, o)
	if s.observer != nil {
		r := s.reporter()
		r.events = src.Report
		f.reporter = &r
	}
	return src
}

// Fetch makes one fetch: a whole retry cycle, or a single attempt for a
// probe.
func (f *fetcher) Fetch(ctx context.Context, probe bool) (*oauth2.Token, error) {
	var events func(cache.Event)
	if f.reporter != nil {
		events = f.reporter.events
	}
	if probe {
		return f.policy.do(ctx, f.attempt, never, events)
	}
	return f.policy.do(ctx, f.attempt, retryable, events)
}

// RetryAfter returns the wait a failure asked for, or 0.
func (f *fetcher) RetryAfter(err error) time.Duration { return retryAfter(err) }

// Report reports e to Notify, when no caller sees its failure (a renewal's,
// or the Store's), and to the Observer.
func (f *fetcher) Report(e cache.Event) {
	if (e.Kind == cache.RenewalFailed || e.Kind == cache.StoreUnavailable) && f.policy.Notify != nil {
		_ = guard("Notify", func() { f.policy.Notify(e.Err, e.Wait) })
	}
	if f.reporter != nil {
		f.reporter.report(context.Background(), e)
	}
}

// Key, EncodeErr, DecodeErr and Adopt make f a cache.Sharer.
func (f *fetcher) Key() string                         { return f.sharing.key() }
func (f *fetcher) EncodeErr(err error) json.RawMessage { return encodeErr(err) }
func (f *fetcher) DecodeErr(b json.RawMessage) error   { return decodeErr(b) }
func (f *fetcher) Adopt(tok *oauth2.Token) *oauth2.Token {
	if f.sharing.adopt != nil {
		return f.sharing.adopt(tok)
	}
	return tok
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
