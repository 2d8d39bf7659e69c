package tokensource

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
)

// Observer is told what a source does: each fetch, each wait for one, each
// token an API rejected, each renewal ahead of expiry, and each time the
// [Store] was unavailable or another process's outcome was adopted. Set it
// as the Observer field of a config, or with [RetryTokenSourceWithObserver]
// or [PoolOptions]; package
// github.com/fintechauth/tokensource/tokensourceotel turns events into
// OpenTelemetry metrics and spans, and [NewSlogObserver] into log records.
//
// A source that finds a valid token tells nothing: only what changes or
// waits is an event. Observe is called synchronously, on the goroutine
// that did the work, so it must be quick and safe for concurrent use; a
// panic in it is recovered and ignored. Events never carry a secret.
type Observer interface {
	Observe(Event)
}

// EventKind says what an [Event] reports.
type EventKind int

const (
	// FetchEnded: a fetch this process sent ended, with a token (Expiry
	// set) or a failure (Err set), after Attempts attempts over Duration.
	// One fetch is a whole retry cycle, or one probe after a cool-down.
	FetchEnded = EventKind(cache.FetchEnded)
	// Retrying: an attempt failed (Err, Status, Code) and is retried after
	// Wait.
	Retrying = EventKind(cache.Retrying)
	// Waited: a call had no usable token and waited Duration for a fetch,
	// its own or another caller's; Err is what it got if it failed.
	Waited = EventKind(cache.Waited)
	// CoolingDown: a call was answered with the last failure (Err) without
	// a request, for Wait more; see [ErrCoolingDown].
	CoolingDown = EventKind(cache.CoolingDown)
	// Invalidated: a token that an API rejected was dropped; the next call
	// fetches another. Tokens rejected again before that count once.
	Invalidated = EventKind(cache.Invalidated)
	// RenewalStarted: a token entered its renewal window, and a renewal
	// began in the background while the current token is served (Expiry is
	// the current token's).
	RenewalStarted = EventKind(cache.RenewalStarted)
	// RenewalFailed: a background renewal failed (Err); the current token
	// is still served, and the next renewal comes after Wait.
	RenewalFailed = EventKind(cache.RenewalFailed)
	// StoreUnavailable: the [Store] failed or was too slow (Err); the
	// source fetched on its own, or kept its outcome to itself.
	StoreUnavailable = EventKind(cache.StoreUnavailable)
	// Adopted: the source took another process's outcome from the
	// [Store] instead of fetching: a token (Expiry set) or a failure that is
	// cooling down (Err and Wait set).
	Adopted = EventKind(cache.Adopted)
	// SourceAdded and SourceDropped: a [Pool] made a source for a key, or
	// dropped one (idle, over MaxSources, removed, or closed).
	SourceAdded   = Adopted + 1
	SourceDropped = Adopted + 2
)

var kindNames = [...]string{
	FetchEnded:       "fetch_ended",
	Retrying:         "retrying",
	Waited:           "waited",
	CoolingDown:      "cooling_down",
	Invalidated:      "invalidated",
	RenewalStarted:   "renewal_started",
	RenewalFailed:    "renewal_failed",
	StoreUnavailable: "store_unavailable",
	Adopted:          "adopted",
	SourceAdded:      "source_added",
	SourceDropped:    "source_dropped",
}

// String returns the kind's name in snake case, such as "fetch_ended".
func (k EventKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// The providers an [Event] names.
const (
	ProviderFliqa             = "fliqa"
	ProviderFlinks            = "flinks"
	ProviderClientCredentials = "client_credentials"
	ProviderCustom            = "custom" // RetryTokenSource over a source of the user's
)

// Event is what an [Observer] is told. Fields that do not apply to its
// Kind are zero.
type Event struct {
	Kind EventKind
	// Provider is ProviderFliqa, ProviderFlinks, ProviderClientCredentials
	// or ProviderCustom.
	Provider string
	// Duration is how long a fetch took (FetchEnded) or a call waited
	// (Waited).
	Duration time.Duration
	// Attempts is how many requests a fetch sent (FetchEnded).
	Attempts int
	// Err is the failure, if any. It holds no secret: errors.As finds an
	// [*Error] in it for a provider's answer, and an
	// *oauth2.RetrieveError from a source of yours (RetryTokenSource),
	// whose text holds the response body, is told by its status and code
	// alone.
	Err error
	// Status and Code are the HTTP status and the provider's error code of
	// Err's answer, when it has one.
	Status int
	Code   string
	// Expiry is the new token's (FetchEnded, Adopted) or the current
	// token's (RenewalStarted).
	Expiry time.Time
	// Wait is the pause before the next attempt (Retrying), or the
	// cool-down left (CoolingDown, RenewalFailed, Adopted).
	Wait time.Duration
	// Reason says why a Pool dropped a source (SourceDropped): "idle",
	// "capacity", "removed" or "closed".
	Reason string
	// Key names the Pool key of a SourceAdded or SourceDropped event, as
	// PoolOptions.KeyName gives it; empty without KeyName.
	Key string
}

// observer turns the cache's events into Events for o, or is nil for a nil
// o, so that a source without an Observer pays nothing.
func observer(o Observer, provider string) func(cache.Event) {
	if o == nil {
		return nil
	}
	return func(e cache.Event) {
		defer func() { _ = recover() }() // an Observer's panic is its own
		ev := Event{Kind: EventKind(e.Kind), Provider: provider, Duration: e.Duration, Attempts: e.Attempts,
			Err: e.Err, Expiry: e.Expiry, Wait: e.Wait}
		if e.Err != nil {
			ev.Err, ev.Status, ev.Code = eventError(e.Err)
		}
		o.Observe(ev)
	}
}

// eventError returns err as an Event carries it, with its status and code.
// An *oauth2.RetrieveError of a user's source keeps only those: its text
// holds the response body, which the source did not redact.
func eventError(err error) (error, int, string) {
	if pe := new(Error); errors.As(err, &pe) {
		return err, pe.StatusCode, pe.Code
	}
	re := new(oauth2.RetrieveError)
	if !errors.As(err, &re) {
		return err, 0, ""
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	text := fmt.Sprintf("tokensource: token endpoint answered %d %s", status, http.StatusText(status))
	if re.ErrorCode != "" {
		text += ": " + re.ErrorCode
	}
	return errors.New(text), status, re.ErrorCode
}
