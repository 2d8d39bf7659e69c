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
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// api is an API that rejects, with status, requests carrying a token
// reject says is spent, and records the bodies it got.
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
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(a.Close)
	return a
}

func only(token string) func(string) bool { return func(t string) bool { return t == token } }

func TestClientRecoversFromARejectedToken(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request func(url string) *http.Request
		body    string
	}{
		{"GET", func(url string) *http.Request { r, _ := http.NewRequest(http.MethodGet, url, nil); return r }, ""},
		{"POST with a replayable body", func(url string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"amount":100}`))
			return r
		}, `{"amount":100}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", lasting(360, nil))
			api := newAPI(t, http.StatusUnauthorized, only("tok-1")) // as if revoked early
			client := tokens.config("").Client(context.Background())
			resp, err := client.Do(tc.request(api.URL))
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, int32(2), tokens.requests.Load(), "one new token")
			assert.Equal(t, []string{tc.body, tc.body}, api.bodies, "the request, sent again whole")
		})
	}
}

func TestClientDoesNotReplayWhatItCannot(t *testing.T) {
	t.Run("a body without GetBody", func(t *testing.T) {
		tokens := newFliqaServer(t, "", lasting(360, nil))
		api := newAPI(t, http.StatusUnauthorized, only("tok-1"))
		client := tokens.config("").Client(context.Background())
		req, _ := http.NewRequest(http.MethodPost, api.URL, io.NopCloser(strings.NewReader("once")))
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the caller gets the 401")
		assert.Equal(t, int32(1), api.requests.Load())

		resp, err = client.Get(api.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "yet the rejected token was dropped")
	})
	t.Run("a second 401", func(t *testing.T) {
		tokens := newFliqaServer(t, "", lasting(360, nil))
		api := newAPI(t, http.StatusUnauthorized, func(string) bool { return true })
		resp, err := tokens.config("").Client(context.Background()).Get(api.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, int32(2), api.requests.Load(), "sent twice, never more")
		assert.Equal(t, int32(2), tokens.requests.Load())
	})
	t.Run("a 403", func(t *testing.T) {
		tokens := newFliqaServer(t, "", lasting(360, nil))
		api := newAPI(t, http.StatusForbidden, func(string) bool { return true })
		resp, err := tokens.config("").Client(context.Background()).Get(api.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Equal(t, int32(1), api.requests.Load(), "a permission answer is not retried")
		assert.Equal(t, int32(1), tokens.requests.Load())
	})
}

func TestManyRejectionsOfOneTokenCostOneFetch(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	api := newAPI(t, http.StatusUnauthorized, only("tok-1"))
	src := tokens.config("").TokenSource(context.Background())
	client := &http.Client{Transport: &tokensource.Transport{Source: src}}
	_, err := src.Token()
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			resp, err := client.Get(api.URL)
			if assert.NoError(t, err) {
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(2), tokens.requests.Load(), "twenty 401s for tok-1, one new token")
}

func TestInvalidate(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	src := tokens.config("").TokenSource(context.Background())
	first, err := src.Token()
	require.NoError(t, err)
	assert.True(t, tokensource.Invalidate(src, first))
	second, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "tok-2", second.AccessToken)

	assert.False(t, tokensource.Invalidate(src, first), "already replaced")
	again, err := src.Token()
	require.NoError(t, err)
	assert.Equal(t, "tok-2", again.AccessToken)
	assert.Equal(t, int32(2), tokens.requests.Load(), "a stale rejection costs no fetch")

	assert.False(t, tokensource.Invalidate(oauth2.StaticTokenSource(first), first), "not a source of this package")
}

func TestRequestDeadlineBoundsTheWaitForAToken(t *testing.T) {
	release := make(chan struct{})
	tokens := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		<-release
		lasting(360, nil)(w, n)
	})
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	client := tokens.config("").Client(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL, nil)
	_, err := client.Do(req)
	require.ErrorIs(t, err, context.DeadlineExceeded, "it returned while the token endpoint still held the fetch")
	assert.Contains(t, err.Error(), "tokensource: request ended while waiting for a token")
	assert.Equal(t, int32(0), api.requests.Load())

	close(release) // the fetch goes on for the others
	resp, err := client.Get(api.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, int32(1), tokens.requests.Load(), "the same fetch served the next request")
}
