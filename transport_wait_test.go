package tokensource_test

import (
	"context"
	"io"
	"net/http"
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
