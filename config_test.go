package tokensource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// configs returns one valid config of each kind, all aimed at url, and
// how to fetch with each.
func configs(url string) map[string]func(edit func(any)) (*oauth2.Token, error) {
	ctx := context.Background()
	return map[string]func(func(any)) (*oauth2.Token, error){
		"FliqaConfig": func(edit func(any)) (*oauth2.Token, error) {
			c := &tokensource.FliqaConfig{APIKey: testKey, APISecret: testSecret, Environment: tokensource.FliqaSandbox,
				TenantSlug: testSlug, BaseURL: url}
			edit(c)
			return c.TokenSource(ctx).Token()
		},
		"FlinksConfig": func(edit func(any)) (*oauth2.Token, error) {
			c := &tokensource.FlinksConfig{ClientID: "id", ClientSecret: "secret", BaseURL: url, RedirectURL: "https://app/cb"}
			edit(c)
			return c.Exchange(ctx, "code")
		},
		"ClientCredentialsConfig": func(edit func(any)) (*oauth2.Token, error) {
			c := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "secret", TokenURL: url + "/v1/oauth/token"}
			edit(c)
			return c.Token(ctx)
		},
	}
}

func TestConfigsRefuseControlCharacters(t *testing.T) {
	srv := newEndpoint(t, func(*http.Request) {}, ignoringBody(fliqaOK))
	for _, tc := range []struct {
		config, field string
		edit          func(any)
	}{
		{"FliqaConfig", "APISecret", func(c any) { c.(*tokensource.FliqaConfig).APISecret += "\n" }},
		{"FliqaConfig", "APIKey", func(c any) { c.(*tokensource.FliqaConfig).APIKey += "\r\n" }},
		{"FliqaConfig", "TenantSlug", func(c any) { c.(*tokensource.FliqaConfig).TenantSlug += "\x00" }},
		{"FliqaConfig", "BaseURL", func(c any) { c.(*tokensource.FliqaConfig).BaseURL += "\t" }},
		{"FlinksConfig", "ClientSecret", func(c any) { c.(*tokensource.FlinksConfig).ClientSecret += "\n" }},
		{"FlinksConfig", "ClientID", func(c any) { c.(*tokensource.FlinksConfig).ClientID = "\tid" }},
		{"FlinksConfig", "RedirectURL", func(c any) { c.(*tokensource.FlinksConfig).RedirectURL += "\n" }},
		{"ClientCredentialsConfig", "ClientSecret", func(c any) { c.(*tokensource.ClientCredentialsConfig).ClientSecret += "\n" }},
		{"ClientCredentialsConfig", "TokenURL", func(c any) { c.(*tokensource.ClientCredentialsConfig).TokenURL += "\n" }},
		{"ClientCredentialsConfig", `EndpointParams["scope"]`, func(c any) {
			c.(*tokensource.ClientCredentialsConfig).EndpointParams = map[string]string{"scope": "payments\n"}
		}},
	} {
		t.Run(tc.config+"."+tc.field, func(t *testing.T) {
			_, err := configs(srv.URL)[tc.config](tc.edit)
			var ce *tokensource.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.config, ce.Config)
			assert.Equal(t, tc.field, ce.Field)
			assert.EqualError(t, err, "tokensource: "+tc.config+"."+tc.field+" contains a control character (a trailing newline?)")
			assert.Equal(t, int32(0), srv.requests.Load(), "nothing sent")
		})
	}
}

func TestConfigsRefuseUnsafeURLs(t *testing.T) {
	srv := newEndpoint(t, func(*http.Request) {}, ignoringBody(fliqaOK))
	for _, tc := range []struct{ name, url, want string }{
		{"empty query", srv.URL + "/api?", "without query or fragment"},
		{"empty fragment", srv.URL + "/api#", "without query or fragment"},
		{"no host name", "http://:8080", "with a host"},
		{"user info over plain http", "http://user:pass@" + srv.Listener.Addr().String(), "must not carry user info over plain http"},
	} {
		for config, fetch := range configs(tc.url) {
			t.Run(tc.name+"/"+config, func(t *testing.T) {
				_, err := fetch(func(any) {})
				var ce *tokensource.ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Contains(t, err.Error(), tc.want)
				assert.NotContains(t, err.Error(), "pass", "a password is never shown")
				assert.Equal(t, int32(0), srv.requests.Load(), "nothing sent")
			})
		}
	}
}

func TestConfigsNeverPrintSecrets(t *testing.T) {
	const secret, password = "s3cret-value", "url-p4ss"
	base := "https://user:" + password + "@api.example"
	for _, cfg := range []any{
		tokensource.FliqaConfig{APIKey: "k", APISecret: secret, BaseURL: base},
		tokensource.FlinksConfig{ClientID: "id", ClientSecret: secret, BaseURL: base},
		tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: secret, TokenURL: base + "/v1/oauth/token",
			Retry: &tokensource.RetryPolicy{}},
	} {
		t.Run(fmt.Sprintf("%T", cfg), func(t *testing.T) {
			var text, js bytes.Buffer
			slog.New(slog.NewTextHandler(&text, nil)).Info("config", "cfg", cfg)
			slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "cfg", cfg)
			for _, out := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
				text.String(), js.String()} {
				assert.NotContains(t, out, secret)
				assert.NotContains(t, out, password)
				assert.Contains(t, out, "[redacted]")
				assert.Contains(t, out, "api.example", "the rest is shown")
			}
			assert.NotContains(t, js.String(), "!ERROR", "every field prints")
		})
	}
}

func TestConfigErrorIsNotAProviderError(t *testing.T) {
	_, err := (&tokensource.FliqaConfig{}).Token(context.Background())
	var ce *tokensource.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "APIKey", ce.Field)
	assert.Equal(t, "is required", ce.Problem)
	assert.False(t, errors.As(err, new(*tokensource.Error)))
}
