package tokensource_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

const (
	flinksID      = "dc-7tf8aijpjqofl3uxppi136ldc"
	flinksSecret  = "flinks-client-secret-value"
	flinksRefresh = "flinks-refresh-token-value"
	flinksCode    = "flinks-authorization-code"
	flinksRedir   = "https://app.example.com/callback"
)

// flinksServer is a Flinks token endpoint at /api/v1/token that checks
// every request and answers request n (from 1) with respond.
type flinksServer struct{ *endpoint }

func newFlinksServer(t *testing.T, respond func(w http.ResponseWriter, body map[string]string, n int)) *flinksServer {
	t.Helper()
	return &flinksServer{newEndpoint(t, func(r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/api/v1/token", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	}, respond)}
}

func (s *flinksServer) config() *tokensource.FlinksConfig {
	return &tokensource.FlinksConfig{ClientID: flinksID, ClientSecret: flinksSecret, BaseURL: s.URL, RedirectURL: flinksRedir}
}

// flinksOK answers as Flinks does: a refresh token for authorization_code
// only, and an access token numbered by request.
func flinksOK(w http.ResponseWriter, body map[string]string, n int) {
	resp := map[string]any{"access_token": fmt.Sprintf("access-%d", n), "token_type": "Bearer", "expires_in": 299}
	if body["grant_type"] == "authorization_code" {
		resp["refresh_token"] = flinksRefresh
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func TestFlinksGrantBodies(t *testing.T) {
	client := map[string]string{"client_id": flinksID, "client_secret": flinksSecret}
	with := func(m map[string]string) map[string]string {
		for k, v := range client {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		fetch func(context.Context, *tokensource.FlinksConfig) (*oauth2.Token, error)
		want  map[string]string
	}{
		{"client credentials", func(ctx context.Context, c *tokensource.FlinksConfig) (*oauth2.Token, error) {
			return c.ClientCredentialsTokenSource(ctx).Token()
		}, with(map[string]string{"grant_type": "client_credentials"})},
		{"client credentials with scope", func(ctx context.Context, c *tokensource.FlinksConfig) (*oauth2.Token, error) {
			c.Scope = "client:admin"
			return c.ClientCredentialsTokenSource(ctx).Token()
		}, with(map[string]string{"grant_type": "client_credentials", "scope": "client:admin"})},
		{"authorization code", func(ctx context.Context, c *tokensource.FlinksConfig) (*oauth2.Token, error) {
			c.Scope = "ignored by this grant"
			return c.Exchange(ctx, flinksCode)
		}, with(map[string]string{"grant_type": "authorization_code", "code": flinksCode, "redirect_uri": flinksRedir})},
		{"refresh token", func(ctx context.Context, c *tokensource.FlinksConfig) (*oauth2.Token, error) {
			return c.TokenSource(ctx, &oauth2.Token{RefreshToken: flinksRefresh}).Token()
		}, with(map[string]string{"grant_type": "refresh_token", "refresh_token": flinksRefresh})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlinksServer(t, flinksOK)
			sent := time.Now()
			tok, err := tc.fetch(t.Context(), srv.config())
			require.NoError(t, err)
			assert.Equal(t, tc.want, srv.body(0), "exactly the grant's fields")
			assert.Equal(t, "access-1", tok.AccessToken)
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.Equal(t, int64(299), tok.ExpiresIn)
			assert.WithinDuration(t, sent.Add(299*time.Second), tok.Expiry, 50*time.Millisecond)
			if tc.want["grant_type"] != "client_credentials" {
				assert.Equal(t, flinksRefresh, tok.RefreshToken)
			}
		})
	}
}

func TestFlinksDefaultBaseURL(t *testing.T) {
	// Dial the local server whatever the host, and trust its certificate
	// for the name it carries, so the default host is really requested.
	var host string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host = r.Host + r.URL.Path
		flinksOK(w, nil, 1)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	cfg := &tokensource.FlinksConfig{ClientID: flinksID, ClientSecret: flinksSecret, HTTPClient: &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
		}}}
	_, err := cfg.ClientCredentialsTokenSource(t.Context()).Token()
	require.NoError(t, err)
	assert.Equal(t, "api.flinks.io/api/v1/token", host)
}

func TestFlinksInvalidUseSendsNothing(t *testing.T) {
	srv := newFlinksServer(t, flinksOK)
	expired := &oauth2.Token{AccessToken: "old", Expiry: time.Now().Add(-time.Minute)}
	for _, tc := range []struct {
		name   string
		change func(*tokensource.FlinksConfig)
		fetch  func(context.Context, *tokensource.FlinksConfig) error
		want   string
	}{
		{"exchange without RedirectURL", func(c *tokensource.FlinksConfig) { c.RedirectURL = "" },
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.Exchange(ctx, flinksCode)
				return err
			},
			"tokensource: FlinksConfig.RedirectURL is required"},
		{"exchange of an empty code", nil,
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.Exchange(ctx, "")
				return err
			},
			"tokensource: FlinksConfig.Exchange needs an authorization code"},
		{"expired token without refresh token", nil,
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.TokenSource(ctx, expired).Token()
				return err
			},
			"tokensource: FlinksConfig.TokenSource needs a valid token or a refresh token"},
		{"no token", nil,
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.TokenSource(ctx, nil).Token()
				return err
			},
			"tokensource: FlinksConfig.TokenSource needs a valid token or a refresh token"},
		{"no client id", func(c *tokensource.FlinksConfig) { c.ClientID = "" },
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.TokenSource(ctx, &oauth2.Token{RefreshToken: flinksRefresh}).Token()
				return err
			}, "tokensource: FlinksConfig.ClientID is required"},
		{"no client secret", func(c *tokensource.FlinksConfig) { c.ClientSecret = "" },
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.ClientCredentialsTokenSource(ctx).Token()
				return err
			},
			"tokensource: FlinksConfig.ClientSecret is required"},
		{"bad base URL", func(c *tokensource.FlinksConfig) { c.BaseURL = "ftp://flinks" },
			func(ctx context.Context, c *tokensource.FlinksConfig) error {
				_, err := c.Exchange(ctx, flinksCode)
				return err
			},
			`tokensource: FlinksConfig.BaseURL must be an absolute http or https URL with a host and without query or fragment, not "ftp://flinks"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.config()
			if tc.change != nil {
				tc.change(cfg)
			}
			assert.EqualError(t, tc.fetch(t.Context(), cfg), tc.want)
			assert.Equal(t, int32(0), srv.requests.Load())
		})
	}
	t.Run("valid token without refresh token is served until it expires", func(t *testing.T) {
		valid := &oauth2.Token{AccessToken: "still good", Expiry: time.Now().Add(time.Hour)}
		tok, err := srv.config().TokenSource(t.Context(), valid).Token()
		require.NoError(t, err)
		assert.Equal(t, valid.AccessToken, tok.AccessToken)
		assert.Equal(t, valid.Expiry, tok.Expiry)
	})
}

func TestFlinksNeverShowsSecrets(t *testing.T) {
	// A server that echoes every field it got, as careless error pages do.
	srv := newFlinksServer(t, func(w http.ResponseWriter, body map[string]string, _ int) {
		w.WriteHeader(http.StatusBadRequest)
		echo, _ := json.Marshal(body)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": string(echo)})
	})
	cfg := srv.config()
	secrets := []string{flinksSecret, flinksCode, flinksRefresh}
	_, err := cfg.Exchange(t.Context(), flinksCode)
	require.Error(t, err)
	_, err2 := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: flinksRefresh}).Token()
	require.Error(t, err2)
	var e *tokensource.Error
	require.ErrorAs(t, err2, &e)
	assert.Contains(t, e.Message, `"refresh_token":"[redacted]"`)
	for _, s := range []string{err.Error(), err2.Error(), string(e.Body), e.Message,
		fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%#v", *cfg)} {
		for _, secret := range secrets {
			assert.NotContains(t, s, secret)
		}
	}
	assert.Contains(t, fmt.Sprintf("%#v", cfg), `ClientSecret:"[redacted]"`)
}

func TestFlinksClientCredentialsCachesAndHooksOnce(t *testing.T) {
	srv := newFlinksServer(t, flinksOK)
	cfg := srv.config()
	var hooked atomic.Int32
	cfg.OnNewToken = func(*oauth2.Token) { hooked.Add(1) }
	src := cfg.ClientCredentialsTokenSource(t.Context())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := src.Token()
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), srv.requests.Load())
	assert.Equal(t, int32(1), hooked.Load())
}
