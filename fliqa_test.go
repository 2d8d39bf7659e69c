package tokensource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
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

func TestFliqaErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   tokensource.Error
	}{
		{"401 with every field", 401,
			`{"errorMessage":"Not authorized","errorCode":"unauthorized","errorSubCode":"api_key_secret_header_must_be_provided","documentationUrl":"https://documentation.fliqa.io/api/errors/unauthorized","requestId":"554099e7d0b648d7b96bc31c148425b8","resourceId":"9c14c6f2f0ee4a54a280be3c18ec1dba"}`,
			tokensource.Error{StatusCode: 401, Code: "unauthorized", SubCode: "api_key_secret_header_must_be_provided", Message: "Not authorized",
				DocumentationURL: "https://documentation.fliqa.io/api/errors/unauthorized", RequestID: "554099e7d0b648d7b96bc31c148425b8", ResourceID: "9c14c6f2f0ee4a54a280be3c18ec1dba"}},
		{"403 production access", 403,
			`{"errorCode":"forbidden","errorMessage":"Tenant with slug 'my_slug' does not have 'production' access.","documentationUrl":"https://documentation.fliqa.io/api/errors/forbidden"}`,
			tokensource.Error{StatusCode: 403, Code: "forbidden", Message: "Tenant with slug 'my_slug' does not have 'production' access.",
				DocumentationURL: "https://documentation.fliqa.io/api/errors/forbidden"}},
		{"400 without sub code", 400, `{"errorCode":"bad_request","errorMessage":"Bad request"}`,
			tokensource.Error{StatusCode: 400, Code: "bad_request", Message: "Bad request"}},
		{"404 with a body that is not JSON", 404, `<html>not found</html>`, tokensource.Error{StatusCode: 404}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			_, err := srv.config("").Token(t.Context())
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, int32(1), srv.requests.Load(), "4xx is never retried")
			assert.Equal(t, tc.want.StatusCode, e.StatusCode)
			assert.Equal(t, tc.want.Code, e.Code)
			assert.Equal(t, tc.want.SubCode, e.SubCode)
			assert.Equal(t, tc.want.Message, e.Message)
			assert.Equal(t, tc.want.DocumentationURL, e.DocumentationURL)
			assert.Equal(t, tc.want.RequestID, e.RequestID)
			assert.Equal(t, tc.want.ResourceID, e.ResourceID)
			assert.Equal(t, tc.body, string(e.Body))
			assert.True(t, strings.HasPrefix(err.Error(), "tokensource: GET "+srv.URL), err.Error())
			assert.Contains(t, err.Error(), tc.want.Message)

			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re, "code written for x/oauth2 keeps working")
			assert.Equal(t, tc.status, re.Response.StatusCode)
			assert.Equal(t, tc.body, string(re.Body))
			assert.Equal(t, tc.want.Code, re.ErrorCode)
			assert.Equal(t, tc.want.Message, re.ErrorDescription)
			assert.Equal(t, tc.want.DocumentationURL, re.ErrorURI)
		})
	}
}

func TestFliqaUnusableSuccessIsNotRetried(t *testing.T) {
	huge := `{"accessToken":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `<html>maintenance</html>`, "200 OK: response is not a JSON object"},
		{"JSON but not an object", `["a"]`, "200 OK: response is not a JSON object"},
		{"no access token", `{"expiresIn":360}`, "200 OK: response has no access token"},
		{"bad expiresIn", `{"accessToken":"a-secret-token","expiresIn":"soon"}`, "200 OK: expiresIn is not a valid number of seconds"},
		{"bad expires", `{"accessToken":"a","expires":"tomorrow"}`, "200 OK: expires is not an RFC 3339 time"},
		{"over 1 MiB", huge, "200 OK: response body exceeds 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) { fmt.Fprint(w, tc.body) })
			_, err := srv.config("").Token(t.Context())
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 200, e.StatusCode)
			assert.Contains(t, err.Error(), tc.want)
			assert.LessOrEqual(t, len(e.Body), 1<<20)
			assert.NotContains(t, string(e.Body), "a-secret-token", "a token in a failed response is redacted too")
			assert.Equal(t, int32(1), srv.requests.Load())
		})
	}
}

func TestFliqaNeverShowsSecrets(t *testing.T) {
	// A server that echoes what it was sent, as careless error pages do.
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"errorCode":"unauthorized","errorMessage":"secret %s is not valid"}`, testSecret)
	})
	cfg := srv.config("")
	cfg.HTTPClient = &http.Client{}
	_, err := cfg.Token(t.Context())
	var e *tokensource.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "secret [redacted] is not valid", e.Message)
	assert.NotContains(t, string(e.Body), testSecret)
	for _, s := range []string{
		err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err),
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", *cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", *cfg), fmt.Sprint(cfg),
	} {
		assert.NotContains(t, s, testSecret)
	}
	assert.Contains(t, fmt.Sprintf("%+v", *cfg), "APISecret:[redacted]")
	assert.Contains(t, fmt.Sprintf("%#v", cfg), `tokensource.FliqaConfig{APIKey:"key-123", APISecret:"[redacted]"`)
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

func TestErrorsAsOnlyForRetrieveError(t *testing.T) {
	e := &tokensource.Error{StatusCode: 500}
	var target *json.SyntaxError
	assert.False(t, errors.As(e, &target))
}

func TestFliqaShortSecretDoesNotMangleTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fliqaOK(w, 1) }))
	defer srv.Close()
	cfg := &tokensource.FliqaConfig{APIKey: testKey, APISecret: "e", Environment: tokensource.FliqaSandbox,
		TenantSlug: testSlug, BaseURL: srv.URL}
	tok, err := cfg.Token(t.Context())
	require.NoError(t, err, "redaction is for what is reported, never for the token")
	assert.Equal(t, testToken, tok.AccessToken)
}

func TestFliqaSecretNeverFollowsARedirectElsewhere(t *testing.T) {
	var leaked atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Api-Secret") != "" {
			leaked.Add(1)
		}
		fliqaOK(w, 1)
	}))
	defer elsewhere.Close()
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		if n == 1 { // a same-host redirect is followed
			w.Header().Set("Location", "/service/auth/token/sandbox/"+testSlug)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Location", elsewhere.URL+"/service/auth/token/sandbox/"+testSlug)
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	_, err := srv.config("").Token(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redirect to another host or to plain http refused")
	assert.Equal(t, int32(2), srv.requests.Load(), "followed on the same host, then refused, and not retried")
	assert.Zero(t, leaked.Load())
}
