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

func TestAnAPIThatRejectsEveryTokenCostsFewTokenRequests(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(3600, nil))
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return true })
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := tokens.config("")
		cfg.HTTPClient = client
		cfg.Retry = &tokensource.RetryPolicy{MaxInterval: time.Minute} // the first pause
		apiClient := &http.Client{Transport: &tokensource.Transport{Source: cfg.TokenSource(t.Context()), Base: client.Transport}}
		get := func() {
			resp, err := apiClient.Get(api.URL)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		}
		for range 50 {
			get()
		}
		assert.Equal(t, int32(2), tokens.requests.Load(), "a new token for the first 401, then none within the pause")
		time.Sleep(time.Minute)
		get()
		assert.Equal(t, int32(3), tokens.requests.Load(), "after the pause, a new token")
		time.Sleep(time.Minute)
		get()
		assert.Equal(t, int32(3), tokens.requests.Load(), "rejected too: the pause doubled")
		time.Sleep(time.Minute)
		get()
		assert.Equal(t, int32(4), tokens.requests.Load())
	})
}

func TestA401ThatNeverEndsDoesNotHoldTheReplay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first int // bytes of the 401's body sent before it stalls
	}{
		{"headers, then nothing", 0},
		{"a body trickling in", 1 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", lasting(360, nil))
			release, replayed := make(chan struct{}), make(chan struct{})
			var requests atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if requests.Add(1) > 1 {
					close(replayed)
					_, _ = io.WriteString(w, "ok")
					return
				}
				w.Header().Set("Content-Length", "65536")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write(make([]byte, tc.first))
				w.(http.Flusher).Flush()
				select { // the rest trickles in only after the replay, if ever
				case <-replayed:
				case <-release:
					return
				}
				for range 8 {
					_, _ = w.Write(make([]byte, 1<<10))
					w.(http.Flusher).Flush()
				}
				<-release
			}))
			t.Cleanup(api.Close)
			t.Cleanup(func() { close(release) }) // before api.Close, which waits for the handler

			done := make(chan struct{})
			var resp *http.Response
			var err error
			go func() {
				defer close(done)
				resp, err = tokens.config("").Client(context.Background()).Get(api.URL)
			}()
			select {
			case <-done:
			case <-time.After(time.Minute): // a hang, not a slow machine
				t.Fatal("the replay waited for the body of the 401")
			}
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, "ok", string(b))
			assert.Equal(t, int32(2), requests.Load())
			assert.Equal(t, int32(2), tokens.requests.Load())
		})
	}
}

func TestAnAPIThatRejectsEveryTokenBacksOffAtAnyRate(t *testing.T) {
	// A request every 2.5 pauses: with the pause doubling from p, a token
	// is dropped at most at 0, p, 3p, 7p, 15p and 31p within the 47.5p of
	// 20 requests: 7 tokens with the first. Without the schedule, 21.
	for _, tc := range []struct {
		name  string
		every time.Duration
		retry *tokensource.RetryPolicy
	}{
		{"a request every 500ms, MaxInterval 200ms", 500 * time.Millisecond,
			&tokensource.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxInterval: 200 * time.Millisecond}},
		{"a request every 5s, the default policy", 5 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", lasting(3600, nil))
			api := newAPI(t, http.StatusUnauthorized, func(string) bool { return true })
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := tokens.config("")
				cfg.HTTPClient, cfg.Retry = client, tc.retry
				apiClient := cfg.Client(context.WithValue(t.Context(), oauth2.HTTPClient, client))
				for range 20 {
					resp, err := apiClient.Get(api.URL)
					require.NoError(t, err)
					resp.Body.Close()
					assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
					time.Sleep(tc.every)
				}
				assert.LessOrEqual(t, tokens.requests.Load(), int32(7), "bounded by the doubling pause")
				assert.GreaterOrEqual(t, tokens.requests.Load(), int32(5), "a new token each time the pause allows")
			})
		})
	}
}
