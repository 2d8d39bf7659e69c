package tokensource_test

import (
	"fmt"
	"net/http"
	"runtime"
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

// lasting answers request n with the token "tok-n" that expires in
// seconds, or fails with 503 while failing is set.
func lasting(seconds int, failing *atomic.Bool) func(http.ResponseWriter, int) {
	return func(w http.ResponseWriter, n int) {
		if failing != nil && failing.Load() {
			status(503)(w, n)
			return
		}
		fmt.Fprintf(w, `{"accessToken":"tok-%d","expiresIn":%d}`, n, seconds)
	}
}

func TestShortLivedTokensNeverHammer(t *testing.T) {
	for _, lifetime := range []int{1, 10} {
		t.Run(fmt.Sprint(lifetime, "s"), func(t *testing.T) {
			srv := newFliqaServer(t, "", lasting(lifetime, nil))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config("")
				cfg.HTTPClient = client
				src := cfg.TokenSource(t.Context())
				var wg sync.WaitGroup
				for range 20 {
					wg.Go(func() {
						for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
							tok, err := src.Token()
							if assert.NoError(t, err) {
								assert.True(t, time.Now().Before(tok.Expiry), "never an expired token")
							}
						}
					})
				}
				wg.Wait()
				assert.LessOrEqual(t, srv.requests.Load(), int32(2*30/lifetime+2), "about one fetch per half lifetime")
			})
		})
	}
}

func TestExpiredOnArrivalIsAFailure(t *testing.T) {
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) {
		fmt.Fprint(w, `{"accessToken":"stale","expires":"1999-12-31T23:00:00Z"}`) // an hour before the bubble's clock starts
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		src := cfg.TokenSource(t.Context())
		_, err := src.Token()
		require.ErrorContains(t, err, "expired")
		_, err = src.Token()
		assert.ErrorContains(t, err, "tokensource: last fetch failed, next attempt in ")
		assert.Equal(t, int32(1), srv.requests.Load(), "it cools down like any failure")
	})
}

func TestRenewsAheadInTheBackground(t *testing.T) {
	renewal := make(chan struct{}) // holds the renewal's answer until the test has seen callers served meanwhile
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		if n == 2 {
			<-renewal
		}
		lasting(360, nil)(w, n) // Fliqa's lifetime: renewed from 180s on
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		src := cfg.TokenSource(t.Context())
		token := func() string {
			tok, err := src.Token()
			require.NoError(t, err)
			return tok.AccessToken
		}
		assert.Equal(t, "tok-1", token())
		time.Sleep(170 * time.Second)
		assert.Equal(t, "tok-1", token())
		synctest.Wait()
		assert.Equal(t, int32(1), srv.requests.Load(), "nothing before the window")

		time.Sleep(11 * time.Second)
		for range 10 {
			assert.Equal(t, "tok-1", token(), "the current token, without waiting for the renewal")
		}
		close(renewal)
		for token() != "tok-2" { // the renewal lands in the background
			time.Sleep(time.Millisecond)
		}
		assert.Equal(t, int32(2), srv.requests.Load(), "one request for the rollover")
	})
}

func TestRenewalFailuresAreServedThroughAndReported(t *testing.T) {
	var failing atomic.Bool
	srv := newFliqaServer(t, "", lasting(360, &failing))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var reported atomic.Int32 // renewals fail in the background
		cfg := srv.config("")
		cfg.HTTPClient = client
		cfg.Retry = &tokensource.RetryPolicy{Notify: func(err error, wait time.Duration) {
			var e *tokensource.Error
			assert.ErrorAs(t, err, &e)
			reported.Add(1)
		}}
		src := cfg.TokenSource(t.Context())
		_, err := src.Token()
		require.NoError(t, err)
		failing.Store(true)

		start := time.Now()
		for time.Since(start) < 349*time.Second {
			tok, err := src.Token()
			require.NoError(t, err, "a valid token is served through failed renewals")
			assert.Equal(t, "tok-1", tok.AccessToken)
			time.Sleep(time.Second)
		}
		assert.Positive(t, reported.Load(), "failed renewals are reported")
		assert.Less(t, srv.requests.Load(), int32(40), "renewal backs off and cools down")

		time.Sleep(2 * time.Second) // past ExpiryDelta before expiry
		_, err = src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, err, &e, "now the failure reaches the caller")
		assert.Equal(t, 503, e.StatusCode)

		failing.Store(false)
		var tok *oauth2.Token
		for tok == nil {
			time.Sleep(time.Second)
			tok, _ = src.Token()
		}
		assert.NotEqual(t, "tok-1", tok.AccessToken)
	})
}

func TestIdleSourcesCostNothing(t *testing.T) {
	srv := newFliqaServer(t, "", lasting(360, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		sources := make([]oauth2.TokenSource, 1000)
		for i := range sources {
			sources[i] = cfg.TokenSource(t.Context())
			_, err := sources[i].Token()
			require.NoError(t, err)
		}
		goroutines := runtime.NumGoroutine()
		time.Sleep(time.Hour)
		synctest.Wait()
		assert.Equal(t, int32(len(sources)), srv.requests.Load(), "no source renews without a caller")
		assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines, "and none holds a goroutine")

		_, err := sources[0].Token()
		require.NoError(t, err)
		assert.Equal(t, int32(len(sources)+1), srv.requests.Load(), "a caller after the expiry fetches")
	})
}

func TestOnNewTokenMayHandTheTokenOff(t *testing.T) {
	srv := newFlinksServer(t, func(w http.ResponseWriter, _ map[string]string, n int) {
		fmt.Fprintf(w, `{"access_token":"access-%d","token_type":"Bearer","expires_in":2}`, n)
	})
	var wg sync.WaitGroup
	cfg := srv.config()
	cfg.OnNewToken = func(tok *oauth2.Token) {
		wg.Go(func() { // as the docs advise: slow work off the source's path
			for range 100 {
				_ = tok.Valid()
				_ = fmt.Sprint(tok.AccessToken, tok.Expiry, tok.Extra("expires_in"))
			}
		})
	}
	src := cfg.ClientCredentialsTokenSource(t.Context())
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		tok, err := src.Token()
		require.NoError(t, err)
		assert.NotEmpty(t, tok.AccessToken)
	}
	wg.Wait()
	assert.Greater(t, srv.requests.Load(), int32(2), "several tokens were handed off")
}

func TestPanickingHookInABackgroundRenewalIsAFailedRenewal(t *testing.T) {
	srv := newFlinksServer(t, func(w http.ResponseWriter, _ map[string]string, n int) {
		fmt.Fprintf(w, `{"access_token":"access-%d","token_type":"Bearer","expires_in":60}`, n)
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var (
			panics   atomic.Bool
			hooked   atomic.Int32
			reported atomic.Value
		)
		cfg := srv.config()
		cfg.HTTPClient = client
		cfg.OnNewToken = func(tok *oauth2.Token) {
			if panics.Load() {
				panic("hook failed to store " + tok.AccessToken)
			}
			hooked.Add(1)
		}
		cfg.Retry = &tokensource.RetryPolicy{Notify: func(err error, _ time.Duration) { reported.Store(err.Error()) }}
		src := cfg.ClientCredentialsTokenSource(t.Context())
		_, err := src.Token()
		require.NoError(t, err)

		panics.Store(true)
		time.Sleep(31 * time.Second) // into the window: the renewal runs in the background
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "access-1", tok.AccessToken)
		synctest.Wait()
		assert.Equal(t, "tokensource: panic in OnNewToken (a string)", reported.Load(),
			"reported, without the panic value, which may hold the token")

		panics.Store(false)
		for tok.AccessToken == "access-1" {
			time.Sleep(time.Second)
			tok, err = src.Token()
			require.NoError(t, err, "the current token is served meanwhile")
		}
		assert.Equal(t, int32(2), hooked.Load(), "the hook is called again for the token that replaced it")
	})
}

// sourceFunc is an oauth2.TokenSource of a user's own, for RetryTokenSource.
type sourceFunc func() (*oauth2.Token, error)

func (f sourceFunc) Token() (*oauth2.Token, error) { return f() }

func TestAFetchThatBringsNothingCoolsDown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first sourceFunc
		want  string
	}{
		{"runtime.Goexit, as t.Fatal in a hook", func() (*oauth2.Token, error) { runtime.Goexit(); return nil, nil },
			"the fetch ended its goroutine"},
		{"neither a token nor an error", func() (*oauth2.Token, error) { return nil, nil },
			"the source returned neither a token nor an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			src := tokensource.RetryTokenSource(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
				if calls.Add(1) == 1 {
					return tc.first()
				}
				return &oauth2.Token{AccessToken: "ok", Expiry: time.Now().Add(time.Hour)}, nil
			}), &tokensource.RetryPolicy{MaxInterval: 20 * time.Millisecond})
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = src.Token()
			}()
			<-done
			_, err := src.Token()
			require.Error(t, err, "the first fetch failed, and the source cools down")
			assert.Contains(t, err.Error(), tc.want)
			time.Sleep(50 * time.Millisecond)
			tok, err := src.Token()
			require.NoError(t, err, "not locked up")
			assert.Equal(t, "ok", tok.AccessToken)
			assert.Equal(t, int32(2), calls.Load())
		})
	}
}
