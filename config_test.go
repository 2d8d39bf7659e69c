package tokensource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
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
	for _, tc := range []struct {
		name, url, want string
		only            []string // the configs it is refused by; nil for all
	}{
		{"a query in a base URL", srv.URL + "/api?sig=s1gn", "without query or fragment", []string{"FliqaConfig", "FlinksConfig"}},
		{"empty query", srv.URL + "/api?", "query", []string{"FliqaConfig", "FlinksConfig"}},
		{"empty fragment", srv.URL + "/api#", "without", nil},
		{"no host name", "http://:8080", "with a host", nil},
		{"user info over plain http", "http://user:pass@" + srv.Listener.Addr().String(), "must not carry user info over plain http", nil},
	} {
		for config, fetch := range configs(tc.url) {
			if tc.only != nil && !slices.Contains(tc.only, config) {
				continue
			}
			t.Run(tc.name+"/"+config, func(t *testing.T) {
				_, err := fetch(func(any) {})
				var ce *tokensource.ConfigError
				require.ErrorAs(t, err, &ce)
				assert.Contains(t, err.Error(), tc.want)
				assert.NotContains(t, err.Error(), "pass", "a password is never shown")
				assert.NotContains(t, err.Error(), "s1gn", "a query is never shown")
				assert.Equal(t, int32(0), srv.requests.Load(), "nothing sent")
			})
		}
	}
}

func TestTokenURLQueryIsSentAndNeverPrinted(t *testing.T) {
	const query = "sig=s1gn%2Fature&sv=2030"
	logs := map[*tokensource.ClientCredentialsConfig]*bytes.Buffer{} // what each config's observer logged
	config := func(tokenURL string) *tokensource.ClientCredentialsConfig {
		var buf bytes.Buffer
		cfg := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "secret", TokenURL: tokenURL,
			Observer: tokensource.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, nil))), Retry: &tokensource.RetryPolicy{MaxElapsedTime: -1}}
		logs[cfg] = &buf
		return cfg
	}
	// assertHidden asserts that nothing the config and its error print shows the query.
	assertHidden := func(t *testing.T, cfg *tokensource.ClientCredentialsConfig, err error, want string) {
		t.Helper()
		if !errors.As(err, new(*tokensource.ConfigError)) {
			assert.NotEmpty(t, logs[cfg].String(), "the failure is logged")
		}
		require.ErrorContains(t, err, want)
		var text bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("config", "cfg", cfg)
		for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%v", cfg), fmt.Sprintf("%#v", cfg),
			text.String(), logs[cfg].String()} {
			assert.NotContains(t, out, "s1gn")
		}
	}
	srv := newEndpoint(t, func(r *http.Request) {
		assert.Equal(t, "/token", r.URL.Path)
		assert.Equal(t, query, r.URL.RawQuery, "the query is sent as given")
	}, func(w http.ResponseWriter, _ map[string]string, n int) {
		if n == 1 {
			_, _ = io.WriteString(w, `{"access_token":"at-1","expires_in":60}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"invalid_client"}`)
	})
	t.Run("accepted and sent", func(t *testing.T) {
		tok, err := config(srv.URL + "/token?" + query).Token(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "at-1", tok.AccessToken)
	})
	t.Run("an error of the endpoint", func(t *testing.T) {
		cfg := config(srv.URL + "/token?" + query)
		_, err := cfg.TokenSource(t.Context()).Token()
		assertHidden(t, cfg, err, "/token?xxxxx: 401 Unauthorized")
	})
	t.Run("a transport error", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		cfg := config(closed.URL + "/token?" + query)
		_, err := cfg.Token(t.Context())
		assertHidden(t, cfg, err, "/token?xxxxx")
	})
	t.Run("a refused redirect", func(t *testing.T) {
		away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://localhost:1/elsewhere?"+query, http.StatusTemporaryRedirect)
		}))
		t.Cleanup(away.Close)
		cfg := config(away.URL + "/token?" + query)
		_, err := cfg.Token(t.Context())
		require.ErrorIs(t, err, tokensource.ErrRedirect)
		assertHidden(t, cfg, err, "/elsewhere?xxxxx")
	})
	t.Run("a config error", func(t *testing.T) {
		cfg := config(srv.URL + "/token?" + query + "#frag")
		_, err := cfg.Token(t.Context())
		assertHidden(t, cfg, err, "without fragment")
	})
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
