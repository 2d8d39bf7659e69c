package tokensource_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// Every user hook is guarded the same way: a panic in Notify or an
// Observer is ignored, one in OnNewToken is a failed fetch.

func TestAPanickingNotifyOnARetriedAttemptIsIgnored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fetch func(ctx context.Context, cfg *tokensource.FliqaConfig) (*oauth2.Token, error)
	}{
		{"cached source", func(ctx context.Context, cfg *tokensource.FliqaConfig) (*oauth2.Token, error) {
			return cfg.TokenSource(ctx).Token()
		}},
		{"one fetch", func(ctx context.Context, cfg *tokensource.FliqaConfig) (*oauth2.Token, error) {
			return cfg.Token(ctx)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", failThenOK(1, status(http.StatusServiceUnavailable)))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				var notified atomic.Int32
				cfg := srv.config("")
				cfg.HTTPClient = client
				cfg.Retry = &tokensource.RetryPolicy{Notify: func(error, time.Duration) {
					notified.Add(1)
					panic("log full")
				}}
				var tok *oauth2.Token
				var err error
				require.NotPanics(t, func() { tok, err = tc.fetch(t.Context(), cfg) })
				require.NoError(t, err, "the retry goes on")
				assert.Equal(t, testToken, tok.AccessToken)
				assert.Equal(t, int32(1), notified.Load())
				assert.Equal(t, int32(2), srv.requests.Load())
			})
		})
	}
}

func TestAPanickingOnNewTokenInExchangeKeepsTheToken(t *testing.T) {
	srv := newFlinksServer(t, flinksOK)
	cfg := srv.config()
	cfg.OnNewToken = func(tok *oauth2.Token) { panic("disk full, could not store " + tok.RefreshToken) }
	var tok *oauth2.Token
	var err error
	require.NotPanics(t, func() { tok, err = cfg.Exchange(t.Context(), flinksCode) })
	require.EqualError(t, err, "tokensource: panic in OnNewToken (a string)")
	require.NotNil(t, tok, "the code is spent: the token comes back with the error")
	assert.Equal(t, flinksRefresh, tok.RefreshToken)
}

func TestMultiObserverTellsEachInOrderDespitePanics(t *testing.T) {
	var order []string
	first := tokensource.ObserverFunc(func(e tokensource.Event) {
		order = append(order, "first "+e.Kind.String())
		panic("exporter down")
	})
	second := tokensource.ObserverFunc(func(e tokensource.Event) { order = append(order, "second "+e.Kind.String()) })
	obs := tokensource.MultiObserver(first, nil, second)

	require.NotPanics(t, func() {
		obs.Observe(tokensource.Event{Kind: tokensource.Waited})
		obs.Observe(tokensource.Event{Kind: tokensource.FetchEnded})
	})
	assert.Equal(t, []string{"first waited", "second waited", "first fetch_ended", "second fetch_ended"}, order)
}

func TestAPanickingObserverHarmsNoFetch(t *testing.T) {
	srv := newFliqaServer(t, "", failThenOK(1, status(http.StatusServiceUnavailable)))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var rec told
		rec.observerPanics.Store(true)
		cfg := srv.config("")
		cfg.HTTPClient = client
		cfg.Observer = &rec
		var tok *oauth2.Token
		var err error
		require.NotPanics(t, func() { tok, err = cfg.TokenSource(t.Context()).Token() })
		require.NoError(t, err)
		assert.Equal(t, testToken, tok.AccessToken)
		assert.Equal(t, map[string]int{"retrying": 1, "fetch_ended": 1, "waited": 1}, rec.counts())
	})
}
