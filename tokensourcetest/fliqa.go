package tokensourcetest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Fliqa fakes Fliqa's GET /service/auth/token/{environment}/{tenantSlug}.
//
// It answers 401 when the Api-Key or Api-Secret header is missing
// (errorSubCode api_key_secret_header_must_be_provided) or the pair is not
// the configured one or belongs to another tenant (not_authorized); 403
// forbidden when production is asked for with sandbox credentials, in
// Fliqa's words; 400 for an environment that is neither production nor
// sandbox. A token lives 360 seconds unless SetLifetime says otherwise.
type Fliqa struct {
	Endpoint
	// APIKey and APISecret are the accepted credentials. They belong to
	// Environment and TenantSlug.
	APIKey, APISecret string
	// Environment is "production" or "sandbox".
	Environment string
	// TenantSlug names the tenant.
	TenantSlug string
	// Scopes are the scopes every token grants.
	Scopes []string
}

// NewFliqa starts a Fliqa fake on loopback that accepts test credentials
// for the sandbox tenant "my_slug". It is closed when tb's test ends; with
// a nil tb, call Close.
func NewFliqa(tb testing.TB) *Fliqa {
	f := NewFliqaHandler()
	f.start(tb, f)
	return f
}

// NewFliqaHandler returns the fake NewFliqa starts, not started, to mount
// on a server of your own: its URL is empty, and Close does nothing.
func NewFliqaHandler() *Fliqa {
	return &Fliqa{
		APIKey:      "fliqa-test-key",
		APISecret:   "fliqa-test-secret",
		Environment: "sandbox",
		TenantSlug:  "my_slug",
		Scopes:      []string{"account_owner", "account_info", "payments"},
	}
}

// ServeHTTP answers one token request.
func (f *Fliqa) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.serve(w, r, f.answer, func(status int) any {
		return f.error(fliqaCodes[status], "", http.StatusText(status))
	})
}

var fliqaCodes = map[int]string{400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_allowed"}

func (f *Fliqa) answer(r Request) answer {
	env, slug, ok := strings.Cut(strings.TrimPrefix(r.Path, "/service/auth/token/"), "/")
	key, secret := r.Header.Get("Api-Key"), r.Header.Get("Api-Secret")
	switch {
	case !strings.HasPrefix(r.Path, "/service/auth/token/") || !ok || slug == "" || strings.Contains(slug, "/"):
		return answer{404, f.error("not_found", "", "Resource not found")}
	case r.Method != http.MethodGet:
		return answer{405, f.error("not_allowed", "", "Method not allowed")}
	case env != "production" && env != "sandbox":
		return answer{400, f.error("invalid_parameter", "", fmt.Sprintf("Invalid environment '%s'", env))}
	case key == "" || secret == "":
		return answer{401, f.error("unauthorized", "api_key_secret_header_must_be_provided", "API key and secret headers must be provided")}
	case env != f.Environment && env == "production":
		return answer{403, f.error("forbidden", "access_not_allowed",
			fmt.Sprintf("Tenant with slug '%s' does not have 'production' access.", slug))}
	case key != f.APIKey || secret != f.APISecret || env != f.Environment || slug != f.TenantSlug:
		return answer{401, f.error("unauthorized", "not_authorized", "Not authorized")}
	}
	n, life := f.issue(360 * time.Second)
	return answer{200, map[string]any{
		"accessToken": fmt.Sprintf("fliqa-access-%d", n),
		"expires":     time.Now().Add(life).UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"expiresIn":   int(life / time.Second),
		"scope":       f.Scopes,
	}}
}

// error is Fliqa's error body.
func (f *Fliqa) error(code, subCode, message string) map[string]any {
	if code == "" {
		code = "other"
	}
	body := map[string]any{
		"errorCode":        code,
		"errorMessage":     message,
		"documentationUrl": "https://documentation.fliqa.io/api/errors/" + code,
		"requestId":        fmt.Sprintf("%032x", f.Requests()),
	}
	if subCode != "" {
		body["errorSubCode"] = subCode
	}
	return body
}
