package tokensource

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
)

// attempt makes one token request.
type attempt func(ctx context.Context) (*oauth2.Token, error)

var (
	// errNoToken is the failure of an attempt that returned neither a token
	// nor an error: a bug of the source, which a retry would not mend.
	errNoToken = errors.New("tokensource: the source returned neither a token nor an error")
	// errPanicked is the FetchEnded error of a fetch whose attempt panicked.
	errPanicked = errors.New("tokensource: the fetch panicked")
	// errRetry is what try returns to backoff's loop for a failure a retry
	// may mend. The failure itself goes to retryWaits.last, out of backoff's
	// sight, so that one wrapping a backoff.PermanentError cannot end the
	// retries.
	errRetry = errors.New("tokensource: retry")
)

// do runs a until it succeeds, fails in a way that retrying cannot mend, or
// the budget (or ctx's deadline, if sooner) is spent. Each attempt, its
// response body included, ends by that deadline too, so no attempt can
// hang. Each call has its own backoff. reportEvent, if not nil, gets a
// Retrying event for each retry and FetchEnded at the end, even when an
// attempt panics.
func (p RetryPolicy) do(ctx context.Context, a attempt, retryable func(error) bool,
	reportEvent func(cache.Event)) (*oauth2.Token, error) {
	c := &retryCycle{policy: p, attempt: a, retryable: retryable, reportEvent: reportEvent, waits: newRetryWaits(p)}
	if reportEvent == nil {
		return c.run(ctx)
	}
	began, returned := time.Now(), false
	defer func() {
		if !returned { // an attempt panicked (or called runtime.Goexit); the panic goes on up
			reportEvent(c.fetchEnded(began, nil, errPanicked))
		}
	}()
	tok, err := c.run(ctx)
	returned = true
	reportEvent(c.fetchEnded(began, tok, err))
	return tok, err
}

// retryCycle is one fetch: backoff's loop runs its attempts and waits as
// its retryWaits says between them.
type retryCycle struct {
	policy      RetryPolicy
	attempt     attempt
	retryable   func(error) bool
	reportEvent func(cache.Event) // nil: no events
	ctx         context.Context   // the caller's, bounded by the budget
	waits       retryWaits
	attempts    int
	final       bool // the last attempt failed in a way no retry can mend
}

// run makes the fetch within its budget.
func (c *retryCycle) run(ctx context.Context) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, c.policy.budget())
	defer cancel()
	c.ctx = ctx
	c.waits.deadline, _ = ctx.Deadline()
	tok, err := backoff.RetryNotifyWithData(c.try, backoff.WithContext(&c.waits, ctx), c.reportRetry)
	if err != nil && !c.final {
		return nil, c.cutShort()
	}
	return tok, err
}

// try makes one attempt. A failure a retry may mend is kept for the next
// wait; any other ends the loop as a backoff.Permanent error.
func (c *retryCycle) try() (*oauth2.Token, error) {
	c.attempts++
	tok, err := c.attempt(c.ctx)
	switch {
	case err == nil && tok == nil:
		err = errNoToken
	case err == nil:
		return tok, nil
	case c.ctx.Err() != nil:
		err = c.policy.attemptCutShort(c.ctx, err)
	case c.policy.MaxElapsedTime >= 0 && c.retryable(err):
		c.waits.last = err
		return nil, errRetry
	}
	c.final = true
	return nil, backoff.Permanent(err)
}

// reportRetry reports the last failure and the wait before the next
// attempt to RetryPolicy.Notify and, as Retrying, to reportEvent.
// backoff's loop calls it before each wait.
func (c *retryCycle) reportRetry(_ error, wait time.Duration) {
	err := c.waits.last
	if c.policy.Notify != nil {
		_ = guard("Notify", func() { c.policy.Notify(err, wait) })
	}
	if c.reportEvent != nil {
		c.reportEvent(cache.Event{Kind: cache.Retrying, Err: err, Wait: wait})
	}
}

// cutShort is the error of a fetch stopped before a retry: the next wait
// would have ended past the deadline, or the context ended first.
func (c *retryCycle) cutShort() error {
	switch {
	case !c.waits.pastDeadline:
		return &stopped{ctx: context.Cause(c.ctx), last: c.waits.last}
	case c.attempts == 1:
		return c.waits.last
	default:
		return wrap(c.waits.last, "giving up after %d attempts", c.attempts)
	}
}

// fetchEnded is the FetchEnded event of a fetch that began at began.
func (c *retryCycle) fetchEnded(began time.Time, tok *oauth2.Token, err error) cache.Event {
	e := cache.Event{Kind: cache.FetchEnded, Duration: time.Since(began), Attempts: c.attempts, Err: err}
	if tok != nil {
		e.Expiry = tok.Expiry
	}
	return e
}

// retryWaits is the backoff.BackOff of one fetch: the wait the last
// failure's Retry-After asks for, else exponential backoff with jitter
// capped at MaxInterval; and Stop when the wait would end past the deadline.
type retryWaits struct {
	exp          backoff.ExponentialBackOff
	deadline     time.Time
	last         error // the failure the next wait follows
	pastDeadline bool  // the wait Stop replaced would have ended past the deadline
}

func newRetryWaits(p RetryPolicy) retryWaits {
	return retryWaits{exp: backoff.ExponentialBackOff{
		InitialInterval:     p.InitialInterval,
		RandomizationFactor: backoff.DefaultRandomizationFactor, // ±50%
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         p.MaxInterval,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}}
}

// NextBackOff is the wait before the next attempt, or backoff.Stop.
func (w *retryWaits) NextBackOff() time.Duration {
	wait := retryAfter(w.last)
	if wait == 0 {
		wait = min(w.exp.NextBackOff(), w.exp.MaxInterval) // the cap holds after jitter too
	}
	if time.Now().Add(wait).After(w.deadline) {
		w.pastDeadline = true
		return backoff.Stop
	}
	return wait
}

// Reset starts the exponential backoff from InitialInterval.
func (w *retryWaits) Reset() { w.exp.Reset() }

// attemptCutShort returns the error of an attempt that ctx cut short: err
// itself after a cancellation; after a deadline (the budget's, or the
// caller's if sooner), err wrapped with the budget.
func (p RetryPolicy) attemptCutShort(ctx context.Context, err error) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	return wrap(err, "no token by the deadline (fetch budget %v)", p.budget())
}

// stopped is a retry cut short by its context: it wraps both the context's
// error and the last failure, so errors.As still finds the provider's
// answer.
type stopped struct{ ctx, last error }

func (e *stopped) Error() string {
	return "tokensource: stopped waiting to retry (" + message(e.last) + "): " + e.ctx.Error()
}

func (e *stopped) Unwrap() []error { return []error{e.ctx, e.last} }
