package tokensource_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

func TestRetryGivesUpAtOnceWhenRetryAfterExceedsBudget(t *testing.T) {
	srv := newFliqaServer(t, "", withRetryAfter("28800", 503)) // closed for the night
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		start := time.Now()
		_, err := cfg.Token(t.Context())
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 8*time.Hour, e.RetryAfter)
		assert.Contains(t, err.Error(), "(retry after 8h0m0s)")
		assert.Equal(t, int32(1), srv.requests.Load())
		assert.Zero(t, time.Since(start), "no pointless waiting")
	})
}

func TestRetryStopsAtTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *tokensource.RetryPolicy
		budget time.Duration
		want   string
	}{
		{"default budget", nil, 10 * time.Second, "tokensource: giving up after "},
		{"own budget", &tokensource.RetryPolicy{InitialInterval: time.Second, MaxInterval: 3 * time.Second, MaxElapsedTime: 30 * time.Second}, 30 * time.Second, "tokensource: giving up after "},
		{"retries disabled", &tokensource.RetryPolicy{MaxElapsedTime: -1}, 0, "tokensource: GET "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", status(503))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config("")
				cfg.HTTPClient, cfg.Retry = client, tc.policy
				start := time.Now()
				_, err := cfg.Token(t.Context())
				var e *tokensource.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 503, e.StatusCode)
				assert.Contains(t, err.Error(), tc.want)
				assert.LessOrEqual(t, time.Since(start), tc.budget)
				if tc.budget == 0 {
					assert.Equal(t, int32(1), srv.requests.Load())
				} else {
					assert.GreaterOrEqual(t, srv.requests.Load(), int32(4))
					assert.Contains(t, err.Error(), fmt.Sprintf("giving up after %d attempts: GET ", srv.requests.Load()))
				}
			})
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	srv := newFliqaServer(t, "", status(503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		_, err := cfg.Token(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		var e *tokensource.Error
		require.ErrorAs(t, err, &e, "the provider's answer is kept too")
		assert.Equal(t, 503, e.StatusCode)
		assert.Contains(t, err.Error(), "tokensource: stopped waiting to retry (GET ")
		assert.Equal(t, time.Second, time.Since(start), "stops at once")
	})
	t.Run("deadline before the next wait", func(t *testing.T) {
		srv := newFliqaServer(t, "", status(503))
		fakeTime(t, func(t *testing.T, client *http.Client) {
			cfg := srv.config("")
			cfg.HTTPClient = client
			cfg.Retry = &tokensource.RetryPolicy{InitialInterval: 2 * time.Second}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := cfg.Token(ctx)
			var e *tokensource.Error
			require.ErrorAs(t, err, &e, "the provider's answer, not a wait cut short")
			assert.Equal(t, int32(1), srv.requests.Load())
		})
	})
}

// TestNoAttemptHangs runs on the real clock with a short budget: a
// provider that never answers holds network reads, which a synctest bubble
// does not count as blocked.
func TestNoAttemptHangs(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http notices a closed connection once the body is read
		<-r.Context().Done()
	}
	drip := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		rc := http.NewResponseController(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
				_, _ = w.Write([]byte(" "))
				_ = rc.Flush()
			}
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		budget  time.Duration
		want    string
	}{
		{"no answer", hang, 300 * time.Millisecond, "no token by the deadline (fetch budget 300ms)"},
		{"a body dripped a byte at a time", drip, 300 * time.Millisecond, "no token by the deadline (fetch budget 300ms)"},
		{"no answer, retries disabled", hang, -1, "no token by the deadline (fetch budget 10s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				tc.handler(w, r)
			}))
			defer srv.Close()
			cfg := &tokensource.FliqaConfig{APIKey: testKey, APISecret: testSecret, Environment: tokensource.FliqaSandbox,
				TenantSlug: testSlug, BaseURL: srv.URL, Retry: &tokensource.RetryPolicy{MaxElapsedTime: tc.budget}}
			src := cfg.TokenSource(context.Background())
			var wg sync.WaitGroup
			for range 5 {
				wg.Go(func() {
					_, err := src.Token()
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					assert.Contains(t, err.Error(), tc.want)
				})
			}
			wg.Wait()
			assert.Equal(t, int32(1), requests.Load(), "the callers shared one attempt, ended by the budget")
		})
	}
	t.Run("Exchange never resends a code after a timeout", func(t *testing.T) {
		t.Parallel()
		var requests atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			hang(w, r)
		}))
		defer srv.Close()
		cfg := &tokensource.FlinksConfig{ClientID: "id", ClientSecret: "secret", BaseURL: srv.URL, RedirectURL: "https://app/cb",
			Retry: &tokensource.RetryPolicy{MaxElapsedTime: 300 * time.Millisecond}}
		_, err := cfg.Exchange(context.Background(), "code")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, int32(1), requests.Load())
	})
}

func TestNoWaitExceedsADay(t *testing.T) {
	srv := newFliqaServer(t, "", withRetryAfter("9999999999999", 503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		src := cfg.TokenSource(t.Context())
		_, err := src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 24*time.Hour, e.RetryAfter)
		_, err = src.Token()
		assert.ErrorContains(t, err, "next attempt in 24h0m0s")
		time.Sleep(24*time.Hour + time.Second)
		_, _ = src.Token()
		assert.Equal(t, int32(2), srv.requests.Load(), "asked again after a day")
	})
	cfg := srv.config("")
	cfg.Retry = &tokensource.RetryPolicy{MaxCoolDown: 25 * time.Hour}
	_, err := cfg.TokenSource(t.Context()).Token()
	assert.EqualError(t, err, "tokensource: FliqaConfig.Retry.MaxCoolDown must not exceed 24h0m0s")
}
