package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// A pool of Fliqa tenants, one per merchant, and one HTTP client for all
// of them: each request names its merchant in its context.
func ExamplePool() {
	// The app's tenant table: each merchant's slug, API key and secret.
	// Here each is a local fake of Fliqa, all on one server.
	tenants := map[string]*tokensourcetest.Fliqa{}
	for _, slug := range []string{"acme", "globex", "initech"} {
		tenants[slug] = &tokensourcetest.Fliqa{APIKey: slug + "-key", APISecret: slug + "-secret",
			Environment: "sandbox", TenantSlug: slug}
	}
	fliqa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenants[path.Base(r.URL.Path)].ServeHTTP(w, r)
	}))
	defer fliqa.Close()

	pool := tokensource.NewPool(func(slug string) (oauth2.TokenSource, error) {
		t, ok := tenants[slug]
		if !ok {
			return nil, fmt.Errorf("no tenant %q", slug)
		}
		cfg := &tokensource.FliqaConfig{APIKey: t.APIKey, APISecret: t.APISecret,
			Environment: tokensource.FliqaSandbox, TenantSlug: slug, BaseURL: fliqa.URL}
		return cfg.TokenSource(context.Background()), nil
	}, nil) // the defaults: a source unused for 30 minutes goes; 10,000 at most
	defer pool.Close()

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s with %s", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer api.Close()
	client := &http.Client{Transport: pool.Transport(nil)}
	for _, slug := range []string{"acme", "globex", "acme", "initech"} {
		ctx := tokensource.ContextWithKey(context.Background(), slug)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.URL+"/payments", nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%-8s %s\n", slug, body)
	}
	fmt.Println("sources held:", pool.Len())
	for _, slug := range []string{"acme", "globex", "initech"} {
		fmt.Printf("token requests for %s: %d\n", slug, tenants[slug].Requests())
	}

	// An unknown tenant: newSource's error, and nothing kept.
	_, err := pool.Token(context.Background(), "umbrella")
	fmt.Println(err)
	// Output:
	// acme     GET /payments with Bearer fliqa-access-1
	// globex   GET /payments with Bearer fliqa-access-1
	// acme     GET /payments with Bearer fliqa-access-1
	// initech  GET /payments with Bearer fliqa-access-1
	// sources held: 3
	// token requests for acme: 1
	// token requests for globex: 1
	// token requests for initech: 1
	// tokensource: pool could not make a source: no tenant "umbrella"
}

// authorizations is the app's table of Flinks authorizations by user.
type authorizations struct {
	mu     sync.Mutex
	tokens map[string]*oauth2.Token
	lapsed map[string]bool // must connect again; the token stays until they have
}

func (a *authorizations) load(user string) (*oauth2.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tok, ok := a.tokens[user]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s has not connected a bank", user)
	case a.lapsed[user]:
		return nil, fmt.Errorf("%s must connect again", user)
	}
	return new(*tok), nil // a copy, as from a database
}

// save keeps a new token; a new authorization ends the lapse.
func (a *authorizations) save(user string, tok *oauth2.Token) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[user] = tok
	delete(a.lapsed, user)
}

// lapse marks the user's connection as needing a new authorization. The
// refresh token is kept: it is replaced when the user has authorized again.
func (a *authorizations) lapse(user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lapsed[user] = true
}

// A pool of Flinks users: each user's source starts from the token the
// app saved, saves each new one under the user, and is dropped when Flinks
// says the user must connect again; the app then marks the connection, and
// keeps the refresh token until the user has.
func ExamplePool_flinks() {
	flinks := tokensourcetest.NewFlinks(nil)
	defer flinks.Close()
	ctx := context.Background()
	cfg := tokensource.FlinksConfig{ClientID: flinks.ClientID, ClientSecret: flinks.ClientSecret,
		BaseURL: flinks.URL, RedirectURL: flinks.RedirectURL}

	// Three users connected their banks yesterday.
	db := &authorizations{tokens: map[string]*oauth2.Token{}, lapsed: map[string]bool{}}
	for _, user := range []string{"alice", "bob", "carol"} {
		tok, err := cfg.Exchange(ctx, flinks.Code())
		if err != nil {
			fmt.Println(err)
			return
		}
		tok.Expiry = time.Now().Add(-time.Hour) // yesterday's tokens have expired
		db.save(user, tok)
	}
	flinks.Revoke("flinks-refresh-3") // carol disconnected at her bank

	pool := tokensource.NewPool(func(user string) (oauth2.TokenSource, error) {
		tok, err := db.load(user)
		if err != nil {
			return nil, err
		}
		c := cfg // the user's own copy, whose hook saves under the user
		c.OnNewToken = func(tok *oauth2.Token) {
			db.save(user, tok)
			fmt.Println("saved", tok.AccessToken, "for", user)
		}
		return c.TokenSource(ctx, tok), nil
	}, &tokensource.PoolOptions{IdleTimeout: time.Hour, MaxSources: 100_000})
	defer pool.Close()

	for _, user := range []string{"alice", "bob", "carol", "alice", "carol", "dave"} {
		tok, err := pool.Token(ctx, user)
		switch {
		case errors.Is(err, tokensource.ErrReauthorizationRequired):
			db.lapse(user) // mark the connection; never delete the refresh token
			pool.Remove(user)
			fmt.Println(user, "must connect again")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(user, tok.AccessToken)
		}
	}
	fmt.Println("sources held:", pool.Len(), "token requests:", flinks.Requests())
	// Output:
	// saved flinks-access-4 for alice
	// alice flinks-access-4
	// saved flinks-access-5 for bob
	// bob flinks-access-5
	// carol must connect again
	// alice flinks-access-4
	// tokensource: pool could not make a source: carol must connect again
	// tokensource: pool could not make a source: dave has not connected a bank
	// sources held: 2 token requests: 6
}
