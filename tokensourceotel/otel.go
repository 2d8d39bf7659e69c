// Package tokensourceotel turns the events of tokensource's sources into
// OpenTelemetry metrics and spans:
//
//	obs, err := tokensourceotel.New() // the global providers
//	if err != nil { ... }
//	cfg := &tokensource.FliqaConfig{ /* ... */ Observer: obs}
//
// Every instrument carries the attribute tokensource.provider (fliqa,
// flinks, client_credentials or custom); the module's README lists each
// name, unit and attribute. A fetch's span also carries the event's
// identity (tokensource.identity), which metrics never do: one series per
// tenant or client would grow without bound. The span joins the trace of
// the call that started the fetch. A source that finds a valid token tells
// nothing, so a cached hit costs nothing here.
package tokensourceotel

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/fintechauth/tokensource"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/fintechauth/tokensource/tokensourceotel"

// Observer records tokensource events as metrics and spans. It implements
// tokensource.Observer and is safe for concurrent use; make it with [New].
type Observer struct {
	tracer trace.Tracer
	attrs  *attrCache

	fetchDuration   metric.Float64Histogram
	fetchAttempts   metric.Int64Counter
	attemptFailures metric.Int64Counter
	waitDuration    metric.Float64Histogram
	coolDowns       metric.Int64Counter
	invalidations   metric.Int64Counter
	renewals        metric.Int64Counter
	renewalFailures metric.Int64Counter
	storeFallbacks  metric.Int64Counter
	adoptions       metric.Int64Counter
	tokenLifetime   metric.Float64Histogram
	poolSources     metric.Int64UpDownCounter
	poolDrops       metric.Int64Counter
}

var _ tokensource.Observer = (*Observer)(nil)

// Option configures [New].
type Option interface{ apply(*config) }

type config struct {
	mp metric.MeterProvider
	tp trace.TracerProvider
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider sets the provider of the meter. Optional; default (and
// nil) the global one, otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithTracerProvider sets the provider of the tracer. Optional; default
// (and nil) the global one, otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tp = tp })
}

// secondsBuckets bound the duration histograms: a fetch or a wait takes
// milliseconds, and at most the retry budget (10s by default) and a bit.
var secondsBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// lifetimeBuckets bound tokensource.token.lifetime: tokens live minutes
// to a day.
var lifetimeBuckets = []float64{30, 60, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400}

// New returns an Observer whose instruments and tracer come from the
// providers opts set, the global ones by default. It fails only when a
// provider refuses an instrument.
func New(opts ...Option) (*Observer, error) {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	m := c.mp.Meter(ScopeName)
	o := &Observer{tracer: c.tp.Tracer(ScopeName), attrs: newAttrCache()}
	var errs []error
	hist := func(name, unit, desc string, buckets []float64) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	count := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	o.fetchDuration = hist("tokensource.fetch.duration", "s",
		"How long each token fetch this process sent took, all its attempts and waits.", secondsBuckets)
	o.fetchAttempts = count("tokensource.fetch.attempts", "{request}",
		"Requests sent to the token endpoint, counted when their fetch ends.")
	o.attemptFailures = count("tokensource.attempt.failures", "{request}",
		"Requests to the token endpoint that failed, retried or not.")
	o.waitDuration = hist("tokensource.wait.duration", "s",
		"How long each call that had no usable token waited for a fetch.", secondsBuckets)
	o.coolDowns = count("tokensource.cooldown.answers", "{call}",
		"Calls answered with the last failure, without a request, during a cool-down.")
	o.invalidations = count("tokensource.invalidations", "{token}",
		"Tokens dropped because an API rejected them.")
	o.renewals = count("tokensource.renewals", "{renewal}",
		"Renewals started in the background ahead of a token's expiry.")
	o.renewalFailures = count("tokensource.renewal.failures", "{renewal}",
		"Background renewals that failed while the current token was still served.")
	o.storeFallbacks = count("tokensource.store.fallbacks", "{fallback}",
		"Times the store failed or was too slow and the source went on alone.")
	o.adoptions = count("tokensource.store.adoptions", "{adoption}",
		"Outcomes of another process's fetch taken from the store instead of fetching.")
	o.tokenLifetime = hist("tokensource.token.lifetime", "s",
		"Time left on each token when this process got it, fetched or adopted.", lifetimeBuckets)
	o.poolDrops = count("tokensource.pool.drops", "{source}",
		"Sources a Pool dropped, by reason.")
	var err error
	o.poolSources, err = m.Int64UpDownCounter("tokensource.pool.sources", metric.WithUnit("{source}"),
		metric.WithDescription("Sources a Pool holds: added less dropped."))
	errs = append(errs, err)
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("tokensource: tokensourceotel cannot create its instruments: %w", err)
		}
	}
	return o, nil
}

// Observe records e; the README says what each kind records. Beyond what
// the providers do, it allocates only for a fetch's span and for the first
// event of a provider, status or reason it has not seen.
func (o *Observer) Observe(e tokensource.Event) {
	ctx := e.Context // an exemplar ties a measurement to the call's trace
	if ctx == nil {
		ctx = context.Background()
	}
	p := o.attrs.provider(string(e.Provider))
	switch e.Kind {
	case tokensource.FetchEnded:
		out := p.outcome(e.Err)
		o.fetchDuration.Record(ctx, e.Duration.Seconds(), out.record...)
		o.fetchAttempts.Add(ctx, int64(e.Attempts), out.add...)
		if e.Err != nil {
			o.attemptFailures.Add(ctx, 1, p.status(e.Status)...)
		} else if !e.Expiry.IsZero() {
			o.tokenLifetime.Record(ctx, time.Until(e.Expiry).Seconds(), p.plain.record...)
		}
		o.span(e, p)
	case tokensource.Retrying:
		o.attemptFailures.Add(ctx, 1, p.status(e.Status)...)
	case tokensource.Waited:
		o.waitDuration.Record(ctx, e.Duration.Seconds(), p.outcome(e.Err).record...)
	case tokensource.CoolingDown:
		o.coolDowns.Add(ctx, 1, p.plain.add...)
	case tokensource.Invalidated:
		o.invalidations.Add(ctx, 1, p.plain.add...)
	case tokensource.RenewalStarted:
		o.renewals.Add(ctx, 1, p.plain.add...)
	case tokensource.RenewalFailed:
		o.renewalFailures.Add(ctx, 1, p.plain.add...)
	case tokensource.StoreUnavailable:
		o.storeFallbacks.Add(ctx, 1, p.plain.add...)
	case tokensource.Adopted:
		o.adoptions.Add(ctx, 1, p.outcome(e.Err).add...)
		if e.Err == nil && !e.Expiry.IsZero() {
			o.tokenLifetime.Record(ctx, time.Until(e.Expiry).Seconds(), p.plain.record...)
		}
	case tokensource.SourceAdded:
		o.poolSources.Add(ctx, 1, o.attrs.pool.none...)
	case tokensource.SourceDropped:
		o.poolSources.Add(ctx, -1, o.attrs.pool.none...)
		o.poolDrops.Add(ctx, 1, o.attrs.pool.reason(e.Reason)...)
	}
}
