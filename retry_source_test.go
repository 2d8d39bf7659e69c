package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fintechauth/tokensource"
)

func TestRetryTokenSourceAroundClientCredentials(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		code     int
		wantErr  bool
		requests int32
	}{
		{"503 then 500 then a token", 2, 503, false, 3},
		{"429 with Retry-After", 1, 429, false, 2},
		{"400 is not retried", 1, 400, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := requests.Add(1)
				assert.Equal(t, "/oauth/token", r.URL.Path)
				w.Header().Set("Content-Type", "application/json")
				if int(n) <= tc.failures {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(tc.code)
					fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
					return
				}
				fmt.Fprint(w, `{"access_token":"cc-token","token_type":"bearer","expires_in":3600}`)
			}))
			defer srv.Close()
			fakeTime(t, func(t *testing.T, client *http.Client) {
				ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)
				cc := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/oauth/token",
					AuthStyle: oauth2.AuthStyleInParams}
				src := oauth2.ReuseTokenSource(nil, tokensource.RetryTokenSource(ctx, cc.TokenSource(ctx), nil))
				tok, err := src.Token()
				if tc.wantErr {
					var re *oauth2.RetrieveError
					require.ErrorAs(t, err, &re)
					assert.Equal(t, tc.code, re.Response.StatusCode)
				} else {
					require.NoError(t, err)
					assert.Equal(t, "cc-token", tok.AccessToken)
				}
				assert.Equal(t, tc.requests, requests.Load())
			})
		})
	}
}

func TestRetryTokenSourceKeepsOwnFailuresApart(t *testing.T) {
	// Errors that are not the provider's (here a bad policy) are plain.
	src := tokensource.RetryTokenSource(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "a"}),
		&tokensource.RetryPolicy{InitialInterval: 2 * time.Second, MaxInterval: time.Second})
	_, err := src.Token()
	assert.EqualError(t, err, "tokensource: RetryTokenSource.Retry.MaxInterval is shorter than InitialInterval")
	assert.False(t, errors.As(err, new(*tokensource.Error)))
}

func TestRetryTokenSourceOfNilFailsClearly(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	src := tokensource.RetryTokenSource(t.Context(), nil, nil)
	tok, err := src.Token()
	assert.Nil(t, tok)
	require.EqualError(t, err, "tokensource: RetryTokenSource needs a source, not nil")

	_, err = tokensource.NewClient(t.Context(), src).Get(api.URL)
	assert.ErrorContains(t, err, "tokensource: RetryTokenSource needs a source, not nil")
	assert.Equal(t, int32(0), api.requests.Load())
}

func TestASourceOfNothingCoolsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		src := tokensource.RetryTokenSource(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
			calls.Add(1)
			return nil, nil
		}), nil)
		_, err := src.Token()
		require.EqualError(t, err, "tokensource: the source returned neither a token nor an error")
		for range 50 {
			_, err = src.Token()
			require.ErrorIs(t, err, tokensource.ErrCoolingDown)
		}
		assert.Equal(t, int32(1), calls.Load(), "no call of the source while cooling down")

		time.Sleep(2500 * time.Millisecond) // MaxInterval (2s) + 25%: the cool-down's longest
		_, err = src.Token()
		require.Error(t, err)
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown)
		assert.Equal(t, int32(2), calls.Load(), "one probe")
	})
}

func TestATokenValidForCenturiesIsServed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expiry time.Time
	}{
		{"until 9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"until 2263", time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				src := tokensource.RetryTokenSource(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
					if calls.Add(1) > 1 { // a source that fetched again at once would call for ever
						return nil, errors.New("no second token")
					}
					return &oauth2.Token{AccessToken: "a", Expiry: tc.expiry}, nil
				}), nil)
				for range 3 {
					tok, err := src.Token()
					require.NoError(t, err)
					assert.True(t, tok.Expiry.After(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)), "about as long as it said")
					time.Sleep(24 * time.Hour)
				}
				assert.Equal(t, int32(1), calls.Load(), "served from the cache")
			})
		})
	}
}
