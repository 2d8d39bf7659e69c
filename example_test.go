package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

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
