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

// api is an API that rejects, with status, requests carrying a token
// reject says is spent, answers others with their Authorization header,
// and records the bodies it got.
type api struct {
	*httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	bodies   []string
}

func newAPI(t *testing.T, status int, reject func(token string) bool) *api {
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.bodies = append(a.bodies, string(b))
		a.mu.Unlock()
		if reject(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(status)
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("Authorization"))
	}))
	t.Cleanup(a.Close)
	return a
}

func only(token string) func(string) bool { return func(t string) bool { return t == token } }

func TestTokensAreSafeToWrapInOAuth2NewClient(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	src := tokens.config("").TokenSource(context.Background())
	a, err := src.Token()
	require.NoError(t, err)
	b, err := src.Token()
	require.NoError(t, err)
	assert.NotSame(t, a, b, "each caller gets a token of its own")
	assert.Equal(t, a, b)

	// oauth2.NewClient sets a ReuseTokenSource over src, which writes to
	// each token it gets: -race fails here if callers share one.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, err := oauth2.NewClient(context.Background(), src).Get(api.URL)
			if assert.NoError(t, err) {
				resp.Body.Close()
			}
			tok, err := src.Token()
			if assert.NoError(t, err) {
				assert.True(t, tok.Valid())
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), tokens.requests.Load())
}

func TestTransportRefusesBrokenContracts(t *testing.T) {
	var auth atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
	}))
	t.Cleanup(api.Close)
	static := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"})
	nothing := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	get := func() *http.Request { r, _ := http.NewRequest(http.MethodGet, api.URL, nil); return r }

	t.Run("a request without a Header", func(t *testing.T) {
		req := get()
		req.Header = nil
		var resp *http.Response
		var err error
		require.NotPanics(t, func() { resp, err = (&tokensource.Transport{Source: static}).RoundTrip(req) })
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "Bearer tok", auth.Load(), "sent, authorized")
		assert.Nil(t, req.Header, "the caller's request is not written to")
	})
	t.Run("a Base's 401 without a Body", func(t *testing.T) {
		tokens := newFliqaServer(t, "", lasting(360, nil))
		var n atomic.Int32
		tr := &tokensource.Transport{
			Source: tokens.config("").TokenSource(context.Background()),
			Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if n.Add(1) == 1 {
					return &http.Response{StatusCode: http.StatusUnauthorized, Request: r}, nil
				}
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
			}),
		}
		var resp *http.Response
		var err error
		require.NotPanics(t, func() { resp, err = tr.RoundTrip(get()) })
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode, "replayed")
	})
	for _, tc := range []struct {
		name string
		tr   *tokensource.Transport
		req  *http.Request
		want string
	}{
		{"a Base that returns nothing", &tokensource.Transport{Source: static, Base: nothing}, get(),
			"tokensource: Transport.Base (tokensource_test.roundTripFunc) returned neither a response nor an error"},
		{"a Source that returns nothing", &tokensource.Transport{Source: sourceFunc(func() (*oauth2.Token, error) { return nil, nil })}, get(),
			"tokensource: Transport.Source (tokensource_test.sourceFunc) returned neither a token nor an error"},
		{"no request", &tokensource.Transport{Source: static}, nil, "tokensource: Transport.RoundTrip needs a request with a URL"},
		{"no URL", &tokensource.Transport{Source: static}, &http.Request{Method: http.MethodGet}, "tokensource: Transport.RoundTrip needs a request with a URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var err error
			require.NotPanics(t, func() { resp, err = tc.tr.RoundTrip(tc.req) })
			assert.Nil(t, resp)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}
