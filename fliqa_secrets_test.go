package tokensource_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

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
