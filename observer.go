package tokensource

import (
	"context"
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
// panic in it is recovered and ignored, as in every hook of the package.
// Events never carry a secret. [MultiObserver] tells several observers,
// and an [ObserverFunc] makes one of a function.
type Observer interface {
	Observe(Event)
}

// EventKind says what an [Event] reports.
type EventKind int

const (
	// FetchEnded: a fetch this process sent ended, with a token (Expiry
	// set) or a failure (Err set), after Attempts attempts over Duration.
	// One fetch is a whole retry cycle, or one probe after a cool-down.
	FetchEnded EventKind = 1
	// Retrying: an attempt failed (Err, Status, Code) and is retried after
	// Wait.
	Retrying EventKind = 2
	// Waited: a call had no usable token and waited Duration for a fetch,
	// its own or another caller's; Err is what it got if it failed.
	Waited EventKind = 3
	// CoolingDown: a call was answered with the last failure (Err) without
	// a request, for Wait more; see [ErrCoolingDown].
	CoolingDown EventKind = 4
	// Invalidated: a token that an API rejected was dropped; the next call
	// fetches another. Tokens rejected again before that count once.
	Invalidated EventKind = 5
	// RenewalStarted: a token entered its renewal window, and a renewal
	// began in the background while the current token is served (Expiry is
	// the current token's).
	RenewalStarted EventKind = 6
	// RenewalFailed: a background renewal failed (Err); the current token
	// is still served, and the next renewal comes after Wait.
	RenewalFailed EventKind = 7
	// StoreUnavailable: the [Store] failed or was too slow (Err); the
	// source fetched on its own, or kept its outcome to itself.
	StoreUnavailable EventKind = 8
	// Adopted: the source took another process's outcome from the
	// [Store] instead of fetching: a token (Expiry set) or a failure that is
	// cooling down (Err and Wait set).
	Adopted EventKind = 9
	// SourceAdded and SourceDropped: a [Pool] made a source for a key, or
	// dropped one (idle, over MaxSources, removed, or closed).
	SourceAdded   EventKind = 10
	SourceDropped EventKind = 11
)

// kindOf returns the EventKind of a kind of the cache's events, or 0 for
// one missing from kinds, which TestEveryCacheKindHasAnEventKind catches.
func kindOf(k cache.Kind) EventKind {
	if k < 0 || int(k) >= len(kinds) {
		return 0
	}
	return kinds[k]
}

// kinds gives the EventKind of each kind of the cache's events.
var kinds = [...]EventKind{
	cache.FetchEnded:       FetchEnded,
	cache.Retrying:         Retrying,
	cache.Waited:           Waited,
	cache.CoolingDown:      CoolingDown,
	cache.Invalidated:      Invalidated,
	cache.RenewalStarted:   RenewalStarted,
	cache.RenewalFailed:    RenewalFailed,
	cache.StoreUnavailable: StoreUnavailable,
	cache.Adopted:          Adopted,
}

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

// Provider names the kind of source an [Event] comes from.
type Provider string

// The providers an [Event] names.
const (
	ProviderFliqa             Provider = "fliqa"
	ProviderFlinks            Provider = "flinks"
	ProviderClientCredentials Provider = "client_credentials"
	ProviderCustom            Provider = "custom" // RetryTokenSource over a source of the user's
)

// Event is what an [Observer] is told. Fields that do not apply to its
// Kind are zero.
type Event struct {
	Kind EventKind
	// Provider is ProviderFliqa, ProviderFlinks, ProviderClientCredentials
	// or ProviderCustom.
	Provider Provider
	// Identity names whose tokens the event concerns, without a secret:
	// "environment/tenant slug" for Fliqa (such as "production/my_slug"),
	// the client ID for Flinks and for client credentials. It is empty for
	// RetryTokenSource, which knows nothing of its source: wrap its
	// Observer in an [ObserverFunc] that sets one. Pool events leave it
	// empty.
	Identity string
	// Context is never nil: the context of the call the event concerns,
	// or of the call that started the fetch; context.Background() for a
	// background renewal, which starts a trace of its own, and for what no
	// call caused. Use its values only, for tracing: it may have ended.
	Context context.Context
	// Joined holds the contexts of the calls that waited for the fetch
	// another call (or a renewal) started (FetchEnded), 32 at most, for
	// tracing as Context is.
	Joined []context.Context
	// Duration is how long a fetch took (FetchEnded) or a call waited
	// (Waited).
	Duration time.Duration
	// Attempts is how many requests a fetch sent (FetchEnded).
	Attempts int
	// Err is the failure, if any, and holds no secret. For a provider's
	// answer, errors.As finds an [*Error] in it. A failure of a source of
	// yours (RetryTokenSource) that is an *oauth2.RetrieveError is replaced
	// by an error naming only its status and code, since its text holds the
	// response body, which nothing redacted.
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

// reporter turns the cache's events into Events for an Observer, naming
// the source's provider and identity.
type reporter struct {
	observer Observer // nil: events go nowhere
	provider Provider
	identity string
	events   func(cache.Event) // a cached source's Report, for its fetch's own events
}

func (s settings) reporter() reporter {
	return reporter{observer: s.observer, provider: s.provider, identity: s.identity}
}

// report reports e to the Observer, if there is one; an event without a
// context gets ctx.
func (r reporter) report(ctx context.Context, e cache.Event) {
	if r.observer == nil {
		return
	}
	ev := Event{Kind: kindOf(e.Kind), Provider: r.provider, Identity: r.identity, Context: e.Context,
		Duration: e.Duration, Attempts: e.Attempts, Err: e.Err, Expiry: e.Expiry, Wait: e.Wait, Joined: e.Joined}
	if ev.Context == nil {
		ev.Context = ctx
	}
	if e.Err != nil {
		ev.Err, ev.Status, ev.Code = eventError(e.Err)
	}
	report(r.observer, ev)
}

// at returns what reports the events of a fetch made for the call of ctx,
// or nil without an Observer, so that a fetch without one pays nothing.
func (r reporter) at(ctx context.Context) func(cache.Event) {
	if r.observer == nil {
		return nil
	}
	return func(e cache.Event) { r.report(ctx, e) }
}

// report reports e to o; a panic in o is recovered and ignored, as in
// every user hook.
func report(o Observer, e Event) {
	_ = guard("an Observer", func() { o.Observe(e) })
}

// ObserverFunc is an [Observer] that calls the function, as
// http.HandlerFunc is an http.Handler. It lets a function observe, or
// change an event before another Observer sees it:
//
//	named := tokensource.ObserverFunc(func(e tokensource.Event) {
//		e.Identity = "ledger-api"
//		obs.Observe(e)
//	})
type ObserverFunc func(Event)

// Observe calls f(e).
func (f ObserverFunc) Observe(e Event) { f(e) }

// MultiObserver returns an [Observer] that tells each of observers every
// event, in order; nil observers are skipped. A panic in one is recovered
// and does not stop the others.
func MultiObserver(observers ...Observer) Observer {
	var all multiObserver
	for _, o := range observers {
		if o != nil {
			all = append(all, o)
		}
	}
	return all
}

type multiObserver []Observer

func (m multiObserver) Observe(e Event) {
	for _, o := range m {
		report(o, e)
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
