package tokensource_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// wireConfig returns a ClientCredentialsConfig with secret for a loopback
// AbbeyCross endpoint that checks every request and answers with status
// and body, and a count of the requests it got.
func wireConfig(t *testing.T, secret string, status int, body string) (*tokensource.ClientCredentialsConfig, *atomic.Int32) {
	t.Helper()
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/v1/oauth/token", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		got, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		want, err := json.Marshal(map[string]string{"client_id": "abbey-id", "client_secret": secret})
		assert.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return &tokensource.ClientCredentialsConfig{ClientID: "abbey-id", ClientSecret: secret, TokenURL: srv.URL + "/v1/oauth/token"}, &requests
}

// fetchError fetches a token from cfg and returns the *tokensource.Error
// it must fail with.
func fetchError(t *testing.T, cfg *tokensource.ClientCredentialsConfig) (*tokensource.Error, error) {
	t.Helper()
	tok, err := cfg.Token(t.Context())
	require.Nil(t, tok)
	var e *tokensource.Error
	require.ErrorAs(t, err, &e)
	return e, err
}

func TestWireRedactsEchoedSecrets(t *testing.T) {
	const secret = "cc/Secret<&>é-1"
	goJSON, err := json.Marshal(secret) // "cc/Secret\u003c\u0026\u003eé-1"
	require.NoError(t, err)
	php := `cc\/Secret<&>\u00e9-1`
	everyChar := ""
	for _, r := range secret {
		everyChar += fmt.Sprintf(`\u%04x`, r)
	}
	for _, tc := range []struct{ name, body string }{
		{"as Go encodes it", `{"errorId":"evt-1","code":"invalid_parameter","text":"secret ` + string(goJSON[1:len(goJSON)-1]) +
			` is unknown","parameter_name":"client_secret","parameter_value":` + string(goJSON) + `}`},
		{"as PHP encodes it", `{"errorId":"evt-1","code":"invalid_parameter","text":"secret ` + php +
			` is unknown","parameter_name":"client_secret","parameter_value":"` + php + `"}`},
		{"every character escaped", `{"errorId":"evt-1","code":"invalid_parameter","text":"secret ` + everyChar +
			` is unknown","parameter_name":"client_secret","parameter_value":"` + everyChar + `"}`},
		{"in a list", `{"errorId":"evt-1","code":"invalid_parameter","text":"secret ` + php +
			` is unknown","parameter_name":"client_secret","parameter_value":["` + everyChar + `"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := wireConfig(t, secret, 400, tc.body)
			e, err := fetchError(t, cfg)
			assert.Equal(t, "invalid_parameter", e.Code)
			assert.Equal(t, "evt-1", e.RequestID)
			assert.Equal(t, "client_secret", e.ParameterName)
			assert.Equal(t, "secret [redacted] is unknown", e.Message)
			assert.Contains(t, []any{"[redacted]", []any{"[redacted]"}}, e.ParameterValue)
			var re *oauth2.RetrieveError
			require.True(t, errors.As(err, &re))
			for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), string(e.Body), e.Message,
				fmt.Sprint(e.ParameterValue), string(re.Body), re.ErrorDescription} {
				for _, form := range []string{secret, string(goJSON[1 : len(goJSON)-1]), php, everyChar, url.QueryEscape(secret)} {
					assert.NotContains(t, out, form)
				}
			}
		})
	}
}

func TestWireRedactsAnErrorPage(t *testing.T) {
	const secret = "cc/Secret<&>é-1"
	body := "<html><p>Bad client secret " + html.EscapeString(secret) + "</p><a href=\"/retry?s=" + url.QueryEscape(secret) + "\">retry</a></html>"
	cfg, _ := wireConfig(t, secret, 400, body)
	e, err := fetchError(t, cfg)
	assert.Equal(t, `<html><p>Bad client secret [redacted]</p><a href="/retry?s=[redacted]">retry</a></html>`, string(e.Body))
	assert.NotContains(t, err.Error(), "Secret")
}

func TestWireRedactsEveryEscapingEverywhere(t *testing.T) {
	const secret = "q8Zt+Yw/3LmN9pQr7sT="
	for _, form := range []string{
		"q8Zt%2bYw%2f3LmN9pQr7sT%3d",           // percent-encoded, lower case
		"q8Zt%2BYw/3LmN9pQr7sT%3D",             // some characters percent-encoded
		"q8Zt&#43;Yw&#x2F;3LmN9pQr7sT&#61;",    // HTML numeric references
		"q8Zt&#X2b;Yw&#47;3LmN9pQr7sT&#x3d;",   // of either case
		"q8Zt&plus;Yw&sol;3LmN9pQr7sT&equals;", // HTML named references
	} {
		t.Run(form, func(t *testing.T) {
			var logs bytes.Buffer
			cfg, _ := wireConfig(t, secret, 400, `{"error":"invalid_client","error_description":"client secret `+form+` is unknown"}`)
			cfg.Observer = tokensource.NewSlogObserver(slog.New(slog.NewJSONHandler(&logs, nil)))
			e, err := fetchError(t, cfg)
			assert.Equal(t, "client secret [redacted] is unknown", e.Message)
			assert.Contains(t, logs.String(), "client secret [redacted] is unknown")
			for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), string(e.Body), logs.String()} {
				assert.NotContains(t, out, form)
				assert.NotContains(t, out, "3LmN9pQr7sT")
			}
		})
	}
}

func TestWireShortSecretKeepsTheErrorReadable(t *testing.T) {
	for _, secret := range []string{"invalid", "client", "error", "e"} {
		t.Run(secret, func(t *testing.T) {
			cfg, _ := wireConfig(t, secret, 401,
				`{"error":"invalid_client","error_description":"bad credentials: `+secret+` is not it"}`)
			e, _ := fetchError(t, cfg)
			assert.Equal(t, "invalid_client", e.Code)
			assert.Equal(t, "bad credentials: [redacted] is not it", e.Message)
		})
	}
}

func TestWireErrorStaysOneLine(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"OAuth", `{"error":"invalid_client\n","error_description":"bad\nINFO forged line \u001b[2Jcleared\r\u202eesrever"}`},
		{"AbbeyCross", `{"errorId":"evt\n1","code":"x\u0000","text":"bad\nINFO forged line \u001b[2Jcleared","parameter_name":"a\nb"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := wireConfig(t, "abbey-secret", 400, tc.body)
			e, err := fetchError(t, cfg)
			assert.Contains(t, e.Message, "bad\nINFO", "the fields keep what the provider said")
			msg := err.Error()
			assert.Contains(t, msg, `bad\nINFO forged line \x1b[2Jcleared`)
			assert.False(t, strings.ContainsAny(msg, "\n\r\x1b\x00\u202e"), "one line without controls: %q", msg)
		})
	}
}

func TestWireUnusableSuccessIsAFailure(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"OAuth error beside a token", `{"access_token":"at-123456","expires_in":60,"error":"invalid_scope","error_description":"no"}`,
			"200 OK: response carries an OAuth error: invalid_scope: no"},
		{"expired on arrival", `{"access_token":"at-123456","expires_at":"2001-01-01T00:00:00Z"}`,
			"200 OK: token already expired at 2001-01-01T00:00:00Z"},
		{"expires_in not a decimal number", `{"access_token":"at-123456","expires_in":"NaN"}`,
			"200 OK: expires_in is not a valid number of seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, requests := wireConfig(t, "abbey-secret", 200, tc.body)
			e, err := fetchError(t, cfg)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, string(e.Body), "at-123456")
			assert.Equal(t, int32(1), requests.Load(), "not retried")
		})
	}
}

func TestWireReadsAJWTExpiry(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	access := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d}`, exp)) + ".c2ln"
	cfg, _ := wireConfig(t, "abbey-secret", 200, `{"access_token":"`+access+`"}`)
	tok, err := cfg.Token(t.Context())
	require.NoError(t, err)
	assert.Equal(t, time.Unix(exp, 0), tok.Expiry, "exp, not the 5-minute default")
}

func TestWireExpiryForms(t *testing.T) {
	jwt := func(exp int64) string {
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
			base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"exp":%d}`, exp)) + ".c2ln"
	}
	const year9999 = 253402300799 // 9999-12-31T23:59:59Z
	for _, tc := range []struct {
		name, body string
		want       time.Duration // after the send time
	}{
		{"half a second", `{"access_token":"at-1","expires_in":"0.5"}`, 500 * time.Millisecond},
		{"half a second as a number", `{"access_token":"at-1","expires_in":0.5}`, 500 * time.Millisecond},
		{"a second and a half", `{"access_token":"at-1","expires_in":"1.5"}`, 1500 * time.Millisecond},
		{"expires_in of 68 years", `{"access_token":"at-1","expires_in":2147483647}`, 24 * time.Hour},
		{"JWT exp of the year 9999", `{"access_token":"` + jwt(year9999) + `"}`, 24 * time.Hour},
		{"expires of the year 9999, RFC 3339", `{"access_token":"at-1","expires":"9999-12-31T23:59:59Z"}`, 24 * time.Hour},
		{"expires_at of the year 9999, Unix seconds", `{"access_token":"at-1","expires_at":253402300799}`, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := wireConfig(t, "abbey-secret", 200, tc.body)
			before := time.Now()
			tok, err := cfg.Token(t.Context())
			after := time.Now()
			require.NoError(t, err)
			assert.WithinRange(t, tok.Expiry, before.Add(tc.want), after.Add(tc.want))
		})
	}
}
