package tokensource_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

const (
	testKey    = "key-123"
	testSecret = "s3cret-api-value"
	testSlug   = "my_slug"
	testToken  = "eyJhbGciOiJIUzI1NiJ9.test-access-token"
)

// fliqaServer is a Fliqa token endpoint under prefix that checks every
// request and answers request n (from 1) with respond.
type fliqaServer struct{ *endpoint }

func newFliqaServer(t *testing.T, prefix string, respond func(w http.ResponseWriter, n int)) *fliqaServer {
	t.Helper()
	return &fliqaServer{newEndpoint(t, func(r *http.Request) {
		assert.Equal(t, http.MethodGet, r.Method)
		assert.Equal(t, prefix+"/service/auth/token/sandbox/"+testSlug, r.URL.Path)
		assert.Equal(t, testKey, r.Header.Get("Api-Key"))
		assert.Equal(t, testSecret, r.Header.Get("Api-Secret"))
		assert.Equal(t, "application/json", r.Header.Get("Accept"))
	}, ignoringBody(respond))}
}

func (s *fliqaServer) config(prefix string) *tokensource.FliqaConfig {
	return &tokensource.FliqaConfig{
		APIKey:      testKey,
		APISecret:   testSecret,
		Environment: tokensource.FliqaSandbox,
		TenantSlug:  testSlug,
		BaseURL:     s.URL + prefix,
	}
}

// fliqaOK answers with a Fliqa token that expires in 360 seconds.
func fliqaOK(w http.ResponseWriter, _ int) {
	fmt.Fprintf(w, `{"accessToken":%q,"expires":"2025-10-30T15:47:48.759Z","expiresIn":360,"scope":["account_owner","payments"]}`, testToken)
}

// status answers with code and a Fliqa error body.
func status(code int) func(http.ResponseWriter, int) {
	return func(w http.ResponseWriter, _ int) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"errorCode":"other","errorMessage":"status %d"}`, code)
	}
}

func TestFliqaRequestAndToken(t *testing.T) {
	for _, tc := range []struct{ name, prefix, suffix string }{
		{name: "bare host"},
		{name: "trailing slash", suffix: "/"},
		{name: "path prefix", prefix: "/api/v2"},
		{name: "path prefix and trailing slash", prefix: "/api/v2", suffix: "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, tc.prefix, func(w http.ResponseWriter, n int) {
				time.Sleep(50 * time.Millisecond) // latency, which must not lengthen the token's life
				fliqaOK(w, n)
			})
			cfg := srv.config(tc.prefix + tc.suffix)
			before := time.Now()
			tok, err := cfg.Token(t.Context())
			require.NoError(t, err)
			assert.Equal(t, testToken, tok.AccessToken)
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.Equal(t, int64(360), tok.ExpiresIn)
			assert.WithinRange(t, tok.Expiry, before.Add(360*time.Second), before.Add(360*time.Second+40*time.Millisecond),
				"expiry counts from when the request was sent")
			assert.Equal(t, []string{"account_owner", "payments"}, tokensource.Scopes(tok))
			assert.Equal(t, []any{"account_owner", "payments"}, tok.Extra("scope"))
			assert.Equal(t, int32(1), srv.requests.Load())
		})
	}
}

func TestFliqaExpiry(t *testing.T) {
	expires := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Millisecond) // within MaxLifetime: a later one is cut
	for _, tc := range []struct {
		name string
		body string
		want func(sent time.Time) time.Time
	}{
		{"expires when no expiresIn", `{"accessToken":"a","expires":"` + expires.Format("2006-01-02T15:04:05.000Z") + `"}`,
			func(time.Time) time.Time { return expires }},
		{"expiresIn wins over expires", `{"accessToken":"a","expires":"2031-10-30T15:47:48Z","expiresIn":60}`,
			func(sent time.Time) time.Time { return sent.Add(time.Minute) }},
		{"no expiry lives five minutes, not forever", `{"accessToken":"a"}`,
			func(sent time.Time) time.Time { return sent.Add(5 * time.Minute) }},
		{"zero expiresIn counts as none", `{"accessToken":"a","expiresIn":0}`,
			func(sent time.Time) time.Time { return sent.Add(5 * time.Minute) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) { fmt.Fprint(w, tc.body) })
			sent := time.Now()
			tok, err := srv.config("").Token(t.Context())
			require.NoError(t, err)
			assert.WithinDuration(t, tc.want(sent), tok.Expiry, 20*time.Millisecond)
		})
	}
}

func TestFliqaInvalidConfigSendsNothing(t *testing.T) {
	srv := newFliqaServer(t, "", fliqaOK)
	for _, tc := range []struct {
		name   string
		change func(*tokensource.FliqaConfig)
		want   string
	}{
		{"no API key", func(c *tokensource.FliqaConfig) { c.APIKey = "" }, "FliqaConfig.APIKey is required"},
		{"no API secret", func(c *tokensource.FliqaConfig) { c.APISecret = "" }, "FliqaConfig.APISecret is required"},
		{"no environment", func(c *tokensource.FliqaConfig) { c.Environment = "" }, `FliqaConfig.Environment must be "production" or "sandbox", not ""`},
		{"unknown environment", func(c *tokensource.FliqaConfig) { c.Environment = "prod" }, `FliqaConfig.Environment must be "production" or "sandbox", not "prod"`},
		{"no slug", func(c *tokensource.FliqaConfig) { c.TenantSlug = "" }, "FliqaConfig.TenantSlug must be one path segment"},
		{"dot slug", func(c *tokensource.FliqaConfig) { c.TenantSlug = "." }, "FliqaConfig.TenantSlug"},
		{"dot-dot slug", func(c *tokensource.FliqaConfig) { c.TenantSlug = ".." }, "FliqaConfig.TenantSlug"},
		{"slug leaving its segment", func(c *tokensource.FliqaConfig) { c.TenantSlug = "../../admin" }, "FliqaConfig.TenantSlug"},
		{"slug with backslash", func(c *tokensource.FliqaConfig) { c.TenantSlug = `a\b` }, "FliqaConfig.TenantSlug"},
		{"no base URL", func(c *tokensource.FliqaConfig) { c.BaseURL = "" }, "FliqaConfig.BaseURL is required"},
		{"base URL that does not parse", func(c *tokensource.FliqaConfig) { c.BaseURL = "http://[::1" }, "FliqaConfig.BaseURL does not parse"},
		{"relative base URL", func(c *tokensource.FliqaConfig) { c.BaseURL = "api.example.com" }, "FliqaConfig.BaseURL must be an absolute http or https URL"},
		{"base URL with query", func(c *tokensource.FliqaConfig) { c.BaseURL = srv.URL + "?x=1" }, "FliqaConfig.BaseURL must be"},
		{"negative expiry delta", func(c *tokensource.FliqaConfig) { c.ExpiryDelta = -time.Second }, "FliqaConfig.ExpiryDelta must not be negative"},
		{"negative retry interval", func(c *tokensource.FliqaConfig) { c.Retry = &tokensource.RetryPolicy{InitialInterval: -1} }, "FliqaConfig.Retry intervals must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config("")
			tc.change(cfg)
			_, err := cfg.Token(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tokensource: "+tc.want)
			src := cfg.TokenSource(t.Context())
			_, err = src.Token()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "tokensource: "+tc.want)
			assert.Equal(t, int32(0), srv.requests.Load(), "no request for an invalid config")
		})
	}
}

func TestFliqaSlugIsEscaped(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		fliqaOK(w, 1)
	}))
	defer srv.Close()
	cfg := &tokensource.FliqaConfig{APIKey: testKey, APISecret: testSecret, Environment: tokensource.FliqaProduction,
		TenantSlug: "a b?c#d", BaseURL: srv.URL}
	_, err := cfg.Token(t.Context())
	require.NoError(t, err)
	assert.Equal(t, "/service/auth/token/production/a%20b%3Fc%23d", got)
}

func TestFliqaReusesConnection(t *testing.T) {
	srv := newFliqaServer(t, "", fliqaOK)
	cfg := srv.config("")
	cfg.HTTPClient = &http.Client{Transport: &http.Transport{}}
	for range 20 {
		_, err := cfg.Token(t.Context())
		require.NoError(t, err)
	}
	assert.Equal(t, int32(20), srv.requests.Load())
	assert.Equal(t, int32(1), srv.conns.Load(), "bodies are drained and closed, so one connection serves all")
}

func TestFliqaHTTPClientFromContext(t *testing.T) {
	srv := newFliqaServer(t, "", fliqaOK)
	var used atomic.Bool
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Store(true)
		return http.DefaultTransport.RoundTrip(r)
	})}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)
	_, err := srv.config("").Token(ctx)
	require.NoError(t, err)
	assert.True(t, used.Load())
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFliqaTokenSourceCaches(t *testing.T) {
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		time.Sleep(20 * time.Millisecond) // keep the fetch in flight while the callers pile in
		fliqaOK(w, n)
	})
	src := srv.config("").TokenSource(t.Context())
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			tok, err := src.Token()
			assert.NoError(t, err)
			assert.Equal(t, testToken, tok.AccessToken)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), srv.requests.Load(), "50 callers on a cold source make one request")
}

func TestFliqaClientSendsToken(t *testing.T) {
	srv := newFliqaServer(t, "", fliqaOK)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(r.Header.Get("Authorization"))
	}))
	defer api.Close()
	client := srv.config("").Client(t.Context())
	for range 3 {
		resp, err := client.Get(api.URL)
		require.NoError(t, err)
		var auth string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&auth))
		resp.Body.Close()
		assert.Equal(t, "Bearer "+testToken, auth)
	}
	assert.Equal(t, int32(1), srv.requests.Load())
}
