package tokensource_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func TestFliqaErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   tokensource.Error
	}{
		{"401 with every field", 401,
			`{"errorMessage":"Not authorized","errorCode":"unauthorized","errorSubCode":"api_key_secret_header_must_be_provided","documentationUrl":"https://documentation.fliqa.io/api/errors/unauthorized","requestId":"554099e7d0b648d7b96bc31c148425b8","resourceId":"9c14c6f2f0ee4a54a280be3c18ec1dba"}`,
			tokensource.Error{StatusCode: 401, Code: "unauthorized", SubCode: "api_key_secret_header_must_be_provided", Message: "Not authorized",
				DocumentationURL: "https://documentation.fliqa.io/api/errors/unauthorized", RequestID: "554099e7d0b648d7b96bc31c148425b8", ResourceID: "9c14c6f2f0ee4a54a280be3c18ec1dba"}},
		{"403 production access", 403,
			`{"errorCode":"forbidden","errorMessage":"Tenant with slug 'my_slug' does not have 'production' access.","documentationUrl":"https://documentation.fliqa.io/api/errors/forbidden"}`,
			tokensource.Error{StatusCode: 403, Code: "forbidden", Message: "Tenant with slug 'my_slug' does not have 'production' access.",
				DocumentationURL: "https://documentation.fliqa.io/api/errors/forbidden"}},
		{"400 without sub code", 400, `{"errorCode":"bad_request","errorMessage":"Bad request"}`,
			tokensource.Error{StatusCode: 400, Code: "bad_request", Message: "Bad request"}},
		{"404 with a body that is not JSON", 404, `<html>not found</html>`, tokensource.Error{StatusCode: 404}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			_, err := srv.config("").Token(t.Context())
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, int32(1), srv.requests.Load(), "4xx is never retried")
			assert.Equal(t, tc.want.StatusCode, e.StatusCode)
			assert.Equal(t, tc.want.Code, e.Code)
			assert.Equal(t, tc.want.SubCode, e.SubCode)
			assert.Equal(t, tc.want.Message, e.Message)
			assert.Equal(t, tc.want.DocumentationURL, e.DocumentationURL)
			assert.Equal(t, tc.want.RequestID, e.RequestID)
			assert.Equal(t, tc.want.ResourceID, e.ResourceID)
			assert.Equal(t, tc.body, string(e.Body))
			assert.True(t, strings.HasPrefix(err.Error(), "tokensource: GET "+srv.URL), err.Error())
			assert.Contains(t, err.Error(), tc.want.Message)

			var re *oauth2.RetrieveError
			require.ErrorAs(t, err, &re, "code written for x/oauth2 keeps working")
			assert.Equal(t, tc.status, re.Response.StatusCode)
			assert.Equal(t, tc.body, string(re.Body))
			assert.Equal(t, tc.want.Code, re.ErrorCode)
			assert.Equal(t, tc.want.Message, re.ErrorDescription)
			assert.Equal(t, tc.want.DocumentationURL, re.ErrorURI)
		})
	}
}

func TestFliqaUnusableSuccessIsNotRetried(t *testing.T) {
	huge := `{"accessToken":"` + strings.Repeat("a", 1<<20) + `"}`
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `<html>maintenance</html>`, "200 OK: response is not a JSON object"},
		{"JSON but not an object", `["a"]`, "200 OK: response is not a JSON object"},
		{"no access token", `{"expiresIn":360}`, "200 OK: response has no access token"},
		{"bad expiresIn", `{"accessToken":"a-secret-token","expiresIn":"soon"}`, "200 OK: expiresIn is not a valid number of seconds"},
		{"bad expires", `{"accessToken":"a","expires":"tomorrow"}`, "200 OK: expires is not an RFC 3339 time"},
		{"over 1 MiB", huge, "200 OK: response body exceeds 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", func(w http.ResponseWriter, _ int) { fmt.Fprint(w, tc.body) })
			_, err := srv.config("").Token(t.Context())
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, 200, e.StatusCode)
			assert.Contains(t, err.Error(), tc.want)
			assert.LessOrEqual(t, len(e.Body), 1<<20)
			assert.NotContains(t, string(e.Body), "a-secret-token", "a token in a failed response is redacted too")
			assert.Equal(t, int32(1), srv.requests.Load())
		})
	}
}

func TestErrorsAsOnlyForRetrieveError(t *testing.T) {
	e := &tokensource.Error{StatusCode: 500}
	var target *json.SyntaxError
	assert.False(t, errors.As(e, &target))
}
