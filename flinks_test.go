package tokensource_test

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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

func flinksError(code int, errCode string) func(http.ResponseWriter, map[string]string, int) {
	return func(w http.ResponseWriter, _ map[string]string, _ int) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":%q,"error_description":"described %s"}`, errCode, errCode)
	}
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

func TestFlinksRefreshKeepsTheRefreshToken(t *testing.T) {
	var rotated atomic.Bool
	srv := newFlinksServer(t, func(w http.ResponseWriter, body map[string]string, n int) {
		if rotated.Load() {
			fmt.Fprintf(w, `{"access_token":"access-%d","expires_in":299,"refresh_token":"rotated"}`, n)
			return
		}
		flinksOK(w, body, n)
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config()
		cfg.HTTPClient = client
		var hooked []*oauth2.Token
		cfg.OnNewToken = func(tok *oauth2.Token) { hooked = append(hooked, tok) }

		first, err := cfg.Exchange(t.Context(), flinksCode)
		require.NoError(t, err)
		src := cfg.TokenSource(t.Context(), first)
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, first.AccessToken, tok.AccessToken, "a valid token is served as it is")
		assert.Equal(t, first.Expiry, tok.Expiry)
		assert.NotSame(t, first, tok, "a copy: the caller's token is never written to")

		for i := 2; i <= 3; i++ {
			time.Sleep(5 * time.Minute)
			tok, err = src.Token()
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("access-%d", i), tok.AccessToken)
			assert.Equal(t, flinksRefresh, tok.RefreshToken, "refresh responses carry none: the one held is kept")
			assert.Equal(t, flinksRefresh, srv.body(i - 1)["refresh_token"])
		}
		rotated.Store(true)
		time.Sleep(5 * time.Minute)
		tok, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, "rotated", tok.RefreshToken, "a new refresh token wins")
		time.Sleep(5 * time.Minute)
		_, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, "rotated", srv.body(4)["refresh_token"])

		require.Len(t, hooked, 5, "the hook sees each new token once, never a cached one")
		for i, tok := range hooked {
			assert.Equal(t, fmt.Sprintf("access-%d", i+1), tok.AccessToken)
			assert.NotEmpty(t, tok.RefreshToken)
		}
	})
}

func TestFlinksHookThatPanicsHarmsNothing(t *testing.T) {
	srv := newFlinksServer(t, flinksOK)
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config()
		cfg.HTTPClient = client
		calls := 0
		cfg.OnNewToken = func(tok *oauth2.Token) {
			calls++
			if calls <= 3 {
				panic("disk full, could not store " + tok.RefreshToken)
			}
		}
		src := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: flinksRefresh})
		_, err := src.Token()
		require.EqualError(t, err, "tokensource: panic in OnNewToken (a string)", "the panic is the fetch's failure")
		_, err = src.Token()
		require.ErrorIs(t, err, tokensource.ErrCoolingDown, "and cools the source down like any failed fetch")
		assert.NotContains(t, err.Error(), flinksRefresh, "the panic value is not in the error")
		assert.Equal(t, int32(1), srv.requests.Load(), "nothing is sent during the cool-down")

		for range 2 { // the hook panics on each probe, and the cool-downs grow
			time.Sleep(time.Hour)
			_, err = src.Token()
			assert.ErrorContains(t, err, "panic in OnNewToken")
		}
		time.Sleep(time.Hour)
		tok, err := src.Token()
		require.NoError(t, err, "the source still works, and is not locked")
		assert.Equal(t, "access-4", tok.AccessToken, "it fetched again, so the hook sees a token it can store")
		assert.Equal(t, flinksRefresh, tok.RefreshToken)
		assert.Equal(t, flinksRefresh, srv.body(3)["refresh_token"])
		assert.Equal(t, 4, calls)
	})
}

func TestFlinksErrors(t *testing.T) {
	type fetch func(context.Context, *tokensource.FlinksConfig) error
	exchange := func(ctx context.Context, c *tokensource.FlinksConfig) error {
		_, err := c.Exchange(ctx, flinksCode)
		return err
	}
	refresh := func(ctx context.Context, c *tokensource.FlinksConfig) error {
		_, err := c.TokenSource(ctx, &oauth2.Token{RefreshToken: flinksRefresh}).Token()
		return err
	}
	credentials := func(ctx context.Context, c *tokensource.FlinksConfig) error {
		_, err := c.ClientCredentialsTokenSource(ctx).Token()
		return err
	}
	for _, tc := range []struct {
		name     string
		fetch    fetch
		status   int
		code     string
		reauth   bool
		requests int32
	}{
		{"refresh 400 invalid_grant", refresh, 400, "invalid_grant", true, 1},
		{"refresh 401 with an empty error", refresh, 401, "", false, 1},
		{"refresh 403 access_denied", refresh, 403, "access_denied", true, 1},
		{"refresh 400 invalid_client: our secret, not the user's authorization", refresh, 400, "invalid_client", false, 1},
		{"refresh 401 unauthorized_client", refresh, 401, "unauthorized_client", false, 1},
		{"refresh 400 unsupported_grant_type", refresh, 400, "unsupported_grant_type", false, 1},
		{"exchange 400 invalid_request", exchange, 400, "invalid_request", false, 1},
		{"exchange 400 invalid_grant", exchange, 400, "invalid_grant", true, 1},
		{"client credentials 401 needs no reauthorization", credentials, 401, "invalid_client", false, 1},
		{"refresh 500 server_error is retried", refresh, 500, "server_error", false, 2},
		{"refresh 503 temporarily_unavailable is retried", refresh, 503, "temporarily_unavailable", false, 2},
		{"client credentials 500 is retried", credentials, 500, "server_error", false, 2},
		{"exchange 500 is not retried: the code may be spent", exchange, 500, "server_error", false, 1},
		{"exchange 503 is retried: not processed", exchange, 503, "temporarily_unavailable", false, 2},
		{"exchange 429 is retried: not processed", exchange, 429, "slow_down", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlinksServer(t, func(w http.ResponseWriter, body map[string]string, n int) {
				if n == 1 {
					flinksError(tc.status, tc.code)(w, body, n)
					return
				}
				flinksOK(w, body, n)
			})
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config()
				cfg.HTTPClient = client
				err := tc.fetch(t.Context(), cfg)
				assert.Equal(t, tc.requests, srv.requests.Load())
				if tc.requests > 1 {
					require.NoError(t, err)
					return
				}
				var e *tokensource.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tc.status, e.StatusCode)
				assert.Equal(t, tc.code, e.Code)
				if tc.code != "" {
					assert.Equal(t, "described "+tc.code, e.Message)
				}
				assert.Equal(t, tc.reauth, errors.Is(err, tokensource.ErrReauthorizationRequired))
				if tc.reauth {
					assert.Contains(t, err.Error(), "tokensource: Flinks authorization must be renewed: POST ")
				}
			})
		})
	}
}

// A 400, 401 or 403 is the end of the user's authorization only when
// Flinks says so in an OAuth error body. A proxy, a firewall or a gateway
// may answer these statuses too, and an app that took their page for the
// end would drop a refresh token that still works.
func TestFlinksOnlyAnOAuthErrorEndsTheAuthorization(t *testing.T) {
	exchange := func(ctx context.Context, c *tokensource.FlinksConfig) error {
		_, err := c.Exchange(ctx, flinksCode)
		return err
	}
	refresh := func(ctx context.Context, c *tokensource.FlinksConfig) error {
		_, err := c.TokenSource(ctx, &oauth2.Token{RefreshToken: flinksRefresh}).Token()
		return err
	}
	const html = "text/html; charset=utf-8"
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		reauth      bool
	}{
		{"a firewall's HTML 403", 403, html,
			"<html><head><title>403 Forbidden</title></head><body><h1>Access denied</h1><p>Ray ID: 7d1f</p></body></html>", false},
		{"an HTML 401", 401, html, "<html><body><h1>401 Authorization Required</h1></body></html>", false},
		{"nginx's 400 for large headers", 400, html,
			"<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n" +
				"<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n" +
				"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n", false},
		{"a gateway's JSON 403", 403, "application/json", `{"message":"Forbidden"}`, false},
		{"an empty 401", 401, "", "", false},
		{"an empty 403", 403, "", "", false},
		{"an empty 400", 400, "", "", false},
		{"another shape's code, not an OAuth error", 400, "application/json", `{"code":"invalid_grant"}`, false},
		{"an OAuth error with no code", 401, "application/json", `{"error":"","error_description":"no"}`, false},
		{"Flinks' invalid_client: the app's secret", 401, "application/json",
			`{"error":"invalid_client","error_description":"Confirm the client_id and client_secret"}`, false},
		{"Flinks' unauthorized_client", 400, "application/json", `{"error":"unauthorized_client"}`, false},
		{"Flinks' invalid_grant", 400, "application/json",
			`{"error":"invalid_grant","error_description":"The refresh token has expired"}`, true},
		{"Flinks' access_denied, without a description", 403, "application/json", `{"error":"access_denied"}`, true},
		{"Flinks' invalid_grant as plain text", 401, "text/plain", `{"error":"invalid_grant"}`, true},
	} {
		for _, grant := range []struct {
			name  string
			fetch func(context.Context, *tokensource.FlinksConfig) error
		}{{"refresh", refresh}, {"exchange", exchange}} {
			t.Run(grant.name+": "+tc.name, func(t *testing.T) {
				srv := newFlinksServer(t, func(w http.ResponseWriter, _ map[string]string, _ int) {
					w.Header().Del("Content-Type")
					if tc.contentType != "" {
						w.Header().Set("Content-Type", tc.contentType)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				})
				fakeTime(t, func(t *testing.T, client *http.Client) {
					cfg := srv.config()
					cfg.HTTPClient = client
					err := grant.fetch(t.Context(), cfg)
					assert.Equal(t, int32(1), srv.requests.Load(), "not retried")
					assert.Equal(t, tc.reauth, errors.Is(err, tokensource.ErrReauthorizationRequired))
					e, ok := errors.AsType[*tokensource.Error](err)
					require.True(t, ok, "an *Error: %v", err)
					assert.Equal(t, tc.status, e.StatusCode)
					assert.Equal(t, tc.body, string(e.Body), "the app can read what answered")
				})
			})
		}
	}
}

func TestFlinksExchangeNeverResendsASpentCode(t *testing.T) {
	t.Run("connection reset after the request went out", func(t *testing.T) {
		srv := newFlinksServer(t, func(w http.ResponseWriter, body map[string]string, n int) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if assert.NoError(t, err) {
				_ = conn.(*net.TCPConn).SetLinger(0) // close with a reset
				conn.Close()
			}
		})
		_, err := srv.config().Exchange(t.Context(), flinksCode)
		var op *net.OpError
		require.ErrorAs(t, err, &op)
		assert.Equal(t, "read", op.Op)
		assert.Equal(t, int32(1), srv.requests.Load())
	})
	t.Run("connection refused: nothing was sent", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close()
		fakeTime(t, func(t *testing.T, _ *http.Client) {
			var dials atomic.Int32
			cfg := &tokensource.FlinksConfig{ClientID: flinksID, ClientSecret: flinksSecret, BaseURL: "http://" + addr,
				RedirectURL: flinksRedir, HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
					DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
						dials.Add(1)
						return (&net.Dialer{}).DialContext(ctx, network, addr)
					}}}}
			_, err := cfg.Exchange(t.Context(), flinksCode)
			require.Error(t, err)
			assert.Greater(t, dials.Load(), int32(2))
		})
	})
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

// A saved token's lifetime is unknown: it is served as x/oauth2 serves it,
// until ExpiryDelta before its expiry, and past that the first call waits
// for a refresh rather than send a token that may expire on the way.
func TestFlinksSavedTokenIsServedAsXOAuth2ServesIt(t *testing.T) {
	for _, tc := range []struct {
		name        string
		expiryDelta time.Duration // 0: the default, 10s
		left        time.Duration
	}{
		{"2.7s left", 0, 2700 * time.Millisecond},
		{"just inside the delta", 0, 10*time.Second - time.Millisecond},
		{"just outside the delta", 0, 10*time.Second + time.Millisecond},
		{"30s left", 0, 30 * time.Second},
		{"4m left", 0, 4 * time.Minute},
		{"2.7s left with a 1s delta", time.Second, 2700 * time.Millisecond},
		{"2.7s left with a 2.5s delta", 2500 * time.Millisecond, 2700 * time.Millisecond},
		{"30s left with a 1m delta", time.Minute, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlinksServer(t, flinksOK)
			fakeTime(t, func(t *testing.T, client *http.Client) {
				saved := oauth2.Token{AccessToken: "saved", RefreshToken: flinksRefresh, Expiry: time.Now().Add(tc.left)}

				var oracleFetched bool
				oracle := oauth2.ReuseTokenSourceWithExpiry(new(saved), sourceFunc(func() (*oauth2.Token, error) {
					oracleFetched = true
					return &oauth2.Token{AccessToken: "new"}, nil
				}), cmp.Or(tc.expiryDelta, 10*time.Second))
				_, err := oracle.Token()
				require.NoError(t, err)

				cfg := srv.config()
				cfg.HTTPClient, cfg.ExpiryDelta = client, tc.expiryDelta
				tok, err := cfg.TokenSource(t.Context(), new(saved)).Token()
				require.NoError(t, err)
				assert.Equal(t, oracleFetched, tok.AccessToken != "saved", "x/oauth2 fetched: %v; we served %s", oracleFetched, tok.AccessToken)
				if oracleFetched {
					assert.Equal(t, "access-1", tok.AccessToken, "the call waited for the refresh")
				}
				synctest.Wait() // a renewal in the background, if one started, has ended
			})
		})
	}
}

// A saved token's background refresh starts min(max(R/2, 2*ExpiryDelta),
// 5m) before its expiry, R being what was left of it, as TokenSource says.
func TestFlinksSavedTokenIsRefreshedAheadOfItsExpiry(t *testing.T) {
	for _, tc := range []struct {
		name         string
		left, window time.Duration
	}{
		{"30s left: from 2*ExpiryDelta", 30 * time.Second, 20 * time.Second},
		{"2m left: from half of it", 2 * time.Minute, time.Minute},
		{"1h left: from 5m", time.Hour, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFlinksServer(t, flinksOK)
			fakeTime(t, func(t *testing.T, client *http.Client) {
				saved := &oauth2.Token{AccessToken: "saved", RefreshToken: flinksRefresh, Expiry: time.Now().Add(tc.left)}
				cfg := srv.config()
				cfg.HTTPClient = client
				src := cfg.TokenSource(t.Context(), saved)
				call := func() string {
					tok, err := src.Token()
					require.NoError(t, err)
					synctest.Wait() // a renewal in the background, if one started, has ended
					return tok.AccessToken
				}
				assert.Equal(t, "saved", call())
				time.Sleep(tc.left - tc.window - time.Millisecond)
				assert.Equal(t, "saved", call())
				assert.Equal(t, int32(0), srv.requests.Load(), "not yet")
				time.Sleep(2 * time.Millisecond)
				assert.Equal(t, "saved", call(), "served while it is refreshed")
				assert.Equal(t, int32(1), srv.requests.Load())
				assert.Equal(t, "access-1", call())
			})
		})
	}
}
