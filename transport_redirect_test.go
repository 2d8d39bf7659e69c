package tokensource_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func TestATokenNeverFollowsARedirectElsewhere(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	var elsewhereAuth []string
	var mu sync.Mutex
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhereAuth = append(elsewhereAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(elsewhere.Close)
	var finalAuth atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/final":
			finalAuth.Store(r.Header.Get("Authorization"))
		case "/elsewhere":
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
		case "/found":
			http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusFound)
		}
	}))
	t.Cleanup(api.Close)
	client := tokens.config("").Client(context.Background())

	resp, err := client.Get(api.URL + "/same")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "Bearer tok-1", finalAuth.Load(), "a redirect on the same host keeps the token")

	for _, path := range []string{"/elsewhere", "/found"} {
		resp, err = client.Post(api.URL+path, "text/plain", strings.NewReader("payment"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the other host's answer, returned as it is")
	}
	assert.Equal(t, []string{"", ""}, elsewhereAuth, "another host (another port of the same name) never sees the token")
	assert.Equal(t, int32(1), tokens.requests.Load(), "its 401 did not invalidate the token")
}

func TestATokenNeverFollowsARedirectToPlainHTTP(t *testing.T) {
	var sent []string
	tr := &tokensource.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}),
		Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = append(sent, r.URL.String()+" "+r.Header.Get("Authorization"))
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
		}),
	}
	first, _ := http.NewRequest(http.MethodGet, "https://api.example:8443/a", nil)
	hop := func(from *http.Request, to string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, to, nil)
		r.Response = &http.Response{StatusCode: http.StatusFound, Request: from}
		return r
	}
	https := hop(first, "https://API.example:8443/b")
	for _, r := range []*http.Request{
		first,
		https,
		hop(https, "http://api.example:8443/c"),
		hop(first, "https://api.example/d"),
		hop(hop(first, "https://other.example:8443/e"), "https://api.example:8443/f"),
	} {
		resp, err := tr.RoundTrip(r)
		require.NoError(t, err)
		resp.Body.Close()
	}
	assert.Equal(t, []string{
		"https://api.example:8443/a Bearer tok",
		"https://API.example:8443/b Bearer tok",
		"http://api.example:8443/c ",
		"https://api.example/d ",
		"https://api.example:8443/f ",
	}, sent)
}

func TestTheTokenRequestAndTransportShareOneRedirectRule(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.Header.Get("Authorization"), "another port never sees the token")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(other.Close)
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	var srvURL string // the server's URL with its host as "localhost"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upper := strings.Replace(srvURL, "localhost", "LOCALHOST", 1) // the same host, in other case
		switch r.URL.Path {
		case "/token-moved":
			http.Redirect(w, r, upper+"/token", http.StatusTemporaryRedirect)
		case "/token-away", "/api-away":
			http.Redirect(w, r, otherURL+"/steal", http.StatusTemporaryRedirect)
		case "/token":
			_, _ = io.WriteString(w, `{"access_token":"at-1","expires_in":60}`)
		case "/api-moved":
			http.Redirect(w, r, upper+"/api", http.StatusFound)
		case "/api":
			_, _ = io.WriteString(w, r.Header.Get("Authorization"))
		}
	}))
	t.Cleanup(srv.Close)
	srvURL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, tc := range []struct {
		name, path string
		follows    bool
	}{
		{"the same host in other case", "-moved", true},
		{"another port", "-away", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "secret-1", TokenURL: srvURL + "/token" + tc.path}
			tok, err := cfg.Token(t.Context())
			client := &http.Client{Transport: &tokensource.Transport{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at-2"})}}
			resp, apiErr := client.Get(srvURL + "/api" + tc.path)
			require.NoError(t, apiErr)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.follows {
				require.NoError(t, err)
				assert.Equal(t, "at-1", tok.AccessToken, "the token request follows")
				assert.Equal(t, "Bearer at-2", string(body), "the API request carries its token")
			} else {
				require.ErrorIs(t, err, tokensource.ErrRedirect, "the token request refuses")
				assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the API request goes without its token")
			}
		})
	}
}
