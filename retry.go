package tokensource

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
	"github.com/fintechauth/tokensource/internal/wire"
)

// The default [RetryPolicy]: a token request sits in front of a user's API
// call, so it retries for seconds, not minutes.
const (
	defaultInitialInterval = 250 * time.Millisecond
	defaultMaxInterval     = 2 * time.Second
	defaultMaxElapsedTime  = 10 * time.Second
	defaultMaxCoolDown     = 5 * time.Minute
	defaultExpiryDelta     = 10 * time.Second // as in x/oauth2
)

// RetryPolicy says how a token fetch retries. A nil *RetryPolicy, and any
// zero field, means the default.
//
// A fetch retries, with exponential backoff and jitter, when no response
// came (connection refused, reset or dropped) and on 408, 429, 500, 502,
// 503 and 504. It never retries another status, a 2xx body that is not a
// usable token, or a cancelled context. A Retry-After header sets the
// next wait; when that wait lies beyond the budget the fetch gives up at
// once, returning an [*Error] with RetryAfter set.
//
// A cached source (TokenSource) also shares each failed fetch: callers that
// waited on it get its error, and so does every call until a cool-down has
// passed, without a request. The cool-down starts near CoolDown, doubles
// while failures continue, up to MaxCoolDown, and is never shorter than the
// provider's Retry-After. The first call after it sends one request; its
// success ends the cool-down. The same pause, from CoolDown up to
// MaxCoolDown, spaces out the tokens an API rejects (see [Invalidate]).
type RetryPolicy struct {
	// InitialInterval is the first wait between attempts. Optional; default
	// 250ms.
	InitialInterval time.Duration
	// MaxInterval caps any one backoff wait; a Retry-After within the budget
	// is honoured even when longer. Optional; default 2s.
	MaxInterval time.Duration
	// MaxElapsedTime is the budget for one fetch: all attempts and waits
	// together. Optional; default 10s. A negative value disables retries.
	MaxElapsedTime time.Duration
	// CoolDown is the first pause after a failed fetch (±25%), and between
	// tokens an API rejects; it doubles up to MaxCoolDown. Optional;
	// default: MaxInterval. A CoolDown over MaxCoolDown or 24h is refused.
	CoolDown time.Duration
	// MaxCoolDown caps the pause after failed fetches during which a cached
	// source returns the last error without asking the provider. A longer
	// cool-down costs a failing provider fewer requests and delays noticing
	// its recovery. Optional; default 5m, or CoolDown if longer; at most 24h.
	MaxCoolDown time.Duration
	// Notify, if set, is told of every failure that no caller sees, with
	// the wait before the next attempt: each failed attempt that will be
	// retried, and each failed renewal ahead of expiry (while the current
	// token is still served), with the cool-down before the next. It is a
	// place to log; errors never hold secrets. A panic in it is recovered
	// and ignored: the fetch goes on. Optional.
	Notify func(err error, wait time.Duration)
}

// withDefaults returns the policy with each zero field set to its default.
func (p *RetryPolicy) withDefaults() RetryPolicy {
	var r RetryPolicy
	if p != nil {
		r = *p
	}
	r.InitialInterval = cmp.Or(r.InitialInterval, defaultInitialInterval)
	r.MaxInterval = cmp.Or(r.MaxInterval, max(defaultMaxInterval, r.InitialInterval))
	r.MaxElapsedTime = cmp.Or(r.MaxElapsedTime, defaultMaxElapsedTime)
	r.CoolDown = cmp.Or(r.CoolDown, r.MaxInterval)
	r.MaxCoolDown = min(cmp.Or(r.MaxCoolDown, max(defaultMaxCoolDown, r.CoolDown)), cache.MaxWait)
	r.CoolDown = min(r.CoolDown, r.MaxCoolDown) // one implied by a long MaxInterval, too
	return r
}

// validate reports fields that make no sense, naming the config they sit in.
func (p *RetryPolicy) validate(config string) error {
	if p == nil {
		return nil
	}
	switch {
	case p.InitialInterval < 0, p.MaxInterval < 0, p.CoolDown < 0, p.MaxCoolDown < 0:
		return invalid(config, "Retry", "intervals must not be negative")
	case p.MaxCoolDown > cache.MaxWait:
		return invalid(config, "Retry.MaxCoolDown", "must not exceed "+cache.MaxWait.String())
	case p.CoolDown > cache.MaxWait:
		return invalid(config, "Retry.CoolDown", "must not exceed "+cache.MaxWait.String())
	case p.MaxInterval != 0 && p.MaxInterval < p.InitialInterval:
		return invalid(config, "Retry.MaxInterval", "is shorter than InitialInterval")
	case p.MaxCoolDown != 0 && p.CoolDown > p.MaxCoolDown:
		return invalid(config, "Retry.CoolDown", "is longer than MaxCoolDown")
	}
	return nil
}

// budget is how long one fetch may take: MaxElapsedTime, or with retries
// disabled, the default budget for its single attempt.
func (p RetryPolicy) budget() time.Duration {
	if p.MaxElapsedTime < 0 {
		return defaultMaxElapsedTime
	}
	return p.MaxElapsedTime
}

// retryable reports whether another attempt may succeed where err failed.
func retryable(err error) bool {
	if status, ok := statusOf(err); ok {
		switch status {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return transient(err)
}

// statusOf returns the HTTP status of an [*Error] or *oauth2.RetrieveError.
func statusOf(err error) (int, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode, true
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.StatusCode, true
	}
	return 0, false
}

// transient reports whether err is a failure to get an answer that may
// pass: a connection refused, reset or cut off, or a timeout of the HTTP
// client or the network (the fetch's own deadline is handled before). Not a
// cancellation, nor what a retry cannot mend: a refused redirect or a
// redirect loop, a certificate the client rejects, an https URL answered in
// plain http, a malformed response, or a host that does not exist.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ue *url.Error // a net.Error itself, whatever it wraps: look inside
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// retryAfter returns the wait a failed response asked for, or 0.
func retryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return wire.ParseRetryAfter(re.Response.Header.Get("Retry-After"))
	}
	return 0
}
