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
