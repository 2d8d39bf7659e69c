package tokensourceotel_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourceotel"
)

var errUnavailable = errors.New("tokensource: 503 Service Unavailable")

func TestObserveRecordsEachKind(t *testing.T) {
	const (
		fliqa   = "tokensource.provider=fliqa"
		success = "tokensource.outcome=success," + fliqa
		failure = "tokensource.outcome=failure," + fliqa
	)
	in := func(d time.Duration) time.Time { return time.Now().Add(d) }
	tests := []struct {
		name  string
		event tokensource.Event
		want  map[string]float64
	}{
		{"fetch ended with a token",
			tokensource.Event{Kind: tokensource.FetchEnded, Duration: time.Second, Attempts: 2, Expiry: in(time.Hour)},
			map[string]float64{
				"tokensource.fetch.duration{" + success + "}": 1,
				"tokensource.fetch.attempts{" + success + "}": 2,
				"tokensource.token.lifetime{" + fliqa + "}":   1,
			}},
		{"fetch ended with an answer",
			tokensource.Event{Kind: tokensource.FetchEnded, Duration: time.Second, Attempts: 3, Err: errUnavailable,
				Status: 503},
			map[string]float64{
				"tokensource.fetch.duration{" + failure + "}":                               1,
				"tokensource.fetch.attempts{" + failure + "}":                               3,
				"tokensource.attempt.failures{http.response.status_code=503," + fliqa + "}": 1,
			}},
		{"fetch ended without an answer",
			tokensource.Event{Kind: tokensource.FetchEnded, Attempts: 1, Err: context.DeadlineExceeded},
			map[string]float64{
				"tokensource.fetch.duration{" + failure + "}": 1,
				"tokensource.fetch.attempts{" + failure + "}": 1,
				"tokensource.attempt.failures{" + fliqa + "}": 1,
			}},
		{"retrying",
			tokensource.Event{Kind: tokensource.Retrying, Err: errUnavailable, Status: 429, Wait: time.Second},
			map[string]float64{"tokensource.attempt.failures{http.response.status_code=429," + fliqa + "}": 1}},
		{"waited for a token",
			tokensource.Event{Kind: tokensource.Waited, Duration: time.Millisecond},
			map[string]float64{"tokensource.wait.duration{" + success + "}": 1}},
		{"waited for a failure",
			tokensource.Event{Kind: tokensource.Waited, Duration: time.Millisecond, Err: errUnavailable},
			map[string]float64{"tokensource.wait.duration{" + failure + "}": 1}},
		{"cooling down",
			tokensource.Event{Kind: tokensource.CoolingDown, Err: errUnavailable, Wait: time.Second},
			map[string]float64{"tokensource.cooldown.answers{" + fliqa + "}": 1}},
		{"invalidated",
			tokensource.Event{Kind: tokensource.Invalidated},
			map[string]float64{"tokensource.invalidations{" + fliqa + "}": 1}},
		{"renewal started",
			tokensource.Event{Kind: tokensource.RenewalStarted, Expiry: in(time.Minute)},
			map[string]float64{"tokensource.renewals{" + fliqa + "}": 1}},
		{"renewal failed",
			tokensource.Event{Kind: tokensource.RenewalFailed, Err: errUnavailable, Wait: time.Second},
			map[string]float64{"tokensource.renewal.failures{" + fliqa + "}": 1}},
		{"store unavailable",
			tokensource.Event{Kind: tokensource.StoreUnavailable, Err: errUnavailable},
			map[string]float64{"tokensource.store.fallbacks{" + fliqa + "}": 1}},
		{"adopted a token",
			tokensource.Event{Kind: tokensource.Adopted, Expiry: in(time.Hour)},
			map[string]float64{
				"tokensource.store.adoptions{" + success + "}": 1,
				"tokensource.token.lifetime{" + fliqa + "}":    1,
			}},
		{"adopted a failure",
			tokensource.Event{Kind: tokensource.Adopted, Err: errUnavailable, Wait: time.Second},
			map[string]float64{"tokensource.store.adoptions{" + failure + "}": 1}},
		{"source added",
			tokensource.Event{Kind: tokensource.SourceAdded},
			map[string]float64{"tokensource.pool.sources{}": 1}},
		{"source dropped",
			tokensource.Event{Kind: tokensource.SourceDropped, Reason: "idle"},
			map[string]float64{
				"tokensource.pool.sources{}":                      -1,
				"tokensource.pool.drops{tokensource.reason=idle}": 1,
			}},
		{"source dropped for capacity",
			tokensource.Event{Kind: tokensource.SourceDropped, Reason: "capacity"},
			map[string]float64{
				"tokensource.pool.sources{}":                          -1,
				"tokensource.pool.drops{tokensource.reason=capacity}": 1,
			}},
		{"unknown kind", tokensource.Event{Kind: 99}, map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTelemetry(t)
			tt.event.Provider = tokensource.ProviderFliqa
			tm.Observe(tt.event)
			assert.Equal(t, tt.want, tm.points(t))
		})
	}
}

func TestObserveRecordsSecondsAndProviders(t *testing.T) {
	tm := newTelemetry(t)
	for _, p := range []tokensource.Provider{tokensource.ProviderFliqa, tokensource.ProviderFlinks,
		tokensource.ProviderClientCredentials, tokensource.ProviderCustom, "another"} {
		tm.Observe(tokensource.Event{Kind: tokensource.FetchEnded, Provider: p, Duration: 1500 * time.Millisecond,
			Attempts: 1})
		tm.Observe(tokensource.Event{Kind: tokensource.Waited, Provider: p, Duration: 250 * time.Millisecond})
		tm.Observe(tokensource.Event{Kind: tokensource.Waited, Provider: p, Duration: 500 * time.Millisecond})
	}
	sums := tm.sums(t)
	for _, p := range []string{"fliqa", "flinks", "client_credentials", "custom", "another"} {
		attrs := "{tokensource.outcome=success,tokensource.provider=" + p + "}"
		assert.Equal(t, 1.5, sums["tokensource.fetch.duration"+attrs], p)
		assert.Equal(t, 0.75, sums["tokensource.wait.duration"+attrs], p)
	}
	lifetime := newTelemetry(t)
	lifetime.Observe(tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa, Attempts: 1,
		Expiry: time.Now().Add(time.Hour)})
	assert.InDelta(t, 3600, lifetime.sums(t)["tokensource.token.lifetime{tokensource.provider=fliqa}"], 5)
}

// The README lists these; a change here is a change there.
func TestInstrumentsHaveTheirUnits(t *testing.T) {
	tm := newTelemetry(t)
	for _, e := range []tokensource.Event{
		{Kind: tokensource.FetchEnded, Attempts: 1, Expiry: time.Now().Add(time.Hour)},
		{Kind: tokensource.FetchEnded, Attempts: 1, Err: errUnavailable},
		{Kind: tokensource.Waited}, {Kind: tokensource.CoolingDown}, {Kind: tokensource.Invalidated},
		{Kind: tokensource.RenewalStarted}, {Kind: tokensource.RenewalFailed}, {Kind: tokensource.StoreUnavailable},
		{Kind: tokensource.Adopted}, {Kind: tokensource.SourceAdded}, {Kind: tokensource.SourceDropped, Reason: "idle"},
	} {
		e.Provider = tokensource.ProviderFlinks
		tm.Observe(e)
	}
	units := map[string]string{}
	for _, m := range tm.collect(t) {
		units[m.Name] = m.Unit
		assert.NotEmpty(t, m.Description, m.Name)
	}
	assert.Equal(t, map[string]string{
		"tokensource.fetch.duration":   "s",
		"tokensource.fetch.attempts":   "{request}",
		"tokensource.attempt.failures": "{request}",
		"tokensource.wait.duration":    "s",
		"tokensource.cooldown.answers": "{call}",
		"tokensource.invalidations":    "{token}",
		"tokensource.renewals":         "{renewal}",
		"tokensource.renewal.failures": "{renewal}",
		"tokensource.store.fallbacks":  "{fallback}",
		"tokensource.store.adoptions":  "{adoption}",
		"tokensource.token.lifetime":   "s",
		"tokensource.pool.sources":     "{source}",
		"tokensource.pool.drops":       "{source}",
	}, units)
}

func TestFetchSpan(t *testing.T) {
	const secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.span-token"
	tests := []struct {
		name        string
		event       tokensource.Event
		attrs       []attribute.KeyValue
		status      codes.Code
		description string
	}{
		{"a token",
			tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa,
				Duration: 1500 * time.Millisecond, Attempts: 2, Expiry: time.Now().Add(time.Hour)},
			[]attribute.KeyValue{attribute.String("tokensource.provider", "fliqa"),
				attribute.String("tokensource.outcome", "success"), attribute.Int("tokensource.attempts", 2)},
			codes.Unset, ""},
		{"an answer",
			tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderClientCredentials,
				Duration: time.Second, Attempts: 1, Status: 401, Code: "invalid_client",
				Err: fmt.Errorf("oauth2: cannot fetch token: 401\nResponse: {\"echo\":%q}", secret)},
			[]attribute.KeyValue{attribute.String("tokensource.provider", "client_credentials"),
				attribute.String("tokensource.outcome", "failure"), attribute.Int("tokensource.attempts", 1),
				attribute.Int("http.response.status_code", 401), attribute.String("tokensource.error.code", "invalid_client"),
				attribute.String("error.type", "401")},
			codes.Error, "tokensource: fetch failed: status 401, code invalid_client"},
		{"no answer in time",
			tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFlinks,
				Duration: 10 * time.Second, Attempts: 4,
				Err: fmt.Errorf("tokensource: %s: %w", secret, context.DeadlineExceeded)},
			[]attribute.KeyValue{attribute.String("tokensource.provider", "flinks"),
				attribute.String("tokensource.outcome", "failure"), attribute.Int("tokensource.attempts", 4),
				attribute.String("error.type", "deadline_exceeded")},
			codes.Error, "tokensource: fetch failed: deadline_exceeded"},
		{"another failure",
			tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderCustom,
				Duration: time.Millisecond, Attempts: 1, Err: errors.New(secret)},
			[]attribute.KeyValue{attribute.String("tokensource.provider", "custom"),
				attribute.String("tokensource.outcome", "failure"), attribute.Int("tokensource.attempts", 1),
				attribute.String("error.type", "_OTHER")},
			codes.Error, "tokensource: fetch failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTelemetry(t)
			before := time.Now()
			tm.Observe(tt.event)
			after := time.Now()
			spans := tm.spans.Ended()
			require.Len(t, spans, 1)
			s := spans[0]
			assert.Equal(t, "tokensource.fetch", s.Name())
			assert.Equal(t, tt.event.Duration, s.EndTime().Sub(s.StartTime()))
			assert.WithinRange(t, s.EndTime(), before, after)
			assert.False(t, s.Parent().IsValid())
			assert.ElementsMatch(t, tt.attrs, s.Attributes())
			assert.Equal(t, tt.status, s.Status().Code)
			assert.Equal(t, tt.description, s.Status().Description)
			assert.Empty(t, s.Events())
			assert.NotContains(t, fmt.Sprint(s.Attributes(), s.Status()), secret)
		})
	}
}

func TestOnlyFetchesMakeSpans(t *testing.T) {
	tm := newTelemetry(t)
	for k := tokensource.Retrying; k <= tokensource.SourceDropped; k++ {
		tm.Observe(tokensource.Event{Kind: k, Provider: tokensource.ProviderFliqa, Err: errUnavailable})
	}
	assert.Empty(t, tm.spans.Ended())
	assert.Empty(t, tm.spans.Started())
}

func TestNewUsesTheGlobalProviders(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	prevMP, prevTP := otel.GetMeterProvider(), otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetMeterProvider(prevMP); otel.SetTracerProvider(prevTP) })
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	for _, opts := range [][]tokensourceotel.Option{nil, {tokensourceotel.WithMeterProvider(nil),
		tokensourceotel.WithTracerProvider(nil)}} {
		obs, err := tokensourceotel.New(opts...)
		require.NoError(t, err)
		obs.Observe(tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa, Attempts: 1})
	}
	tm := &telemetry{reader: reader, spans: spans}
	assert.Equal(t, 2.0, tm.points(t)["tokensource.fetch.duration{tokensource.outcome=success,tokensource.provider=fliqa}"])
	assert.Len(t, spans.Ended(), 2)
}

// Every event but a fetch's costs the SDK's work and nothing more.
func TestObserveAllocatesNothingButSpans(t *testing.T) {
	tm := newTelemetry(t)
	for _, e := range []tokensource.Event{
		{Kind: tokensource.Waited, Duration: time.Millisecond},
		{Kind: tokensource.Waited, Err: errUnavailable},
		{Kind: tokensource.Retrying, Err: errUnavailable, Status: 503},
		{Kind: tokensource.CoolingDown, Err: errUnavailable},
		{Kind: tokensource.Invalidated},
		{Kind: tokensource.RenewalStarted},
		{Kind: tokensource.StoreUnavailable, Err: errUnavailable},
		{Kind: tokensource.Adopted, Expiry: time.Now().Add(time.Hour)},
		{Kind: tokensource.SourceDropped, Reason: "capacity"},
	} {
		e.Provider = tokensource.ProviderFlinks
		tm.Observe(e) // the SDK makes its series on first use
		assert.Zero(t, testing.AllocsPerRun(100, func() { tm.Observe(e) }), e.Kind.String())
	}
}

func TestSpanTextIsBoundedAndClean(t *testing.T) {
	const forged = "\x1b[31mforged\nlevel=ERROR msg=\"é\xff\"\r\u0085"
	big := strings.Repeat(forged, 1<<20/len(forged)+1) // 1 MiB
	tests := []struct {
		name, code, want string
	}{
		{"plain", "invalid_client", "invalid_client"},
		{"control characters", "bad\ncode\x1b[0m", "bad\uFFFDcode\uFFFD[0m"},
		{"invalid UTF-8", "bad\xffcode", "bad\uFFFDcode"},
		{"exactly the bound", strings.Repeat("é", 128), strings.Repeat("é", 128)},
		{"a rune across the bound", "a" + strings.Repeat("é", 128), "a" + strings.Repeat("é", 126) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTelemetry(t)
			tm.Observe(tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa,
				Attempts: 1, Err: errUnavailable, Status: 400, Code: tt.code})
			spans := tm.spans.Ended()
			require.Len(t, spans, 1)
			assert.Contains(t, spans[0].Attributes(), attribute.String("tokensource.error.code", tt.want))
		})
	}
	t.Run("1 MiB", func(t *testing.T) {
		tm := newTelemetry(t)
		tm.Observe(tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa,
			Identity: big, Attempts: 1, Err: errUnavailable, Status: 400, Code: big})
		spans := tm.spans.Ended()
		require.Len(t, spans, 1)
		texts := []string{spans[0].Status().Description}
		for _, kv := range spans[0].Attributes() {
			if kv.Value.Type() == attribute.STRING {
				texts = append(texts, kv.Value.AsString())
			}
		}
		for _, s := range texts {
			assert.LessOrEqual(t, len(s), 256)
			assert.True(t, utf8.ValidString(s), s)
			assert.False(t, strings.ContainsFunc(s, unicode.IsControl), "%q", s)
		}
		assert.True(t, strings.HasSuffix(spans[0].Status().Description, "…"), "marked as cut")
	})
}

func TestIdentityIsOnSpansOnly(t *testing.T) {
	tm := newTelemetry(t)
	for k := tokensource.FetchEnded; k <= tokensource.SourceDropped; k++ {
		tm.Observe(tokensource.Event{Kind: k, Provider: tokensource.ProviderFliqa, Identity: "production/my_slug",
			Attempts: 1, Expiry: time.Now().Add(time.Hour)})
	}
	for name := range tm.points(t) {
		assert.NotContains(t, name, "identity")
	}
	spans := tm.spans.Ended()
	require.Len(t, spans, 1)
	assert.Contains(t, spans[0].Attributes(), attribute.String("tokensource.identity", "production/my_slug"))
}
