package tokensource_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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

func TestAPanickingSourceReachesTheCallerThroughTheClient(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	client := tokensource.NewClient(context.Background(), tokensource.RetryTokenSource(context.Background(),
		sourceFunc(func() (*oauth2.Token, error) { panic("disk full") }), nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // the wait for a token runs aside
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL, nil)
	assert.PanicsWithValue(t, "disk full", func() { _, _ = client.Do(req) }, "not a crash of the process")
	assert.Equal(t, int32(0), api.requests.Load())
}

func TestAGivenTokenIsServedUntilExpiryDelta(t *testing.T) {
	srv := newFlinksServer(t, flinksOK)
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{8 * time.Second, "access-1"}, // within the 10s ExpiryDelta: replaced, as x/oauth2 would
		{time.Hour, "given"},
	} {
		src := srv.config().TokenSource(context.Background(),
			&oauth2.Token{AccessToken: "given", RefreshToken: flinksRefresh, Expiry: time.Now().Add(tc.left)})
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, tc.want, tok.AccessToken, "%v left", tc.left)
	}
}

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

// hangingSource is a source of the user's whose Token waits for release,
// then returns a token; it counts its calls.
type hangingSource struct {
	calls   atomic.Int32
	release chan struct{}
}

func (s *hangingSource) Token() (*oauth2.Token, error) {
	s.calls.Add(1)
	<-s.release
	return &oauth2.Token{AccessToken: "late"}, nil
}

// stacksWith counts the goroutines, in the whole process, whose stack holds
// frame.
func stacksWith(frame string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), frame)
		}
		buf = make([]byte, 2*len(buf))
	}
}

// echoAuth answers every request with its Authorization header, in memory.
var echoAuth = roundTripFunc(func(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(r.Header.Get("Authorization"))),
		Request: r}, nil
})

func TestRequestsShareOneCallOfASourceThatNeverReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &hangingSource{release: make(chan struct{})}
		client := tokensource.NewClient(context.WithValue(context.Background(), oauth2.HTTPClient,
			&http.Client{Transport: echoAuth}), src)
		send := func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/", nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}
		var wg sync.WaitGroup
		for range 1000 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				_, err := send(ctx)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, 1, stacksWith("(*hangingSource).Token("), "one call left behind, not one per request")
		assert.Equal(t, int32(1), src.calls.Load())

		for range 10 { // with a context that cannot end: they join the call too
			wg.Go(func() {
				got, err := send(context.Background())
				assert.NoError(t, err)
				assert.Equal(t, "Bearer late", got)
			})
		}
		synctest.Wait()
		close(src.release)
		wg.Wait()
		assert.Equal(t, int32(1), src.calls.Load())
		got, err := send(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "Bearer late", got)
		assert.Equal(t, int32(2), src.calls.Load(), "a request after the call ended makes the next one")
	})
}

func TestRequestsJoiningASourceThatPanicsGetAnError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var calls atomic.Int32
		client := &http.Client{Transport: &tokensource.Transport{Base: echoAuth, Source: sourceFunc(func() (*oauth2.Token, error) {
			if calls.Add(1) == 1 {
				<-release
				panic("source bug")
			}
			return &oauth2.Token{AccessToken: "tok"}, nil
		})}}
		get := func() error {
			resp, err := client.Get("https://api.example.com/")
			if err == nil {
				resp.Body.Close()
			}
			return err
		}
		first := make(chan any, 1)
		go func() {
			defer func() { first <- recover() }()
			_ = get()
		}()
		synctest.Wait()
		joined := make(chan error, 1)
		go func() { joined <- get() }()
		synctest.Wait()
		close(release)
		assert.Equal(t, "source bug", <-first, "the request that made the call gets the panic")
		assert.ErrorContains(t, <-joined, "tokensource: the token source (tokensource_test.sourceFunc) panicked with a string")
		require.NoError(t, get(), "the next request makes a new call")
		assert.Equal(t, int32(2), calls.Load())
	})
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
