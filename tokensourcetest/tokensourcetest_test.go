package tokensourcetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource/tokensourcetest"
)

// do sends a request and returns the status, the Retry-After header and
// the decoded JSON body.
func do(t *testing.T, method, url string, header map[string]string, body string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), string(raw))
	return resp.StatusCode, resp.Header.Get("Retry-After"), m
}

func TestFliqa(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	good := map[string]string{"Api-Key": f.APIKey, "Api-Secret": f.APISecret}
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		status  int
		code    string
		subCode string
	}{
		{"token", "GET", "/service/auth/token/sandbox/my_slug", good, 200, "", ""},
		{"no secret header", "GET", "/service/auth/token/sandbox/my_slug", map[string]string{"Api-Key": f.APIKey}, 401, "unauthorized", "api_key_secret_header_must_be_provided"},
		{"wrong secret", "GET", "/service/auth/token/sandbox/my_slug", map[string]string{"Api-Key": f.APIKey, "Api-Secret": "x"}, 401, "unauthorized", "not_authorized"},
		{"sandbox key on production", "GET", "/service/auth/token/production/my_slug", good, 403, "forbidden", "access_not_allowed"},
		{"other tenant", "GET", "/service/auth/token/sandbox/other", good, 401, "unauthorized", "not_authorized"},
		{"unknown environment", "GET", "/service/auth/token/staging/my_slug", good, 400, "invalid_parameter", ""},
		{"POST", "POST", "/service/auth/token/sandbox/my_slug", good, 405, "not_allowed", ""},
		{"other path", "GET", "/service/auth/token/sandbox", good, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, tc.method, f.URL+tc.path, tc.header, "")
			assert.Equal(t, tc.status, status)
			if tc.status == 200 {
				assert.Regexp(t, `^fliqa-access-\d+$`, body["accessToken"])
				assert.Equal(t, 360.0, body["expiresIn"])
				assert.Equal(t, []any{"account_owner", "account_info", "payments"}, body["scope"])
				expires, err := time.Parse(time.RFC3339, body["expires"].(string))
				require.NoError(t, err)
				assert.WithinDuration(t, time.Now().Add(360*time.Second), expires, 2*time.Second)
				return
			}
			assert.Equal(t, tc.code, body["errorCode"])
			sub, _ := body["errorSubCode"].(string)
			assert.Equal(t, tc.subCode, sub)
			assert.NotEmpty(t, body["errorMessage"])
			assert.Equal(t, "https://documentation.fliqa.io/api/errors/"+tc.code, body["documentationUrl"])
			assert.Len(t, body["requestId"], 32)
		})
	}
	assert.Equal(t, 8, f.Requests())
	assert.Equal(t, f.APISecret, f.Recent()[0].Header.Get("Api-Secret"))
}

func TestFlinks(t *testing.T) {
	f := tokensourcetest.NewFlinks(t)
	post := func(t *testing.T, fields map[string]string) (int, map[string]any) {
		b, _ := json.Marshal(fields)
		status, _, body := do(t, "POST", f.URL+"/api/v1/token", map[string]string{"Content-Type": "application/json"}, string(b))
		return status, body
	}
	creds := func(m map[string]string) map[string]string {
		m["client_id"], m["client_secret"] = f.ClientID, f.ClientSecret
		return m
	}

	code := f.Code()
	status, body := post(t, creds(map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": f.RedirectURL}))
	require.Equal(t, 200, status, body)
	refresh := body["refresh_token"].(string)
	assert.Equal(t, 299.0, body["expires_in"])

	status, body = post(t, creds(map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}))
	require.Equal(t, 200, status, body)
	assert.Nil(t, body["refresh_token"], "a refresh response carries no refresh token")

	status, body = post(t, creds(map[string]string{"grant_type": "client_credentials", "scope": "client:admin"}))
	require.Equal(t, 200, status, body)
	assert.Equal(t, "client:admin", body["scope"])
	assert.Nil(t, body["refresh_token"])

	f.Revoke(refresh)
	for _, tc := range []struct {
		name   string
		fields map[string]string
		status int
		code   string
	}{
		{"used code", creds(map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": f.RedirectURL}), 400, "invalid_grant"},
		{"other redirect", creds(map[string]string{"grant_type": "authorization_code", "code": f.Code(), "redirect_uri": "https://evil.example"}), 400, "invalid_grant"},
		{"revoked refresh token", creds(map[string]string{"grant_type": "refresh_token", "refresh_token": refresh}), 400, "invalid_grant"},
		{"wrong secret", map[string]string{"grant_type": "client_credentials", "client_id": f.ClientID, "client_secret": "x"}, 400, "invalid_client"},
		{"no grant", creds(map[string]string{}), 400, "unsupported_grant_type"},
		{"unknown grant", creds(map[string]string{"grant_type": "password"}), 400, "unsupported_grant_type"},
		{"scope with a code", creds(map[string]string{"grant_type": "authorization_code", "code": f.Code(), "redirect_uri": f.RedirectURL, "scope": "x"}), 400, "invalid_request"},
		{"code without redirect_uri", creds(map[string]string{"grant_type": "authorization_code", "code": f.Code()}), 400, "invalid_request"},
		{"credentials missing", map[string]string{"grant_type": "client_credentials"}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, tc.fields)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, body["error"])
			assert.NotEmpty(t, body["error_description"])
		})
	}
	t.Run("form body", func(t *testing.T) {
		status, _, body := do(t, "POST", f.URL+"/api/v1/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			"grant_type=client_credentials&client_id="+f.ClientID+"&client_secret="+f.ClientSecret)
		assert.Equal(t, 400, status)
		assert.Equal(t, "invalid_request", body["error"])
	})
}

func TestAbbeyCross(t *testing.T) {
	a := tokensourcetest.NewAbbeyCross(t)
	asJSON := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
		param  string
	}{
		{"token", `{"client_id":"abbeycross-test-client","client_secret":"abbeycross-test-secret"}`, 200, "", ""},
		{"no secret", `{"client_id":"abbeycross-test-client"}`, 409, "validation_error", "client_secret"},
		{"wrong secret", `{"client_id":"abbeycross-test-client","client_secret":"x"}`, 409, "invalid_credentials", ""},
		{"not JSON", `client_id=a`, 409, "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, "POST", a.URL+"/v1/oauth/token", asJSON, tc.body)
			assert.Equal(t, tc.status, status)
			if status == 200 {
				assert.Regexp(t, `^abbeycross-access-\d+$`, body["access_token"])
				assert.Equal(t, 3600.0, body["expires_in"])
				return
			}
			assert.Equal(t, tc.code, body["code"])
			assert.NotEmpty(t, body["errorId"])
			assert.NotEmpty(t, body["text"])
			if tc.param != "" {
				assert.Equal(t, tc.param, body["parameter_name"])
			}
		})
	}
	t.Run("non-working hours", func(t *testing.T) {
		good := `{"client_id":"abbeycross-test-client","client_secret":"abbeycross-test-secret"}`
		a.SetWorkingHours(false, "3600")
		status, retryAfter, body := do(t, "POST", a.URL+"/v1/oauth/token", asJSON, good)
		assert.Equal(t, 503, status)
		assert.Equal(t, "3600", retryAfter)
		assert.Equal(t, tokensourcetest.NonWorkingHours, body["text"])
		a.SetWorkingHours(false, "")
		status, retryAfter, _ = do(t, "POST", a.URL+"/v1/oauth/token", asJSON, good)
		assert.Equal(t, 503, status)
		assert.Empty(t, retryAfter)
		a.SetWorkingHours(true, "")
		status, _, _ = do(t, "POST", a.URL+"/v1/oauth/token", asJSON, good)
		assert.Equal(t, 200, status)
	})
}

func TestJSONContentType(t *testing.T) {
	flinks := tokensourcetest.NewFlinks(t)
	abbey := tokensourcetest.NewAbbeyCross(t)
	for _, fake := range []struct {
		name    string
		url     string
		body    string
		refused int // the status of a refused request
		code    func(map[string]any) any
	}{
		{"Flinks", flinks.URL + "/api/v1/token",
			`{"grant_type":"client_credentials","client_id":"flinks-test-client","client_secret":"flinks-test-secret"}`,
			400, func(body map[string]any) any { return body["error"] }},
		{"AbbeyCross", abbey.URL + "/v1/oauth/token",
			`{"client_id":"abbeycross-test-client","client_secret":"abbeycross-test-secret"}`,
			409, func(body map[string]any) any { return body["code"] }},
	} {
		for _, tc := range []struct {
			contentType string
			ok          bool
		}{
			{"application/json", true},
			{"application/json; charset=utf-8", true},
			{"application/json;charset=UTF-8", true},
			{`application/json; charset="utf-8"`, true},
			{"Application/JSON; Charset=utf-8", true},
			{"application/json; version=2", true},
			{"", false},
			{"text/plain", false},
			{"application/x-www-form-urlencoded", false},
			{"application/jsonp", false},
			{"application/json-patch+json", false},
			{"application/json; charset", false},
		} {
			t.Run(fake.name+" "+tc.contentType, func(t *testing.T) {
				header := map[string]string{}
				if tc.contentType != "" {
					header["Content-Type"] = tc.contentType
				}
				status, _, body := do(t, "POST", fake.url, header, fake.body)
				if tc.ok {
					assert.Equal(t, 200, status, body)
					assert.NotEmpty(t, body["access_token"])
					return
				}
				assert.Equal(t, fake.refused, status)
				assert.Equal(t, "invalid_request", fake.code(body))
			})
		}
	}
}

func TestFlinksScriptedErrors(t *testing.T) {
	f := tokensourcetest.NewFlinks(t)
	body := `{"grant_type":"client_credentials","client_id":"flinks-test-client","client_secret":"flinks-test-secret"}`
	for _, tc := range []struct {
		status int
		code   string
	}{
		{400, "invalid_request"},
		{401, "http_401"},
		{403, "http_403"},
		{429, "http_429"},
		{500, "server_error"},
		{503, "temporarily_unavailable"},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			f.FailNext(1, tc.status, "")
			status, _, got := do(t, "POST", f.URL+"/api/v1/token", map[string]string{"Content-Type": "application/json"}, body)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.code, got["error"])
			assert.Equal(t, http.StatusText(tc.status), got["error_description"])
		})
	}
}

func TestFaultScript(t *testing.T) {
	a := tokensourcetest.NewAbbeyCross(t)
	a.SetLifetime(90 * time.Second)
	a.FailNext(2, 500, "")
	a.FailNext(1, 429, "7")
	a.DropNext(1)
	good := `{"client_id":"abbeycross-test-client","client_secret":"abbeycross-test-secret"}`
	header := map[string]string{"Content-Type": "application/json"}
	for _, want := range []int{500, 500} {
		status, _, body := do(t, "POST", a.URL+"/v1/oauth/token", header, good)
		assert.Equal(t, want, status)
		assert.NotEmpty(t, body["errorId"], "the provider's error body")
	}
	status, retryAfter, _ := do(t, "POST", a.URL+"/v1/oauth/token", header, good)
	assert.Equal(t, 429, status)
	assert.Equal(t, "7", retryAfter)

	req, _ := http.NewRequestWithContext(t.Context(), "POST", a.URL+"/v1/oauth/token", strings.NewReader(good))
	_, err := http.DefaultClient.Do(req)
	assert.Error(t, err, "the connection is dropped")

	a.SetLatency(50 * time.Millisecond)
	start := time.Now()
	status, _, body := do(t, "POST", a.URL+"/v1/oauth/token", header, good)
	assert.Equal(t, 200, status)
	assert.Equal(t, 90.0, body["expires_in"])
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	assert.Equal(t, 5, a.Requests())
	require.Len(t, a.Recent(), 5)
	assert.Equal(t, "abbeycross-test-secret", a.Last().Fields["client_secret"])
}

func TestHandlersMountOnAServerOfYourOwn(t *testing.T) {
	fliqa := tokensourcetest.NewFliqaHandler()
	flinks := tokensourcetest.NewFlinksHandler()
	abbey := tokensourcetest.NewAbbeyCrossHandler()
	mux := http.NewServeMux()
	mux.Handle("/service/auth/token/", fliqa)
	mux.Handle("/api/v1/token", flinks)
	mux.Handle("/v1/oauth/token", abbey)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, e := range []*tokensourcetest.Endpoint{&fliqa.Endpoint, &flinks.Endpoint, &abbey.Endpoint} {
		assert.Empty(t, e.URL, "not started")
		e.Close() // nothing to close
	}

	status, _, body := do(t, "GET", srv.URL+"/service/auth/token/sandbox/my_slug",
		map[string]string{"Api-Key": fliqa.APIKey, "Api-Secret": fliqa.APISecret}, "")
	assert.Equal(t, 200, status)
	assert.Equal(t, "fliqa-access-1", body["accessToken"])
	asJSON := map[string]string{"Content-Type": "application/json"}
	status, _, body = do(t, "POST", srv.URL+"/api/v1/token", asJSON,
		`{"grant_type":"client_credentials","client_id":"`+flinks.ClientID+`","client_secret":"`+flinks.ClientSecret+`"}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, "flinks-access-1", body["access_token"])
	status, _, body = do(t, "POST", srv.URL+"/v1/oauth/token", asJSON,
		`{"client_id":"`+abbey.ClientID+`","client_secret":"`+abbey.ClientSecret+`"}`)
	assert.Equal(t, 200, status)
	assert.Equal(t, "abbeycross-access-1", body["access_token"])
	assert.Equal(t, []int{1, 1, 1}, []int{fliqa.Requests(), flinks.Requests(), abbey.Requests()})
}
