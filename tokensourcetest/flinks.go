package tokensourcetest

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"
)

// Flinks fakes Flinks' POST /api/v1/token with its three grants.
//
// The body must be JSON (Content-Type application/json, parameters such as
// charset allowed) with exactly the fields of its grant: client_credentials
// takes grant_type, client_id, client_secret and an optional scope;
// authorization_code takes code and redirect_uri as well; refresh_token
// takes refresh_token. Anything else is 400 invalid_request, an unknown
// grant 400 unsupported_grant_type, wrong client credentials 400
// invalid_client: Flinks lists all three among its 400s. An authorization
// code works once; a used one, a redirect_uri other than RedirectURL, or an
// unknown or revoked refresh token is 400 invalid_grant. As at Flinks, a
// refresh token never changes and refresh responses carry none. A token
// lives 299 seconds unless SetLifetime says otherwise.
//
// A status scripted with FailNext carries the error Flinks lists for it:
// invalid_request for 400, server_error for 500, temporarily_unavailable
// for 503. Flinks lists none for other statuses, such as 401, 403 or 429,
// so the fake says http_401, http_403 or http_429.
type Flinks struct {
	Endpoint
	// ClientID and ClientSecret are the accepted client credentials.
	ClientID, ClientSecret string
	// RedirectURL is the redirect_uri that codes were issued for.
	RedirectURL string

	codes       map[string]bool // used authorization codes
	refresh     map[string]bool // refresh tokens issued and not revoked
	lastCode    int
	lastRefresh int
}

// NewFlinks starts a Flinks fake on loopback with test client
// credentials. It is closed when tb's test ends; with a nil tb, call Close.
func NewFlinks(tb testing.TB) *Flinks {
	f := NewFlinksHandler()
	f.start(tb, f)
	return f
}

// NewFlinksHandler returns the fake NewFlinks starts, not started, to
// mount on a server of your own: its URL is empty, and Close does nothing.
func NewFlinksHandler() *Flinks {
	return &Flinks{
		ClientID:     "flinks-test-client",
		ClientSecret: "flinks-test-secret",
		RedirectURL:  "https://app.example.com/flinks/callback",
	}
}

// Code returns a new authorization code, as the authorization callback
// would deliver it. Any code that has not been used works, too.
func (f *Flinks) Code() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastCode++
	return fmt.Sprintf("flinks-code-%d", f.lastCode)
}

// Revoke makes a refresh token unusable, as an expired or revoked one is.
func (f *Flinks) Revoke(refreshToken string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.refresh, refreshToken)
}

// ServeHTTP answers one token request.
func (f *Flinks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.serve(w, r, f.answer, func(status int) any {
		code := map[int]string{400: "invalid_request", 500: "server_error", 503: "temporarily_unavailable"}[status]
		return flinksError(cmp.Or(code, fmt.Sprintf("http_%d", status)), http.StatusText(status))
	})
}

var flinksGrants = map[string][]string{
	"client_credentials": {"client_id", "client_secret", "grant_type"},
	"authorization_code": {"client_id", "client_secret", "code", "grant_type", "redirect_uri"},
	"refresh_token":      {"client_id", "client_secret", "grant_type", "refresh_token"},
}

func (f *Flinks) answer(r Request) answer {
	if r.Path != "/api/v1/token" {
		return answer{404, flinksError("invalid_request", "Not found")}
	}
	if r.Method != http.MethodPost || !isJSON(r.Header) || r.Fields == nil {
		return answer{400, flinksError("invalid_request", "POST a JSON object")}
	}
	grant := r.Fields["grant_type"]
	want, ok := flinksGrants[grant]
	if !ok {
		return answer{400, flinksError("unsupported_grant_type", fmt.Sprintf("Grant type '%s' is not supported", grant))}
	}
	got := slices.Sorted(maps.Keys(r.Fields))
	if grant == "client_credentials" && r.Fields["scope"] != "" {
		got = slices.DeleteFunc(got, func(k string) bool { return k == "scope" })
	}
	if !slices.Equal(got, want) {
		return answer{400, flinksError("invalid_request", fmt.Sprintf("The %s grant takes exactly %v", grant, want))}
	}
	if r.Fields["client_id"] != f.ClientID || r.Fields["client_secret"] != f.ClientSecret {
		return answer{400, flinksError("invalid_client", "Confirm the client_id and client_secret")}
	}

	refresh, fail := f.grant(grant, r.Fields)
	if fail != "" {
		return answer{400, flinksError("invalid_grant", fail)}
	}
	n, life := f.issue(299 * time.Second)
	body := map[string]any{"access_token": fmt.Sprintf("flinks-access-%d", n), "token_type": "Bearer", "expires_in": int(life / time.Second)}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	if s := r.Fields["scope"]; s != "" {
		body["scope"] = s
	}
	return answer{200, body}
}

// grant checks a code or refresh token, and issues the refresh token of a
// code. It returns why the grant is invalid, or "".
func (f *Flinks) grant(grant string, fields map[string]string) (refresh, invalid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.codes == nil {
		f.codes, f.refresh = map[string]bool{}, map[string]bool{}
	}
	switch grant {
	case "authorization_code":
		code := fields["code"]
		if code == "" || f.codes[code] {
			return "", "The authorization code is invalid or has been used"
		}
		f.codes[code] = true
		if fields["redirect_uri"] != f.RedirectURL {
			return "", "The redirect_uri does not match the authorization request"
		}
		f.lastRefresh++
		refresh = fmt.Sprintf("flinks-refresh-%d", f.lastRefresh)
		f.refresh[refresh] = true
	case "refresh_token":
		if !f.refresh[fields["refresh_token"]] {
			return "", "The refresh token has expired or been revoked"
		}
	}
	return refresh, ""
}

func flinksError(code, description string) map[string]string {
	return map[string]string{"error": code, "error_description": description}
}
