package tokensource_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// TestNoPileUpBehindAFailingFetch runs on the real clock: the callers queue
// on oauth2.ReuseTokenSource's mutex, which a synctest bubble does not count
// as blocked. Retry-After: 1 makes a retry cycle exactly three attempts.
func TestNoPileUpBehindAFailingFetch(t *testing.T) {
	srv := newFliqaServer(t, "", withRetryAfter("1", 503))
	cfg := srv.config("")
	cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: 2500 * time.Millisecond}
	src := cfg.TokenSource(t.Context())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := src.Token()
			var e *tokensource.Error
			assert.ErrorAs(t, err, &e, "every caller gets the one cycle's failure")
		})
	}
	wg.Wait()
	assert.Equal(t, int32(3), srv.requests.Load(), "one retry cycle for all 20 callers, none after it")
}

func TestFailedFetchCoolsDown(t *testing.T) {
	var open atomic.Bool
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		if open.Load() {
			fliqaOK(w, n)
			return
		}
		status(503)(w, n)
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		src := cfg.TokenSource(t.Context())

		_, first := src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, first, &e)
		cycle := srv.requests.Load()
		assert.GreaterOrEqual(t, cycle, int32(4), "the first failure is a whole retry cycle")

		_, err := src.Token()
		assert.ErrorIs(t, err, first, "the same failure, shared")
		assert.Contains(t, err.Error(), "tokensource: last fetch failed, next attempt in ")
		assert.Equal(t, cycle, srv.requests.Load(), "no request while cooling down")

		// Call ten times a second: each probe is one request, and the pauses
		// between probes grow up to MaxCoolDown.
		var probes []time.Time
		for start := time.Now(); time.Since(start) < time.Hour; time.Sleep(100 * time.Millisecond) {
			before := srv.requests.Load()
			_, err := src.Token()
			require.Error(t, err)
			if n := srv.requests.Load() - before; n > 0 {
				assert.Equal(t, int32(1), n, "a probe is a single request")
				probes = append(probes, time.Now())
			}
		}
		require.Greater(t, len(probes), 5)
		for i := 2; i < len(probes); i++ {
			gap := probes[i].Sub(probes[i-1])
			assert.LessOrEqual(t, gap, 5*time.Minute+100*time.Millisecond, "capped at MaxCoolDown")
			if i < 6 {
				assert.Greater(t, gap, probes[i-1].Sub(probes[i-2]), "growing while failures continue")
			}
		}
		assert.Less(t, len(probes), 30, "an hour-long outage costs a few requests, not one per call")

		open.Store(true)
		before := srv.requests.Load()
		var tok *oauth2.Token
		for tok == nil {
			tok, _ = src.Token()
			time.Sleep(time.Second)
		}
		assert.Equal(t, before+1, srv.requests.Load(), "the first request after reopening succeeds")
		_, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, before+1, srv.requests.Load(), "and its token is cached")
	})
}

func TestErrCoolingDownMarksAnAnswerWithoutARequest(t *testing.T) {
	tokens := newFliqaServer(t, "", status(503))
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var told told
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Observer = client, &told
		cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1}
		apiClient := cfg.Client(context.WithValue(t.Context(), oauth2.HTTPClient, client))
		src := apiClient.Transport.(*tokensource.Transport).Source

		_, err := src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown, "the fetch's own failure")
		assert.Equal(t, int32(1), tokens.requests.Load())

		_, err = src.Token()
		assert.ErrorIs(t, err, tokensource.ErrCoolingDown)
		require.ErrorAs(t, err, &e, "and still the provider's answer")
		assert.Equal(t, 503, e.StatusCode)
		_, err = apiClient.Get(api.URL)
		assert.ErrorIs(t, err, tokensource.ErrCoolingDown, "through a client too")
		assert.Equal(t, int32(1), tokens.requests.Load(), "nothing sent")
		assert.Equal(t, int32(0), api.requests.Load())
		assert.Len(t, told.seen(tokensource.CoolingDown), 2)

		time.Sleep(2500 * time.Millisecond) // past the cool-down: MaxInterval (2s) + 25% at most
		_, err = src.Token()
		require.ErrorAs(t, err, &e)
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown, "the probe's own failure")
		assert.Equal(t, int32(2), tokens.requests.Load())
	})
}
