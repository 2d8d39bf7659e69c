package tokensource_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

const (
	ccID     = "abbey-client-id"
	ccSecret = "abbey-client-secret-value"
)

// ccServer is an AbbeyCross token endpoint at /v1/oauth/token that checks
// every request's body against want (default: the test credentials) and
// answers request n (from 1) with respond.
type ccServer struct{ *endpoint }

func newCCServer(t *testing.T, want map[string]string, respond func(w http.ResponseWriter, n int)) *ccServer {
	t.Helper()
	if want == nil {
		want = map[string]string{"client_id": ccID, "client_secret": ccSecret}
	}
	return &ccServer{newEndpoint(t, func(r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/v1/oauth/token", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	}, func(w http.ResponseWriter, body map[string]string, n int) {
		assert.Equal(t, want, body)
		respond(w, n)
	})}
}

func (s *ccServer) config() *tokensource.ClientCredentialsConfig {
	return &tokensource.ClientCredentialsConfig{ClientID: ccID, ClientSecret: ccSecret, TokenURL: s.URL + "/v1/oauth/token"}
}

func body(b string) func(http.ResponseWriter, int) {
	return func(w http.ResponseWriter, _ int) { fmt.Fprint(w, b) }
}

func TestClientCredentialsBodyShapes(t *testing.T) {
	expires := time.Now().Add(2 * time.Hour).Truncate(time.Second) // within MaxLifetime: a later one is cut
	for _, tc := range []struct {
		name      string
		body      string
		tokenType string
		expiresIn int64
		expiry    func(sent time.Time) time.Time
		scopes    []string
	}{
		{"OAuth names", `{"access_token":"tok","token_type":"bearer","expires_in":3600,"scope":"fx payments"}`,
			"bearer", 3600, func(s time.Time) time.Time { return s.Add(time.Hour) }, []string{"fx", "payments"}},
		{"camelCase names", `{"accessToken":"tok","tokenType":"Bearer","expiresIn":900,"scope":["fx","payments"]}`,
			"Bearer", 900, func(s time.Time) time.Time { return s.Add(15 * time.Minute) }, []string{"fx", "payments"}},
		{"expires_in as a string", `{"access_token":"tok","expires_in":"1800"}`,
			"Bearer", 1800, func(s time.Time) time.Time { return s.Add(30 * time.Minute) }, nil},
		{"absolute expiry, RFC 3339", `{"access_token":"tok","expires_at":"` + expires.UTC().Format(time.RFC3339) + `"}`,
			"Bearer", 0, func(time.Time) time.Time { return expires }, nil},
		{"absolute expiry, Unix seconds", `{"access_token":"tok","expiresAt":` + fmt.Sprint(expires.Unix()) + `}`,
			"Bearer", 0, func(time.Time) time.Time { return expires }, nil},
		{"no expiry: the default lifetime", `{"access_token":"tok"}`,
			"Bearer", 0, func(s time.Time) time.Time { return s.Add(5 * time.Minute) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCCServer(t, nil, body(tc.body))
			sent := time.Now()
			tok, err := srv.config().Token(t.Context())
			require.NoError(t, err)
			assert.Equal(t, "tok", tok.AccessToken)
			assert.Equal(t, tc.tokenType, tok.TokenType)
			assert.Equal(t, tc.expiresIn, tok.ExpiresIn)
			assert.WithinDuration(t, tc.expiry(sent), tok.Expiry, 50*time.Millisecond)
			assert.Equal(t, tc.scopes, tokensource.Scopes(tok))
		})
	}
}

func TestClientCredentialsOptions(t *testing.T) {
	t.Run("extra fields and other names", func(t *testing.T) {
		srv := newCCServer(t, map[string]string{"clientId": ccID, "clientSecret": ccSecret,
			"grant_type": "client_credentials", "scope": "payments"}, body(`{"access_token":"tok"}`))
		cfg := srv.config()
		cfg.EndpointParams = map[string]string{"grant_type": "client_credentials", "scope": "payments"}
		cfg.ClientIDField, cfg.ClientSecretField = "clientId", "clientSecret"
		_, err := cfg.Token(t.Context())
		require.NoError(t, err)
	})
	t.Run("own default lifetime", func(t *testing.T) {
		srv := newCCServer(t, nil, body(`{"access_token":"tok"}`))
		cfg := srv.config()
		cfg.DefaultLifetime = time.Hour
		sent := time.Now()
		tok, err := cfg.Token(t.Context())
		require.NoError(t, err)
		assert.WithinDuration(t, sent.Add(time.Hour), tok.Expiry, 50*time.Millisecond)
	})
}

func TestExtraHoldsWhatTheTokenDoesNotCarry(t *testing.T) {
	srv := newCCServer(t, nil, body(`{"access_token":"tok","token_type":"bearer","expires_in":3600,`+
		`"refresh_token":"r","scope":"accounts payments","id_token":"id"}`))
	tok, err := srv.config().TokenSource(t.Context()).Token()
	require.NoError(t, err)
	assert.Equal(t, "accounts payments", tok.Extra("scope"))
	assert.Equal(t, "id", tok.Extra("id_token"))
	assert.Equal(t, []string{"accounts", "payments"}, tokensource.Scopes(tok))
	for _, carried := range []string{"access_token", "token_type", "expires_in", "refresh_token"} {
		assert.Nil(t, tok.Extra(carried), "%s is the token's own field, not kept twice", carried)
	}
	assert.Equal(t, "tok", tok.AccessToken)
	assert.Equal(t, "r", tok.RefreshToken)
	assert.Equal(t, int64(3600), tok.ExpiresIn)
}

func TestClientCredentialsInvalidConfigSendsNothing(t *testing.T) {
	srv := newCCServer(t, nil, body(`{"access_token":"tok"}`))
	for _, tc := range []struct {
		name   string
		change func(*tokensource.ClientCredentialsConfig)
		want   string
	}{
		{"no client id", func(c *tokensource.ClientCredentialsConfig) { c.ClientID = "" }, "tokensource: ClientCredentialsConfig.ClientID is required"},
		{"no client secret", func(c *tokensource.ClientCredentialsConfig) { c.ClientSecret = "" }, "tokensource: ClientCredentialsConfig.ClientSecret is required"},
		{"no token URL", func(c *tokensource.ClientCredentialsConfig) { c.TokenURL = "" }, "tokensource: ClientCredentialsConfig.TokenURL is required"},
		{"relative token URL", func(c *tokensource.ClientCredentialsConfig) { c.TokenURL = "/v1/oauth/token" },
			`tokensource: ClientCredentialsConfig.TokenURL must be an absolute http or https URL with a host and without fragment or empty query, not "/v1/oauth/token"`},
		{"params overriding a credential", func(c *tokensource.ClientCredentialsConfig) {
			c.EndpointParams = map[string]string{"client_id": "other"}
		}, "tokensource: ClientCredentialsConfig.EndpointParams must not set client_id, which carries a credential"},
		{"one field for both credentials", func(c *tokensource.ClientCredentialsConfig) { c.ClientSecretField = "client_id" },
			"tokensource: ClientCredentialsConfig.ClientSecretField must differ from ClientIDField"},
		{"negative lifetime", func(c *tokensource.ClientCredentialsConfig) { c.DefaultLifetime = -time.Second },
			"tokensource: ClientCredentialsConfig.DefaultLifetime must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config()
			tc.change(cfg)
			_, err := cfg.Token(t.Context())
			assert.EqualError(t, err, tc.want)
			_, err = cfg.TokenSource(t.Context()).Token()
			assert.EqualError(t, err, tc.want)
			assert.Equal(t, int32(0), srv.requests.Load())
		})
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		want     tokensource.Error
		requests int32
	}{
		{"409 conflict is not retried", 409,
			`{"errorId":"evt-1","code":"conflict","text":"Action could not be completed because of conflict."}`,
			tokensource.Error{StatusCode: 409, RequestID: "evt-1", Code: "conflict", Message: "Action could not be completed because of conflict."}, 1},
		{"validation error names the field", 400,
			`{"errorId":"evt-2","code":"invalid_parameter","text":"client_id is unknown","parameter_name":"client_id","parameter_value":"abbey-client-id"}`,
			tokensource.Error{StatusCode: 400, RequestID: "evt-2", Code: "invalid_parameter", Message: "client_id is unknown",
				ParameterName: "client_id", ParameterValue: ccID}, 1},
		{"a secret echoed as the value is redacted", 400,
			`{"errorId":"evt-3","code":"invalid_parameter","text":"bad secret","parameter_name":"client_secret","parameter_value":"abbey-client-secret-value"}`,
			tokensource.Error{StatusCode: 400, RequestID: "evt-3", Code: "invalid_parameter", Message: "bad secret",
				ParameterName: "client_secret", ParameterValue: "[redacted]"}, 1},
		{"200 without an access token is not retried", 200, `{}`, tokensource.Error{StatusCode: 200}, 1},
		{"200 that is not JSON is not retried", 200, `OK`, tokensource.Error{StatusCode: 200}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCCServer(t, nil, func(w http.ResponseWriter, _ int) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			_, err := srv.config().Token(t.Context())
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tc.requests, srv.requests.Load())
			assert.Equal(t, tc.want.StatusCode, e.StatusCode)
			assert.Equal(t, tc.want.RequestID, e.RequestID)
			assert.Equal(t, tc.want.Code, e.Code)
			assert.Equal(t, tc.want.Message, e.Message)
			assert.Equal(t, tc.want.ParameterName, e.ParameterName)
			assert.Equal(t, tc.want.ParameterValue, e.ParameterValue)
			assert.NotContains(t, err.Error(), ccSecret)
			assert.NotContains(t, string(e.Body), ccSecret)
		})
	}
	for _, code := range []int{500, 503} {
		t.Run(fmt.Sprintf("%d is retried", code), func(t *testing.T) {
			srv := newCCServer(t, nil, func(w http.ResponseWriter, n int) {
				if n < 3 {
					w.WriteHeader(code)
					fmt.Fprint(w, `{"errorId":"evt","code":"unavailable","text":"try again"}`)
					return
				}
				fmt.Fprint(w, `{"access_token":"tok"}`)
			})
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config()
				cfg.HTTPClient = client
				_, err := cfg.Token(t.Context())
				require.NoError(t, err)
				assert.Equal(t, int32(3), srv.requests.Load())
			})
		})
	}
}

func TestClientCredentialsNeverShowsSecrets(t *testing.T) {
	cfg := &tokensource.ClientCredentialsConfig{ClientID: ccID, ClientSecret: ccSecret, TokenURL: "https://h/v1/oauth/token"}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%#v", *cfg)} {
		assert.NotContains(t, s, ccSecret)
		assert.Contains(t, s, ccID)
	}
}

// TestNonWorkingHours is AbbeyCross closing for the night, 8 hours, while
// an app asks for a token every 10 seconds.
func TestNonWorkingHours(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		most       int // upstream requests the closure may cost
	}{
		{"without Retry-After", "", 130},
		{"with Retry-After for the whole closure", "28800", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			abbey := tokensourcetest.NewAbbeyCross(t)
			abbey.SetWorkingHours(false, tc.retryAfter)
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := &tokensource.ClientCredentialsConfig{ClientID: abbey.ClientID, ClientSecret: abbey.ClientSecret,
					TokenURL: abbey.URL + "/v1/oauth/token", HTTPClient: client}
				src := cfg.TokenSource(t.Context())
				calls := 0
				for start := time.Now(); time.Since(start) < 8*time.Hour; time.Sleep(10 * time.Second) {
					_, err := src.Token()
					var e *tokensource.Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, 503, e.StatusCode)
					assert.Equal(t, tokensourcetest.NonWorkingHours, e.Message)
					calls++
				}
				closed := abbey.Requests()
				assert.LessOrEqual(t, closed, tc.most, "%d calls during the closure", calls)
				t.Logf("%d calls during an 8-hour closure cost %d upstream requests", calls, closed)

				abbey.SetWorkingHours(true, "")
				var waited time.Duration
				for {
					tok, err := src.Token()
					if err == nil {
						assert.Equal(t, "abbeycross-access-1", tok.AccessToken)
						break
					}
					time.Sleep(10 * time.Second)
					waited += 10 * time.Second
				}
				assert.Equal(t, closed+1, abbey.Requests(), "the first request after reopening succeeds")
				assert.LessOrEqual(t, waited, 5*time.Minute, "noticed within one MaxCoolDown")
			})
		})
	}
}
