package tokensource_test

import (
	"context"
	"net/http"
	"testing"

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
