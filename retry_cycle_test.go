package tokensource_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fintechauth/tokensource"
)

// ccSourceFailing is x/oauth2's client-credentials source, through client,
// of a server that answers its first failures requests 503, then a token.
func ccSourceFailing(t *testing.T, failures int32) (func(ctx context.Context, client *http.Client) oauth2.TokenSource, *atomic.Int32) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/oauth/token", r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		if requests.Add(1) <= failures {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"cc-token","token_type":"bearer","expires_in":3600}`)
	}))
	t.Cleanup(srv.Close)
	return func(ctx context.Context, client *http.Client) oauth2.TokenSource {
		cc := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInParams}
		return cc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, client))
	}, &requests
}

func TestAFetchThatPanicsEndsObservedAndThePanicGoesOn(t *testing.T) {
	newSource, requests := ccSourceFailing(t, 1)
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cc, attempts := newSource(t.Context(), client), 0
		src := sourceFunc(func() (*oauth2.Token, error) {
			if attempts++; attempts == 2 {
				panic("disk full")
			}
			return cc.Token()
		})
		obs := &told{}
		assert.PanicsWithValue(t, "disk full", func() {
			_, _ = tokensource.RetryTokenSourceWithObserver(t.Context(), src, nil, obs).Token()
		})
		assert.Equal(t, int32(1), requests.Load())
		retrying := obs.seen(tokensource.Retrying)
		require.Len(t, retrying, 1)
		assert.Equal(t, http.StatusServiceUnavailable, retrying[0].Status)
		ended := obs.seen(tokensource.FetchEnded)
		require.Len(t, ended, 1, "told even though the fetch never returned")
		assert.EqualError(t, ended[0].Err, "tokensource: the fetch panicked")
		assert.Equal(t, 2, ended[0].Attempts)
	})
}

// A source built on backoff may hand back an error that wraps a
// backoff.PermanentError: it is classified like any other, by its status.
func TestRetryClassifiesAnErrorWrappingBackoffPermanent(t *testing.T) {
	newSource, requests := ccSourceFailing(t, 2)
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cc := newSource(t.Context(), client)
		src := sourceFunc(func() (*oauth2.Token, error) {
			tok, err := cc.Token()
			if err != nil {
				return nil, fmt.Errorf("our client: %w", backoff.Permanent(err))
			}
			return tok, nil
		})
		tok, err := tokensource.RetryTokenSource(t.Context(), src, nil).Token()
		require.NoError(t, err)
		assert.Equal(t, "cc-token", tok.AccessToken)
		assert.Equal(t, int32(3), requests.Load(), "two 503s retried")
	})
}
