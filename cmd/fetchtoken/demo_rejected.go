package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// demoRejected sends requests to an API that rejects the first token it
// sees, through our client and through x/oauth2's, side by side.
func demoRejected(ctx context.Context, say func(string, ...any)) error {
	say("\n9. A token the API rejects")
	say("   the API answers 401 with WWW-Authenticate: Bearer error=\"invalid_token\" to the first token it sees,")
	say("   as if it had been revoked early, and 200 to others")
	ours, cfg := abbeyCross(0)
	defer ours.Close()
	ourAPI := rejectingAPI()
	defer ourAPI.Close()
	statuses, err := get(cfg.Client(ctx), ourAPI.URL+"/v1/quotes", 3)
	if err != nil {
		return err
	}
	say("   cfg.Client (tokensource.Transport):  %s, %s: a new token after the 401", statuses, tokenRequests(ours.Requests()))

	theirs, bare := abbeyCross(0)
	defer theirs.Close()
	theirAPI := rejectingAPI()
	defer theirAPI.Close()
	src := oauth2.ReuseTokenSource(nil, sourceFunc(func() (*oauth2.Token, error) { return bare.Token(ctx) }))
	if statuses, err = get(oauth2.NewClient(ctx, src), theirAPI.URL+"/v1/quotes", 3); err != nil {
		return err
	}
	tok, err := src.Token()
	if err != nil {
		return err
	}
	say("   oauth2.NewClient:                    %s, %s: the token is kept until it expires in %v",
		statuses, tokenRequests(theirs.Requests()), time.Until(tok.Expiry).Round(time.Second))
	return nil
}

// rejectingAPI is an API that answers 401 to the first token it sees, as
// if it had been revoked before its expiry, and 200 to any other.
func rejectingAPI() *httptest.Server {
	var (
		mu      sync.Mutex
		revoked string
	)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mu.Lock()
		if revoked == "" {
			revoked = auth
		}
		rejected := auth == revoked
		mu.Unlock()
		if rejected {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "token revoked", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, "quotes")
	}))
}

// get sends n GET requests to url with client and returns their statuses,
// separated by spaces.
func get(client *http.Client, url string, n int) (string, error) {
	var statuses []string
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, strconv.Itoa(resp.StatusCode))
	}
	return strings.Join(statuses, " "), nil
}
