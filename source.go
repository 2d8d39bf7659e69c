package tokensource

import (
	"cmp"
	"context"
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
// The result caches like oauth2.ReuseTokenSource with a 10s ExpiryDelta and
// is safe for concurrent use. Wrapping it in another ReuseTokenSource is
// harmless, but hides from it the calls that renew ahead of expiry.
func RetryTokenSource(ctx context.Context, src oauth2.TokenSource, p *RetryPolicy) oauth2.TokenSource {
	if err := p.validate("RetryTokenSource"); err != nil {
		return failingSource{err}
	}
	return cached(ctx, func(context.Context) (*oauth2.Token, error) { return src.Token() }, p, retryable, nil, 0, nil)
}

// cached returns a cached source of the tokens a fetches with p's retries
// and cool-downs, starting from tok if it is not nil, and sharing them as
// shared says if it is not nil.
func cached(ctx context.Context, a attempt, p *RetryPolicy, retryable func(error) bool, tok *oauth2.Token,
	expiryDelta time.Duration, shared *cache.Shared) *cache.Source {
	policy := p.withDefaults()
	fetch := func(ctx context.Context, probe bool) (*oauth2.Token, error) {
		if probe {
			return policy.do(ctx, a, never)
		}
		return policy.do(ctx, a, retryable)
	}
	return cache.New(ctx, fetch, tok, &cache.Options{
		ExpiryDelta: cmp.Or(expiryDelta, defaultExpiryDelta),
		MinCoolDown: policy.MaxInterval,
		MaxCoolDown: policy.MaxCoolDown,
		RetryAfter:  retryAfter,
		Notify:      policy.Notify,
		Shared:      shared,
	})
}

// never is the retry rule of a single attempt.
func never(error) bool { return false }

// failingSource is a source whose configuration is invalid: every call
// returns the same error, and nothing is sent.
type failingSource struct{ err error }

func (s failingSource) Token() (*oauth2.Token, error) { return nil, s.err }
