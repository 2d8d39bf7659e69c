package tokensource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// fakeFliqa stands in for Fliqa's token endpoint and an API behind it.
func fakeFliqa() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/service/auth/token/sandbox/my_slug" && r.Header.Get("Api-Secret") == "api-secret":
			fmt.Println("token endpoint called")
			fmt.Fprint(w, `{"accessToken":"eyJhbGciOiJIUzI1NiJ9.demo","expiresIn":360,"scope":["account_info","payments"]}`)
		case r.URL.Path == "/service/auth/token/production/my_slug":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"errorCode":"forbidden","errorMessage":"Tenant with slug 'my_slug' does not have 'production' access.","requestId":"554099e7"}`)
		default:
			fmt.Fprintf(w, "%s %s with %s", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
	}))
}

func ExampleFliqaConfig_TokenSource() {
	srv := fakeFliqa()
	defer srv.Close()

	cfg := &tokensource.FliqaConfig{
		APIKey:      "api-key",
		APISecret:   "api-secret",
		Environment: tokensource.FliqaSandbox,
		TenantSlug:  "my_slug",
		BaseURL:     srv.URL,
	}
	src := cfg.TokenSource(context.Background())
	for range 2 { // the second call is served from the cache
		tok, err := src.Token()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tok.Type(), tok.AccessToken, tok.ExpiresIn, tokensource.Scopes(tok))
	}

	// The same source authorizes an API client.
	resp, err := oauth2.NewClient(context.Background(), src).Get(srv.URL + "/accounts")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// token endpoint called
	// Bearer eyJhbGciOiJIUzI1NiJ9.demo 360 [account_info payments]
	// Bearer eyJhbGciOiJIUzI1NiJ9.demo 360 [account_info payments]
	// GET /accounts with Bearer eyJhbGciOiJIUzI1NiJ9.demo
}

func ExampleError() {
	srv := fakeFliqa()
	defer srv.Close()

	cfg := &tokensource.FliqaConfig{
		APIKey:      "api-key",
		APISecret:   "api-secret",
		Environment: tokensource.FliqaProduction,
		TenantSlug:  "my_slug",
		BaseURL:     srv.URL,
	}
	_, err := cfg.Token(context.Background())
	var e *tokensource.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code, e.RequestID)
		fmt.Println(e.Message)
	}
	// Code written for x/oauth2 sees the same failure.
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println(re.Response.Status, re.ErrorCode)
	}
	// Output:
	// 403 forbidden 554099e7
	// Tenant with slug 'my_slug' does not have 'production' access.
	// 403 Forbidden forbidden
}

// fakeFlinks stands in for Flinks' token endpoint: its refresh token never
// changes, refresh responses carry none, and other refresh tokens are
// refused.
func fakeFlinks() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]string
		_ = json.NewDecoder(r.Body).Decode(&req)
		fmt.Println("flinks:", req["grant_type"])
		switch req["grant_type"] {
		case "authorization_code":
			fmt.Fprint(w, `{"access_token":"access-1","token_type":"Bearer","expires_in":299,"refresh_token":"refresh-1"}`)
		case "refresh_token":
			if req["refresh_token"] != "refresh-1" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"invalid_grant","error_description":"refresh token revoked"}`)
				return
			}
			fmt.Fprint(w, `{"access_token":"access-2","token_type":"Bearer","expires_in":299}`)
		}
	}))
}

func ExampleFlinksConfig_Exchange() {
	srv := fakeFlinks()
	defer srv.Close()

	cfg := &tokensource.FlinksConfig{
		ClientID:     "client-id",
		ClientSecret: "client-secret",
		BaseURL:      srv.URL, // omit for https://api.flinks.io
		RedirectURL:  "https://app.example.com/flinks/callback",
	}
	// code comes from the callback of the authorization request.
	tok, err := cfg.Exchange(context.Background(), "authorization-code")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.AccessToken, tok.RefreshToken, tok.ExpiresIn)
	// Output:
	// flinks: authorization_code
	// access-1 refresh-1 299
}

func ExampleFlinksConfig_TokenSource() {
	srv := fakeFlinks()
	defer srv.Close()

	store := map[string]*oauth2.Token{} // your database
	cfg := &tokensource.FlinksConfig{
		ClientID:     "client-id",
		ClientSecret: "client-secret",
		BaseURL:      srv.URL,
		RedirectURL:  "https://app.example.com/flinks/callback",
		OnNewToken: func(tok *oauth2.Token) {
			store["user-42"] = tok
			fmt.Println("stored", tok.AccessToken, "with", tok.RefreshToken)
		},
	}
	if _, err := cfg.Exchange(context.Background(), "authorization-code"); err != nil {
		fmt.Println(err)
		return
	}

	// Later, the stored token has expired: the source refreshes it and keeps
	// the refresh token, which Flinks does not send again.
	store["user-42"].Expiry = time.Now().Add(-time.Minute)
	src := cfg.TokenSource(context.Background(), store["user-42"])
	for range 2 { // the second call is served from the cache
		tok, err := src.Token()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tok.AccessToken, tok.RefreshToken)
	}

	// A refresh token Flinks no longer accepts means the user must
	// authorize again.
	if _, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: "revoked"}).Token(); errors.Is(err, tokensource.ErrReauthorizationRequired) {
		fmt.Println("send the user through authorization again")
	}
	// Output:
	// flinks: authorization_code
	// stored access-1 with refresh-1
	// flinks: refresh_token
	// stored access-2 with refresh-1
	// access-2 refresh-1
	// access-2 refresh-1
	// flinks: refresh_token
	// send the user through authorization again
}

func ExampleClientCredentialsConfig_TokenSource() {
	// A JSON client-credentials endpoint, here closed for its non-working
	// hours on the first request.
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req map[string]string
		_ = json.NewDecoder(r.Body).Decode(&req)
		calls++
		fmt.Println("token request for", req["client_id"])
		if calls == 1 {
			w.Header().Set("Retry-After", "0") // no wait asked for
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"errorId":"e1","code":"unavailable","text":"The server is currently unavailable due to non-working hours. Please try again later."}`)
			return
		}
		fmt.Fprint(w, `{"access_token":"abbey-token","token_type":"Bearer","expires_in":"3600"}`)
	}))
	defer srv.Close()

	cfg := &tokensource.ClientCredentialsConfig{
		ClientID:     "client-id",
		ClientSecret: "client-secret",
		TokenURL:     srv.URL + "/v1/oauth/token",
	}
	tok, err := cfg.TokenSource(context.Background()).Token() // the 503 is retried
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), tok.AccessToken, tok.ExpiresIn)
	// Output:
	// token request for client-id
	// token request for client-id
	// Bearer abbey-token 3600
}
