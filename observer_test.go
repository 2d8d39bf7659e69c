package tokensource_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func TestEventsCarryNoBodyOfAUsersSource(t *testing.T) {
	const secret = "sk-live-echoed-by-the-endpoint"
	failing := sourceFunc(func() (*oauth2.Token, error) {
		return nil, &oauth2.RetrieveError{
			Response: &http.Response{StatusCode: http.StatusBadRequest},
			Body:     []byte(`{"message":"bad client","client_secret":"` + secret + `"}`), // no OAuth error code
		}
	})
	obs := &told{}
	src := tokensource.RetryTokenSourceWithObserver(context.Background(), failing, nil, obs)
	_, err := src.Token()
	require.Error(t, err)
	assert.Contains(t, err.Error(), secret, "the caller gets its source's own error as it is")

	events := obs.all()
	require.NotEmpty(t, events)
	for _, e := range events {
		assert.Equal(t, tokensource.ProviderCustom, e.Provider)
		require.Error(t, e.Err, e.Kind.String())
		assert.NotContains(t, e.Err.Error(), secret, e.Kind.String())
		assert.Equal(t, http.StatusBadRequest, e.Status, e.Kind.String())
	}
}

func TestASourceOfNothingIsReportedAsSuch(t *testing.T) {
	obs := &told{}
	src := tokensource.RetryTokenSourceWithObserver(context.Background(),
		sourceFunc(func() (*oauth2.Token, error) { return nil, nil }), nil, obs)
	_, err := src.Token()
	const want = "tokensource: the source returned neither a token nor an error"
	require.EqualError(t, err, want)
	ended := obs.seen(tokensource.FetchEnded)
	require.Len(t, ended, 1)
	require.EqualError(t, ended[0].Err, want, "not a panic")
	assert.Equal(t, 1, ended[0].Attempts)
}

func TestEventsNameTheirIdentity(t *testing.T) {
	fliqa := newFliqaServer(t, "", fliqaOK)
	flinks := newFlinksServer(t, flinksOK)
	cc := newCCServer(t, nil, body(`{"access_token":"cc-token","expires_in":3600}`))
	for _, tc := range []struct {
		name     string
		fetch    func(tokensource.Observer) error
		identity string
	}{
		{"Fliqa source", func(o tokensource.Observer) error {
			cfg := fliqa.config("")
			cfg.Observer = o
			_, err := cfg.TokenSource(t.Context()).Token()
			return err
		}, "sandbox/" + testSlug},
		{"Fliqa fetch", func(o tokensource.Observer) error {
			cfg := fliqa.config("")
			cfg.Observer = o
			_, err := cfg.Token(t.Context())
			return err
		}, "sandbox/" + testSlug},
		{"Flinks exchange", func(o tokensource.Observer) error {
			cfg := flinks.config()
			cfg.Observer = o
			_, err := cfg.Exchange(t.Context(), flinksCode)
			return err
		}, flinksID},
		{"Flinks refresh", func(o tokensource.Observer) error {
			cfg := flinks.config()
			cfg.Observer = o
			_, err := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: flinksRefresh}).Token()
			return err
		}, flinksID},
		{"Flinks client credentials", func(o tokensource.Observer) error {
			cfg := flinks.config()
			cfg.Observer = o
			_, err := cfg.ClientCredentialsTokenSource(t.Context()).Token()
			return err
		}, flinksID},
		{"client credentials", func(o tokensource.Observer) error {
			cfg := cc.config()
			cfg.Observer = o
			_, err := cfg.TokenSource(t.Context()).Token()
			return err
		}, ccID},
		{"RetryTokenSource", func(o tokensource.Observer) error {
			src := sourceFunc(func() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: "x"}, nil })
			_, err := tokensource.RetryTokenSourceWithObserver(t.Context(), src, nil, o).Token()
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &told{}
			require.NoError(t, tc.fetch(obs))
			events := obs.all()
			require.NotEmpty(t, events)
			for _, e := range events {
				assert.Equal(t, tc.identity, e.Identity, e.Kind.String())
				assert.NotNil(t, e.Context, e.Kind.String())
			}
		})
	}
}

// callKey marks a request's context, as a span would.
type callKey struct{}

func TestEventsCarryTheContextOfTheirCall(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		obs := &told{}
		src := tokensource.RetryTokenSourceWithObserver(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
			<-release
			return &oauth2.Token{AccessToken: "tok", Expiry: time.Now().Add(time.Hour)}, nil
		}), nil, obs)
		client := &http.Client{Transport: &tokensource.Transport{Source: src,
			Base: &http.Transport{DisableKeepAlives: true}}}
		get := func(name string) {
			ctx := context.WithValue(context.Background(), callKey{}, name)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL, nil)
			require.NoError(t, err)
			resp, err := client.Do(req)
			if assert.NoError(t, err) {
				resp.Body.Close()
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() { get("starter") })
		synctest.Wait() // its fetch runs
		wg.Go(func() { get("joiner") })
		synctest.Wait() // it waits for that fetch
		close(release)
		wg.Wait()

		ended := obs.seen(tokensource.FetchEnded)
		require.Len(t, ended, 1)
		assert.Equal(t, "starter", ended[0].Context.Value(callKey{}), "the call that started the fetch")
		require.Len(t, ended[0].Joined, 1)
		assert.Equal(t, "joiner", ended[0].Joined[0].Value(callKey{}), "the call that joined it")
		var waited []any
		for _, e := range obs.seen(tokensource.Waited) {
			waited = append(waited, e.Context.Value(callKey{}))
		}
		assert.ElementsMatch(t, []any{"starter", "joiner"}, waited, "each call's own")
	})
}
