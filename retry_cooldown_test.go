package tokensource_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

func TestCoolDownIsTheFirstPauseAfterAFailedFetch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *tokensource.RetryPolicy
		pause  time.Duration // ±25%
	}{
		{"CoolDown, whatever MaxInterval", &tokensource.RetryPolicy{CoolDown: time.Minute, MaxInterval: time.Second}, time.Minute},
		{"CoolDown over the default MaxCoolDown", &tokensource.RetryPolicy{CoolDown: 10 * time.Minute}, 10 * time.Minute},
		{"zero: MaxInterval, as before", &tokensource.RetryPolicy{MaxInterval: time.Minute}, time.Minute},
		{"zero: the default MaxInterval, as before", nil, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", status(http.StatusBadRequest)) // never retried: one request a fetch
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config("")
				cfg.HTTPClient, cfg.Retry = client, tc.policy
				src := cfg.TokenSource(t.Context())
				_, err := src.Token()
				require.Error(t, err)
				failed := time.Now()
				for srv.requests.Load() == 1 && time.Since(failed) < time.Hour {
					time.Sleep(100 * time.Millisecond)
					_, _ = src.Token()
				}
				require.Equal(t, int32(2), srv.requests.Load(), "one probe after the cool-down")
				assert.GreaterOrEqual(t, time.Since(failed), tc.pause*3/4)
				assert.LessOrEqual(t, time.Since(failed), tc.pause*5/4+100*time.Millisecond)
			})
		})
	}
}

func TestCoolDownIsTheFirstPauseBetweenRejectedTokens(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *tokensource.RetryPolicy
	}{
		{"CoolDown, whatever MaxInterval", &tokensource.RetryPolicy{CoolDown: time.Minute, MaxInterval: time.Second}},
		{"zero: MaxInterval, as before", &tokensource.RetryPolicy{MaxInterval: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", lasting(3600, nil))
			api := newAPI(t, http.StatusUnauthorized, func(string) bool { return true })
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := tokens.config("")
				cfg.HTTPClient, cfg.Retry = client, tc.policy
				apiClient := &http.Client{Transport: &tokensource.Transport{Source: cfg.TokenSource(t.Context()), Base: client.Transport}}
				get := func() {
					resp, err := apiClient.Get(api.URL)
					require.NoError(t, err)
					resp.Body.Close()
				}
				get()
				require.Equal(t, int32(2), tokens.requests.Load(), "the first rejected token is dropped at once")
				time.Sleep(time.Minute - time.Second)
				get()
				assert.Equal(t, int32(2), tokens.requests.Load(), "within the pause")
				time.Sleep(time.Second)
				get()
				assert.Equal(t, int32(3), tokens.requests.Load(), "after it")
			})
		})
	}
}

func TestCoolDownIsValidated(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *tokensource.RetryPolicy
		want   string
	}{
		{"negative", &tokensource.RetryPolicy{CoolDown: -time.Second},
			"tokensource: FliqaConfig.Retry intervals must not be negative"},
		{"over MaxCoolDown", &tokensource.RetryPolicy{CoolDown: 2 * time.Minute, MaxCoolDown: time.Minute},
			"tokensource: FliqaConfig.Retry.CoolDown is longer than MaxCoolDown"},
		{"over a day", &tokensource.RetryPolicy{CoolDown: 25 * time.Hour},
			"tokensource: FliqaConfig.Retry.CoolDown must not exceed 24h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", fliqaOK)
			cfg := srv.config("")
			cfg.Retry = tc.policy
			_, err := cfg.TokenSource(t.Context()).Token()
			var ce *tokensource.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.EqualError(t, err, tc.want)
			assert.Equal(t, int32(0), srv.requests.Load(), "nothing sent")
		})
	}
	t.Run("a MaxInterval over MaxCoolDown, as before", func(t *testing.T) {
		srv := newFliqaServer(t, "", fliqaOK)
		cfg := srv.config("")
		cfg.Retry = &tokensource.RetryPolicy{MaxInterval: 10 * time.Minute, MaxCoolDown: time.Minute}
		_, err := cfg.TokenSource(t.Context()).Token()
		require.NoError(t, err)
	})
}
