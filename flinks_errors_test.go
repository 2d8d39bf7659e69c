package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func flinksError(code int, errCode string) func(http.ResponseWriter, map[string]string, int) {
	return func(w http.ResponseWriter, _ map[string]string, _ int) {
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":%q,"error_description":"described %s"}`, errCode, errCode)
	}
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
