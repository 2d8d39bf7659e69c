package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

func ExampleFliqaConfig_TokenSource() {
	fliqa := tokensourcetest.NewFliqa(nil) // a local fake of Fliqa's token endpoint
	defer fliqa.Close()

	cfg := &tokensource.FliqaConfig{
		APIKey:      fliqa.APIKey,
		APISecret:   fliqa.APISecret,
		Environment: tokensource.FliqaSandbox,
		TenantSlug:  "my_slug",
		BaseURL:     fliqa.URL,
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
	fmt.Println("token requests:", fliqa.Requests())

	// An API client that adds the token to every request; it shares the
	// source's cache when given the same source: &tokensource.Transport{Source: src}.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s with %s", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer api.Close()
	client := &http.Client{Transport: &tokensource.Transport{Source: src}}
	resp, err := client.Get(api.URL + "/accounts")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output:
	// Bearer fliqa-access-1 360 [account_owner account_info payments]
	// Bearer fliqa-access-1 360 [account_owner account_info payments]
	// token requests: 1
	// GET /accounts with Bearer fliqa-access-1
}

func ExampleError() {
	fliqa := tokensourcetest.NewFliqa(nil)
	defer fliqa.Close()

	cfg := &tokensource.FliqaConfig{
		APIKey:      fliqa.APIKey,
		APISecret:   fliqa.APISecret,
		Environment: tokensource.FliqaProduction, // but the credentials are sandbox ones
		TenantSlug:  "my_slug",
		BaseURL:     fliqa.URL,
	}
	_, err := cfg.Token(context.Background())
	var e *tokensource.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Code, e.SubCode)
		fmt.Println(e.Message)
	}
	// Code written for x/oauth2 sees the same failure.
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println(re.Response.Status, re.ErrorCode)
	}
	// Output:
	// 403 forbidden access_not_allowed
	// Tenant with slug 'my_slug' does not have 'production' access.
	// 403 Forbidden forbidden
}

func ExampleFlinksConfig_Exchange() {
	flinks := tokensourcetest.NewFlinks(nil)
	defer flinks.Close()

	cfg := &tokensource.FlinksConfig{
		ClientID:     flinks.ClientID,
		ClientSecret: flinks.ClientSecret,
		BaseURL:      flinks.URL, // omit for https://api.flinks.io
		RedirectURL:  flinks.RedirectURL,
	}
	code := flinks.Code() // from the callback of the authorization request
	tok, err := cfg.Exchange(context.Background(), code)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.AccessToken, tok.RefreshToken, tok.ExpiresIn)

	// A code works once.
	_, err = cfg.Exchange(context.Background(), code)
	fmt.Println(errors.Is(err, tokensource.ErrReauthorizationRequired))
	// Output:
	// flinks-access-1 flinks-refresh-1 299
	// true
}

func ExampleFlinksConfig_TokenSource() {
	flinks := tokensourcetest.NewFlinks(nil)
	defer flinks.Close()

	store := map[string]*oauth2.Token{} // your database
	cfg := &tokensource.FlinksConfig{
		ClientID:     flinks.ClientID,
		ClientSecret: flinks.ClientSecret,
		BaseURL:      flinks.URL,
		RedirectURL:  flinks.RedirectURL,
		OnNewToken: func(tok *oauth2.Token) {
			store["user-42"] = tok
			fmt.Println("stored", tok.AccessToken, "with", tok.RefreshToken)
		},
	}
	if _, err := cfg.Exchange(context.Background(), flinks.Code()); err != nil {
		fmt.Println(err)
		return
	}

	// Later, the stored token has expired: the source refreshes it and keeps
	// the refresh token, which Flinks does not send again. The token is
	// loaded as a copy, as from a database, so that the change of its
	// expiry, which stands in for the time passed, reaches nothing else.
	loaded := *store["user-42"]
	loaded.Expiry = time.Now().Add(-time.Minute)
	src := cfg.TokenSource(context.Background(), &loaded)
	for range 2 { // the second call is served from the cache
		tok, err := src.Token()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(tok.AccessToken, tok.RefreshToken)
	}

	// A refresh token Flinks no longer accepts means the user must
	// authorize again. Again the stored token is copied: a token that a
	// source returned, or handed to OnNewToken, may be the one it caches,
	// and changing it in place would change what the source serves.
	flinks.Revoke("flinks-refresh-1")
	reloaded := *store["user-42"]
	reloaded.Expiry = time.Now().Add(-time.Minute)
	_, err := cfg.TokenSource(context.Background(), &reloaded).Token()
	if errors.Is(err, tokensource.ErrReauthorizationRequired) {
		fmt.Println("send the user through authorization again")
	}

	// Until its token expires, src serves it without asking Flinks.
	if tok, err := src.Token(); err == nil {
		fmt.Println(tok.AccessToken, "still served from the cache")
	} else {
		fmt.Println(err)
	}
	// Output:
	// stored flinks-access-1 with flinks-refresh-1
	// stored flinks-access-2 with flinks-refresh-1
	// flinks-access-2 flinks-refresh-1
	// flinks-access-2 flinks-refresh-1
	// send the user through authorization again
	// flinks-access-2 still served from the cache
}

func ExampleClientCredentialsConfig_TokenSource() {
	abbey := tokensourcetest.NewAbbeyCross(nil)
	defer abbey.Close()

	cfg := &tokensource.ClientCredentialsConfig{
		ClientID:     abbey.ClientID,
		ClientSecret: abbey.ClientSecret,
		TokenURL:     abbey.URL + "/v1/oauth/token",
	}
	// Closed for the night, and saying until when: no pointless retries.
	abbey.SetWorkingHours(false, "36000")
	_, err := cfg.Token(context.Background())
	var e *tokensource.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Message, "Retry after", e.RetryAfter)
	}

	abbey.SetWorkingHours(true, "")
	tok, err := cfg.TokenSource(context.Background()).Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.Type(), tok.AccessToken, tok.ExpiresIn)
	fmt.Println("token requests:", abbey.Requests())
	// Output:
	// 503 The server is currently unavailable due to non-working hours. Please try again later. Retry after 10h0m0s
	// Bearer abbeycross-access-1 3600
	// token requests: 2
}

func ExampleNewClient() {
	fliqa := tokensourcetest.NewFliqa(nil)
	defer fliqa.Close()
	src := (&tokensource.FliqaConfig{
		APIKey:      fliqa.APIKey,
		APISecret:   fliqa.APISecret,
		Environment: tokensource.FliqaSandbox,
		TenantSlug:  "my_slug",
		BaseURL:     fliqa.URL,
	}).TokenSource(context.Background())

	// An API that revoked the first token before its expiry.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer fliqa-access-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %s with %s", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer api.Close()

	// Unlike oauth2.NewClient's, this client sends a request rejected with
	// 401 once more, with a new token.
	client := tokensource.NewClient(context.Background(), src)
	resp, err := client.Get(api.URL + "/accounts")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	fmt.Println("token requests:", fliqa.Requests())
	// Output:
	// 200 OK GET /accounts with Bearer fliqa-access-2
	// token requests: 2
}
