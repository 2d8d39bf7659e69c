package wire

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve returns a request for a loopback server that checks each request
// carries the JSON body {"client_secret": secret}, then answers with
// status, the header Retry-After if retryAfter is not empty, and body.
func serve(t *testing.T, secret string, status int, retryAfter, body string) *Request {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/token", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		got, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		assert.JSONEq(t, fmt.Sprintf(`{"client_secret":%q}`, secret), string(got))
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return JSONRequest(srv.URL+"/token", map[string]string{"client_secret": secret}, secret)
}

func TestSendFailures(t *testing.T) {
	const secret = "cs/Secret+42=" // escaped as cs\/Secret+42= by PHP
	huge := strings.Repeat("x", MaxBody)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		err        string // the Failure's Err, "" for none
		fields     Fields
		bodyWant   string // the Failure's Body, if not empty
	}{
		{"an escaped secret is redacted from the fields", 401, "",
			`{"errorCode":"unauthorized","errorMessage":"secret cs\/Secret\u002b42= is not valid"}`, "",
			Fields{Code: "unauthorized", Message: "secret [redacted] is not valid"},
			`{"errorCode":"unauthorized","errorMessage":"secret [redacted] is not valid"}`},
		{"Retry-After is capped", 503, "9999999999999", `{"code":"closed"}`, "",
			Fields{Code: "closed"}, ""},
		{"a 2xx with an OAuth error is a failure", 200, "",
			`{"access_token":"at-123456","expires_in":60,"error":"invalid_grant","error_description":"no"}`,
			"response carries an OAuth error", Fields{Code: "invalid_grant", Message: "no"},
			`{"access_token":"[redacted]","expires_in":60,"error":"invalid_grant","error_description":"no"}`},
		{"a token expired on arrival is a failure", 200, "",
			`{"accessToken":"at-123456","expires":"2001-01-01T00:00:00Z"}`,
			"token already expired at 2001-01-01T00:00:00Z", Fields{},
			`{"accessToken":"[redacted]","expires":"2001-01-01T00:00:00Z"}`},
		{"a 2xx over MaxBody keeps its token out of the body", 200, "",
			`{"accessToken":"at-123456` + huge + `"}`, "response body exceeds 1048576 bytes", Fields{}, ""},
		{"an error body over MaxBody is cut and redacted", 400, "",
			`{"text":"cs\/Secret+42= ` + huge + `"}`, "", Fields{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := serve(t, secret, tc.status, tc.retryAfter, tc.body).Send(t.Context(), http.DefaultClient)
			assert.Nil(t, tok)
			var f *Failure
			require.ErrorAs(t, err, &f)
			assert.Equal(t, tc.status, f.Response.StatusCode)
			if tc.err == "" {
				assert.NoError(t, f.Err)
			} else {
				assert.EqualError(t, f.Err, tc.err)
			}
			assert.Equal(t, tc.fields, f.Fields)
			if tc.bodyWant != "" {
				assert.Equal(t, tc.bodyWant, string(f.Body))
			}
			assert.LessOrEqual(t, len(f.Body), MaxBody)
			for _, s := range []string{secret, `cs\/Secret+42=`, "at-123456"} {
				assert.NotContains(t, string(f.Body), s)
			}
			if tc.retryAfter != "" {
				assert.Equal(t, MaxRetryAfter, f.RetryAfter)
			}
		})
	}
}

func TestSendReadsTheJWTExpiry(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	access := jwt(fmt.Sprintf(`{"exp":%d}`, exp))
	body, err := json.Marshal(map[string]string{"access_token": access})
	require.NoError(t, err)
	tok, err := serve(t, "s", 200, "", string(body)).Send(t.Context(), http.DefaultClient)
	require.NoError(t, err)
	assert.Equal(t, access, tok.AccessToken)
	assert.Equal(t, time.Unix(exp, 0), tok.Expiry)
}
