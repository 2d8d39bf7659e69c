package tokensourceotel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// These tests hold a fetch's span to the trace of the request that waited
// for it, through real sources, a real token endpoint and a real API.

// newAPI is an API that answers every request with 204.
func newAPI(t *testing.T) *httptest.Server {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(api.Close)
	return api
}

// request sends a GET to url through client within a span of the app
// called name, and returns that span once ended.
func request(t *testing.T, tm *telemetry, client *http.Client, url, name string) trace.SpanContext {
	ctx, span := tm.tp.Tracer("app").Start(context.Background(), name)
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := client.Do(req)
	if assert.NoError(t, err) {
		resp.Body.Close()
	}
	return span.SpanContext()
}

// spansByName returns the ended spans by name, the last of each.
func spansByName(tm *telemetry) map[string]sdktrace.ReadOnlySpan {
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range tm.spans.Ended() {
		byName[s.Name()] = s
	}
	return byName
}

// fetches returns the ended spans tokensource.fetch, in the order they ended.
func fetches(tm *telemetry) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tm.spans.Ended() {
		if s.Name() == "tokensource.fetch" {
			out = append(out, s)
		}
	}
	return out
}

func TestAFetchIsAChildOfTheRequestThatStartedIt(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	api := newAPI(t)
	tm := newTelemetry(t)
	client := fliqaConfig(fake, tm.Observer).Client(context.Background())

	started := request(t, tm, client, api.URL, "request")
	request(t, tm, client, api.URL, "a hit")

	f := fetches(tm)
	require.Len(t, f, 1)
	assert.Equal(t, started.TraceID(), f[0].SpanContext().TraceID(), "in the request's trace")
	assert.Equal(t, started.SpanID(), f[0].Parent().SpanID(), "under the request's span")
	assert.Contains(t, f[0].Attributes(),
		attribute.String("tokensource.identity", fake.Environment+"/"+fake.TenantSlug))
}

func TestACallThatJoinsAFetchLinksToIt(t *testing.T) {
	api := newAPI(t)
	synctest.Test(t, func(t *testing.T) {
		tm := newTelemetry(t)
		release := make(chan struct{})
		src := tokensource.RetryTokenSourceWithObserver(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
			<-release
			return &oauth2.Token{AccessToken: "tok", Expiry: time.Now().Add(time.Hour)}, nil
		}), nil, tm.Observer)
		client := &http.Client{Transport: &tokensource.Transport{Source: src,
			Base: &http.Transport{DisableKeepAlives: true}}}

		var starter, joiner trace.SpanContext
		var wg sync.WaitGroup
		wg.Go(func() { starter = request(t, tm, client, api.URL, "starter") })
		synctest.Wait() // its fetch runs
		wg.Go(func() { joiner = request(t, tm, client, api.URL, "joiner") })
		synctest.Wait() // it waits for that fetch
		close(release)
		wg.Wait()

		f := fetches(tm)
		require.Len(t, f, 1)
		fetch := f[0].SpanContext()
		assert.Equal(t, starter.SpanID(), f[0].Parent().SpanID(), "the call that started it is its parent")
		require.Len(t, f[0].Links(), 1)
		assert.Equal(t, joiner, f[0].Links()[0].SpanContext, "it links to the call that joined it")
		spans := spansByName(tm)
		require.Len(t, spans["joiner"].Links(), 1)
		assert.Equal(t, fetch, spans["joiner"].Links()[0].SpanContext, "the call that joined links to it")
		assert.Empty(t, spans["starter"].Links())
	})
}

func TestABackgroundRenewalStartsItsOwnTrace(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t) // tokens live 360s
	api := newAPI(t)
	synctest.Test(t, func(t *testing.T) {
		tm := newTelemetry(t)
		cfg := fliqaConfig(fake, tm.Observer)
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		client := &http.Client{Transport: &tokensource.Transport{Source: cfg.TokenSource(t.Context()),
			Base: &http.Transport{DisableKeepAlives: true}}}

		first := request(t, tm, client, api.URL, "first")
		time.Sleep(181 * time.Second) // into the window: the next call renews in the background
		second := request(t, tm, client, api.URL, "second")
		synctest.Wait()

		f := fetches(tm)
		require.Len(t, f, 2)
		assert.Equal(t, first.SpanID(), f[0].Parent().SpanID())
		renewal := f[1]
		assert.False(t, renewal.Parent().IsValid(), "a root")
		assert.NotEqual(t, first.TraceID(), renewal.SpanContext().TraceID())
		assert.NotEqual(t, second.TraceID(), renewal.SpanContext().TraceID(), "not the call's that it served")
		assert.Equal(t, 2, fake.Requests())
	})
}

// sourceFunc is an oauth2.TokenSource of a user's own, for RetryTokenSource.
type sourceFunc func() (*oauth2.Token, error)

func (f sourceFunc) Token() (*oauth2.Token, error) { return f() }
