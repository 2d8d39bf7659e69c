package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
