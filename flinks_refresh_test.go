package tokensource_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func TestFlinksRefreshKeepsTheRefreshToken(t *testing.T) {
	var rotated atomic.Bool
	srv := newFlinksServer(t, func(w http.ResponseWriter, body map[string]string, n int) {
		if rotated.Load() {
			fmt.Fprintf(w, `{"access_token":"access-%d","expires_in":299,"refresh_token":"rotated"}`, n)
			return
		}
		flinksOK(w, body, n)
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config()
		cfg.HTTPClient = client
		var hooked []*oauth2.Token
		cfg.OnNewToken = func(tok *oauth2.Token) { hooked = append(hooked, tok) }

		first, err := cfg.Exchange(t.Context(), flinksCode)
		require.NoError(t, err)
		src := cfg.TokenSource(t.Context(), first)
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, first.AccessToken, tok.AccessToken, "a valid token is served as it is")
		assert.Equal(t, first.Expiry, tok.Expiry)
		assert.NotSame(t, first, tok, "a copy: the caller's token is never written to")

		for i := 2; i <= 3; i++ {
			time.Sleep(5 * time.Minute)
			tok, err = src.Token()
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("access-%d", i), tok.AccessToken)
			assert.Equal(t, flinksRefresh, tok.RefreshToken, "refresh responses carry none: the one held is kept")
			assert.Equal(t, flinksRefresh, srv.body(i - 1)["refresh_token"])
		}
		rotated.Store(true)
		time.Sleep(5 * time.Minute)
		tok, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, "rotated", tok.RefreshToken, "a new refresh token wins")
		time.Sleep(5 * time.Minute)
		_, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, "rotated", srv.body(4)["refresh_token"])

		require.Len(t, hooked, 5, "the hook sees each new token once, never a cached one")
		for i, tok := range hooked {
			assert.Equal(t, fmt.Sprintf("access-%d", i+1), tok.AccessToken)
			assert.NotEmpty(t, tok.RefreshToken)
		}
	})
}

func TestFlinksHookThatPanicsHarmsNothing(t *testing.T) {
	srv := newFlinksServer(t, flinksOK)
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config()
		cfg.HTTPClient = client
		calls := 0
		cfg.OnNewToken = func(tok *oauth2.Token) {
			calls++
			if calls <= 3 {
				panic("disk full, could not store " + tok.RefreshToken)
			}
		}
		src := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: flinksRefresh})
		_, err := src.Token()
		require.EqualError(t, err, "tokensource: panic in OnNewToken (a string)", "the panic is the fetch's failure")
		_, err = src.Token()
		require.ErrorIs(t, err, tokensource.ErrCoolingDown, "and cools the source down like any failed fetch")
		assert.NotContains(t, err.Error(), flinksRefresh, "the panic value is not in the error")
		assert.Equal(t, int32(1), srv.requests.Load(), "nothing is sent during the cool-down")

		for range 2 { // the hook panics on each probe, and the cool-downs grow
			time.Sleep(time.Hour)
			_, err = src.Token()
			assert.ErrorContains(t, err, "panic in OnNewToken")
		}
		time.Sleep(time.Hour)
		tok, err := src.Token()
		require.NoError(t, err, "the source still works, and is not locked")
		assert.Equal(t, "access-4", tok.AccessToken, "it fetched again, so the hook sees a token it can store")
		assert.Equal(t, flinksRefresh, tok.RefreshToken)
		assert.Equal(t, flinksRefresh, srv.body(3)["refresh_token"])
		assert.Equal(t, 4, calls)
	})
}

// A saved token's lifetime is unknown: it is served as x/oauth2 serves it,
// until ExpiryDelta before its expiry, and past that the first call waits
// for a refresh rather than send a token that may expire on the way.
func TestFlinksSavedTokenIsServedAsXOAuth2ServesIt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		expiryDelta time.Duration // 0: the default, 10s
		left        time.Duration
	}{
		{"2.7s left", 0, 2700 * time.Millisecond},
		{"just inside the delta", 0, 10*time.Second - time.Millisecond},
		{"just outside the delta", 0, 10*time.Second + time.Millisecond},
		{"30s left", 0, 30 * time.Second},
		{"4m left", 0, 4 * time.Minute},
		{"2.7s left with a 1s delta", time.Second, 2700 * time.Millisecond},
		{"2.7s left with a 2.5s delta", 2500 * time.Millisecond, 2700 * time.Millisecond},
		{"30s left with a 1m delta", time.Minute, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlinksServer(t, flinksOK)
			fakeTime(t, func(t *testing.T, client *http.Client) {
				saved := oauth2.Token{AccessToken: "saved", RefreshToken: flinksRefresh, Expiry: time.Now().Add(tc.left)}

				var oracleFetched bool
				oracle := oauth2.ReuseTokenSourceWithExpiry(new(saved), sourceFunc(func() (*oauth2.Token, error) {
					oracleFetched = true
					return &oauth2.Token{AccessToken: "new"}, nil
				}), cmp.Or(tc.expiryDelta, 10*time.Second))
				_, err := oracle.Token()
				require.NoError(t, err)

				cfg := srv.config()
				cfg.HTTPClient, cfg.ExpiryDelta = client, tc.expiryDelta
				tok, err := cfg.TokenSource(t.Context(), new(saved)).Token()
				require.NoError(t, err)
				assert.Equal(t, oracleFetched, tok.AccessToken != "saved", "x/oauth2 fetched: %v; we served %s", oracleFetched, tok.AccessToken)
				if oracleFetched {
					assert.Equal(t, "access-1", tok.AccessToken, "the call waited for the refresh")
				}
				synctest.Wait() // a renewal in the background, if one started, has ended
			})
		})
	}
}

// A saved token's background refresh starts min(max(R/2, 2*ExpiryDelta),
// 5m) before its expiry, R being what was left of it, as TokenSource says.
func TestFlinksSavedTokenIsRefreshedAheadOfItsExpiry(t *testing.T) {
	for _, tc := range []struct {
		name         string
		left, window time.Duration
	}{
		{"30s left: from 2*ExpiryDelta", 30 * time.Second, 20 * time.Second},
		{"2m left: from half of it", 2 * time.Minute, time.Minute},
		{"1h left: from 5m", time.Hour, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlinksServer(t, flinksOK)
			fakeTime(t, func(t *testing.T, client *http.Client) {
				saved := &oauth2.Token{AccessToken: "saved", RefreshToken: flinksRefresh, Expiry: time.Now().Add(tc.left)}
				cfg := srv.config()
				cfg.HTTPClient = client
				src := cfg.TokenSource(t.Context(), saved)
				call := func() string {
					tok, err := src.Token()
					require.NoError(t, err)
					synctest.Wait() // a renewal in the background, if one started, has ended
					return tok.AccessToken
				}
				assert.Equal(t, "saved", call())
				time.Sleep(tc.left - tc.window - time.Millisecond)
				assert.Equal(t, "saved", call())
				assert.Equal(t, int32(0), srv.requests.Load(), "not yet")
				time.Sleep(2 * time.Millisecond)
				assert.Equal(t, "saved", call(), "served while it is refreshed")
				assert.Equal(t, int32(1), srv.requests.Load())
				assert.Equal(t, "access-1", call())
			})
		})
	}
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
