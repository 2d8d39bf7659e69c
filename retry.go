package tokensource

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/wire"
)

// The default [RetryPolicy]: a token request sits in front of a user's API
// call, so it retries for seconds, not minutes.
const (
	defaultInitialInterval = 250 * time.Millisecond
	defaultMaxInterval     = 2 * time.Second
	defaultMaxElapsedTime  = 10 * time.Second
	defaultMaxCoolDown     = 5 * time.Minute
)

// RetryPolicy says how a token fetch retries. A nil *RetryPolicy, and any
// zero field, means the default.
//
// A fetch retries, with exponential backoff and jitter, when no response
// came (connection refused, reset or dropped) and on 429, 500, 502, 503 and
// 504. It never retries another status, a 2xx body that is not a usable
// token, or a cancelled context. A Retry-After header sets the next wait; when
// that wait lies beyond the budget the fetch gives up at once, returning an
// [*Error] with RetryAfter set.
//
// A cached source (TokenSource) also shares each failed fetch: callers that
// waited on it get its error, and so does every call until a cool-down has
// passed, without a request. The cool-down starts near MaxInterval, doubles
// while failures continue, up to MaxCoolDown, and is never shorter than the
// provider's Retry-After. The first call after it sends one request; its
// success ends the cool-down.
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
	// MaxCoolDown caps the pause after failed fetches during which a cached
	// source returns the last error without asking the provider. A longer
	// cool-down costs a failing provider fewer requests and delays noticing
	// its recovery. Optional; default 5m.
	MaxCoolDown time.Duration
	// Notify, if set, is called after each failed attempt that will be
	// retried, with its error and the wait before the next attempt: a place
	// to log. Errors never hold secrets. Optional.
	Notify func(err error, wait time.Duration)
}

func (p *RetryPolicy) withDefaults() RetryPolicy {
	var r RetryPolicy
	if p != nil {
		r = *p
	}
	if r.InitialInterval == 0 {
		r.InitialInterval = defaultInitialInterval
	}
	if r.MaxInterval == 0 {
		r.MaxInterval = max(defaultMaxInterval, r.InitialInterval)
	}
	if r.MaxElapsedTime == 0 {
		r.MaxElapsedTime = defaultMaxElapsedTime
	}
	if r.MaxCoolDown == 0 {
		r.MaxCoolDown = max(defaultMaxCoolDown, r.MaxInterval)
	}
	return r
}

// validate reports fields that make no sense, naming the config they sit in.
func (p *RetryPolicy) validate(config string) error {
	if p == nil {
		return nil
	}
	switch {
	case p.InitialInterval < 0, p.MaxInterval < 0, p.MaxCoolDown < 0:
		return invalid(config, "Retry", "intervals must not be negative")
	case p.MaxInterval != 0 && p.MaxInterval < p.InitialInterval:
		return invalid(config, "Retry.MaxInterval", "is shorter than InitialInterval")
	}
	return nil
}

// attempt makes one token request.
type attempt func(ctx context.Context) (*oauth2.Token, error)

// do runs a until it succeeds, fails in a way that retrying cannot mend, or
// the budget (or ctx's deadline, if sooner) is spent. Each call has its own
// backoff.
func (p RetryPolicy) do(ctx context.Context, a attempt, retryable func(error) bool) (*oauth2.Token, error) {
	var b *backoff.ExponentialBackOff // made on the first failure
	deadline := time.Now().Add(p.MaxElapsedTime)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for n := 1; ; n++ {
		tok, err := a(ctx)
		if err == nil {
			return tok, nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
		wait := retryAfter(err)
		if wait == 0 {
			if b == nil {
				b = backoff.NewExponentialBackOff(
					backoff.WithInitialInterval(p.InitialInterval),
					backoff.WithMaxInterval(p.MaxInterval),
					backoff.WithMaxElapsedTime(0),
				)
			}
			wait = b.NextBackOff()
		}
		if time.Now().Add(wait).After(deadline) {
			if n == 1 {
				return nil, err
			}
			return nil, wrap(err, "giving up after %d attempts", n)
		}
		if p.Notify != nil {
			p.Notify(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("tokensource: stopped waiting to retry (%s): %w", message(err), ctx.Err())
		case <-t.C:
		}
	}
}

// retryable reports whether another attempt may succeed where err failed.
func retryable(err error) bool {
	if status, ok := statusOf(err); ok {
		switch status {
		case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
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

// transient reports whether err is a network failure that may pass: not a
// context error, a refused redirect, a certificate the client rejects, or a
// host that does not exist.
func transient(err error) bool {
	var (
		dns     *net.DNSError
		unknown x509.UnknownAuthorityError
		invalid x509.CertificateInvalidError
		host    x509.HostnameError
		verify  *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, wire.ErrRedirect),
		errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &host), errors.As(err, &verify):
		return false
	case errors.As(err, &dns):
		return !dns.IsNotFound
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
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

// RetryTokenSource returns a source that calls src with the retries and the
// shared failures of p (nil means the default policy). Each call of
// src.Token is one attempt; an *oauth2.RetrieveError is classified by its
// status. ctx bounds the waits between attempts.
//
// Wrap the result in oauth2.ReuseTokenSource to cache its tokens; it is
// built to sit there, and is safe for concurrent use on its own.
func RetryTokenSource(ctx context.Context, src oauth2.TokenSource, p *RetryPolicy) oauth2.TokenSource {
	if err := p.validate("RetryTokenSource"); err != nil {
		return failingSource{err}
	}
	return newRetrySource(ctx, func(context.Context) (*oauth2.Token, error) { return src.Token() }, p, retryable)
}

// retrySource fetches tokens with retries and shares each failure with the
// callers that come while it cools down.
type retrySource struct {
	ctx       context.Context
	attempt   attempt
	policy    RetryPolicy
	retryable func(error) bool

	mu       sync.Mutex // guards the fields below, and is held across a fetch
	err      error      // the last failure; nil after a success
	until    time.Time  // when the cool-down after err ends
	coolDown *backoff.ExponentialBackOff
}

func newRetrySource(ctx context.Context, a attempt, p *RetryPolicy, retryable func(error) bool) *retrySource {
	policy := p.withDefaults()
	return &retrySource{
		ctx:       ctx,
		attempt:   a,
		policy:    policy,
		retryable: retryable,
		coolDown: backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(policy.MaxInterval),
			backoff.WithMultiplier(2),
			backoff.WithRandomizationFactor(0.25), // jitter, yet each pause longer than the last
			backoff.WithMaxInterval(policy.MaxCoolDown),
			backoff.WithMaxElapsedTime(0),
		),
	}
}

// Token fetches a token. While a failure cools down it returns that failure
// at once; once the cool-down has passed it probes with a single attempt.
func (s *retrySource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		tok *oauth2.Token
		err error
	)
	if s.err == nil {
		tok, err = s.policy.do(s.ctx, s.attempt, s.retryable)
	} else if wait := time.Until(s.until); wait > 0 {
		return nil, wrap(s.err, "last fetch failed, next attempt in %v", wait.Round(time.Millisecond))
	} else {
		tok, err = s.attempt(s.ctx)
	}
	if err == nil {
		s.err = nil
		s.coolDown.Reset()
		return tok, nil
	}
	if s.ctx.Err() == nil { // a cancelled context is not the provider's failure
		s.err = err
		s.until = time.Now().Add(max(min(s.coolDown.NextBackOff(), s.policy.MaxCoolDown), retryAfter(err)))
	}
	return nil, err
}

// wrapped adds context to an error message without repeating the
// "tokensource: " prefix, and keeps err for errors.Is and errors.As.
type wrapped struct {
	msg string
	err error
}

func wrap(err error, format string, args ...any) error {
	return &wrapped{fmt.Sprintf(format, args...), err}
}

func (w *wrapped) Error() string { return "tokensource: " + w.msg + ": " + message(w.err) }
func (w *wrapped) Unwrap() error { return w.err }

// message is err's text without the "tokensource: " prefix.
func message(err error) string { return strings.TrimPrefix(err.Error(), "tokensource: ") }
