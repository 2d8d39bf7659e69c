package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// demo tells the library's story against the three fakes, in-process.
func demo(ctx context.Context, w io.Writer) error {
	fliqa, flinks, abbey := tokensourcetest.NewFliqa(nil), tokensourcetest.NewFlinks(nil), tokensourcetest.NewAbbeyCross(nil)
	defer fliqa.Close()
	defer flinks.Close()
	defer abbey.Close()
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	// Short waits, so the story takes seconds; the default budget is 10s.
	fast := func(budget time.Duration, notify func(error, time.Duration)) *tokensource.RetryPolicy {
		return &tokensource.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaxInterval: 200 * time.Millisecond,
			MaxElapsedTime: budget, Notify: notify}
	}

	say("tokensource demo: three fake token endpoints on loopback; no account, no network.")

	say("\n1. A token from each provider")
	fliqaSrc := (&tokensource.FliqaConfig{APIKey: fliqa.APIKey, APISecret: fliqa.APISecret, Environment: fliqa.Environment,
		TenantSlug: fliqa.TenantSlug, BaseURL: fliqa.URL}).TokenSource(ctx)
	tok, err := fliqaSrc.Token()
	if err != nil {
		return err
	}
	say("   Fliqa       %s, %s, scopes %v", tok.AccessToken, lifetime(tok), tokensource.Scopes(tok))
	var stored *oauth2.Token // the app's database
	fl := &tokensource.FlinksConfig{ClientID: flinks.ClientID, ClientSecret: flinks.ClientSecret, BaseURL: flinks.URL,
		RedirectURL: flinks.RedirectURL, OnNewToken: func(t *oauth2.Token) { stored = t }}
	if tok, err = fl.Exchange(ctx, flinks.Code()); err != nil {
		return err
	}
	say("   Flinks      %s, %s, refresh token %s (authorization code exchanged)", tok.AccessToken, lifetime(tok), tok.RefreshToken)
	cc := &tokensource.ClientCredentialsConfig{ClientID: abbey.ClientID, ClientSecret: abbey.ClientSecret,
		TokenURL: abbey.URL + "/v1/oauth/token"}
	abbeySrc := cc.TokenSource(ctx)
	if tok, err = abbeySrc.Token(); err != nil {
		return err
	}
	say("   AbbeyCross  %s, %s (client credentials as JSON)", tok.AccessToken, lifetime(tok))

	say("\n2. A cached token costs no request")
	if tok, err = fliqaSrc.Token(); err != nil {
		return err
	}
	say("   Fliqa again: %s; requests to Fliqa so far: %d", tok.AccessToken, fliqa.Requests())

	say("\n3. A Flinks refresh keeps the refresh token, which Flinks does not send again")
	// A copy, as loaded from the database an hour later: the stored token
	// itself is never changed in place.
	loaded := *stored
	loaded.Expiry = time.Now().Add(-time.Second)
	if tok, err = fl.TokenSource(ctx, &loaded).Token(); err != nil {
		return err
	}
	say("   refreshed: %s, refresh token still %s; OnNewToken stored %s",
		tok.AccessToken, tok.RefreshToken, stored.AccessToken)

	say("\n4. 503, 503 and 500 are retried with backoff and jitter")
	abbey.FailNext(2, http.StatusServiceUnavailable, "")
	abbey.FailNext(1, http.StatusInternalServerError, "")
	before := abbey.Requests()
	cc.Retry = fast(2*time.Second, func(err error, wait time.Duration) {
		say("   %s; next try in %v", describe(err), wait.Round(time.Millisecond))
	})
	if tok, err = cc.Token(ctx); err != nil {
		return err
	}
	say("   then %s, after %d requests", tok.AccessToken, abbey.Requests()-before)

	say("\n5. Closed for the night and saying so with Retry-After: given up at once")
	abbey.SetWorkingHours(false, "28800")
	before, start := abbey.Requests(), time.Now()
	_, err = cc.Token(ctx)
	var e *tokensource.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("expected the provider's refusal, got %v", err)
	}
	say("   after %v and %d request: %s", time.Since(start).Round(time.Millisecond), abbey.Requests()-before, describe(err))

	say("\n6. 20 callers behind a failing endpoint (closed, no Retry-After)")
	abbey.SetWorkingHours(false, "")
	cc.Retry = fast(250*time.Millisecond, nil)
	before = abbey.Requests()
	slowest := callers(20, cc.TokenSource(ctx))
	say("   tokensource:                                %3d upstream requests, slowest caller %v",
		abbey.Requests()-before, slowest.Round(10*time.Millisecond))
	before = abbey.Requests()
	naive := oauth2.ReuseTokenSource(nil, sourceFunc(func() (*oauth2.Token, error) { return cc.Token(ctx) }))
	slowest = callers(20, naive)
	say("   a retrying source in oauth2.ReuseTokenSource: %3d upstream requests, slowest caller %v",
		abbey.Requests()-before, slowest.Round(10*time.Millisecond))
	abbey.SetWorkingHours(true, "")

	if err := demoRollover(ctx, say); err != nil {
		return err
	}

	say("\n8. An API call through tokensource.NewClient carries the token")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s authorized with %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer api.Close()
	resp, err := tokensource.NewClient(ctx, abbeySrc).Get(api.URL + "/v1/quotes")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	say("   %s -> %s", resp.Status, body)

	if err := demoRejected(ctx, say); err != nil {
		return err
	}
	return demoPool(ctx, say)
}

// The rollover section: tokens that live 2s, replaced 500ms before their
// expiry at the latest, from a provider that takes 150ms to answer. The
// callers run for 1.8s after the first token: one rollover for each
// source, and no second one.
const (
	rollCallers  = 32
	rollEvery    = 5 * time.Millisecond
	rollRun      = 1800 * time.Millisecond
	rollLifetime = 2 * time.Second
	rollDelta    = 500 * time.Millisecond
	rollLatency  = 150 * time.Millisecond
	slowCall     = 10 * time.Millisecond // a slower call that brought a new token waited for a fetch
)

// demoRollover has callers keep asking for tokens through a rollover, from
// our source and from x/oauth2's cache over the same fetch, side by side.
func demoRollover(ctx context.Context, say func(string, ...any)) error {
	say("\n7. Rollover with and without renewal ahead of expiry")
	say("   %d callers call Token() every %v for %v; tokens live %v, ExpiryDelta %v, a fetch takes %v",
		rollCallers, rollEvery, rollRun, rollLifetime, rollDelta, rollLatency)
	type side struct {
		name string
		fake *tokensourcetest.AbbeyCross
		src  oauth2.TokenSource
		roll rolled
		err  error
	}
	ours, cfg := abbeyCross(rollDelta)
	defer ours.Close()
	theirs, bare := abbeyCross(rollDelta)
	defer theirs.Close()
	sides := []*side{
		{name: "tokensource", fake: ours, src: cfg.TokenSource(ctx)},
		// x/oauth2's cache over the same fetch, without renewal ahead.
		{name: "oauth2.ReuseTokenSourceWithExpiry", fake: theirs, src: oauth2.ReuseTokenSourceWithExpiry(nil,
			sourceFunc(func() (*oauth2.Token, error) { return bare.Token(ctx) }), rollDelta)},
	}
	var wg sync.WaitGroup
	for _, s := range sides {
		s.fake.SetLifetime(rollLifetime)
		s.fake.SetLatency(rollLatency)
		wg.Go(func() { s.roll, s.err = rollover(s.src) })
	}
	wg.Wait()
	for _, s := range sides {
		if s.err != nil {
			return s.err
		}
		say("   %-35s %s, slowest call %6.2fms, %2d of %d callers waited", s.name+":",
			tokenRequests(s.fake.Requests()), float64(s.roll.slowest)/float64(time.Millisecond), s.roll.waited, rollCallers)
	}
	say("   waited: a call took over %v and brought a new token. tokensource renews in the background", slowCall)
	say("   once half the token's life (at most 5m) is left and serves the old token meanwhile; x/oauth2")
	say("   fetches only within ExpiryDelta of expiry, and every caller waits for that fetch.")
	return nil
}

// rolled is what the callers of rollover saw.
type rolled struct {
	slowest time.Duration // the slowest call after the first token
	waited  int           // callers who waited for a fetch
}

// rollover gets a first token from src, then has rollCallers goroutines
// call src.Token() every rollEvery for rollRun. A call waited for a fetch
// if it took longer than slowCall and brought a token other than the one
// its caller had: a call held up as long by the machine alone (a busy CPU,
// a collection) is not counted.
func rollover(src oauth2.TokenSource) (rolled, error) {
	tok, err := src.Token()
	if err != nil {
		return rolled{}, err
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		r     rolled
		first error
	)
	end := time.Now().Add(rollRun)
	for range rollCallers {
		wg.Go(func() {
			var (
				slowest time.Duration
				fetched bool // a call waited for a new token
				err     error
			)
			for held := tok.AccessToken; time.Now().Before(end); time.Sleep(rollEvery) {
				start := time.Now()
				var t *oauth2.Token
				if t, err = src.Token(); err != nil {
					break
				}
				took := time.Since(start)
				slowest = max(slowest, took)
				fetched = fetched || took > slowCall && t.AccessToken != held
				held = t.AccessToken
			}
			mu.Lock()
			defer mu.Unlock()
			r.slowest = max(r.slowest, slowest)
			if fetched {
				r.waited++
			}
			if first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	return r, first
}

// tokenRequests says "1 token request" or "n token requests".
func tokenRequests(n int) string {
	if n == 1 {
		return "1 token request"
	}
	return strconv.Itoa(n) + " token requests"
}

// abbeyCross starts an AbbeyCross fake and returns it with a config for
// it. Close the fake when done.
func abbeyCross(delta time.Duration) (*tokensourcetest.AbbeyCross, *tokensource.ClientCredentialsConfig) {
	fake := tokensourcetest.NewAbbeyCross(nil)
	return fake, &tokensource.ClientCredentialsConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
		TokenURL: fake.URL + "/v1/oauth/token", ExpiryDelta: delta}
}

// callers has n goroutines ask src for a token at once and returns how
// long the slowest waited.
func callers(n int, src oauth2.TokenSource) time.Duration {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
	)
	start := time.Now()
	for range n {
		wg.Go(func() {
			_, _ = src.Token()
			mu.Lock()
			slowest = max(slowest, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	return slowest
}

type sourceFunc func() (*oauth2.Token, error)

func (f sourceFunc) Token() (*oauth2.Token, error) { return f() }

// lifetime says how long tok has left.
func lifetime(tok *oauth2.Token) string {
	return fmt.Sprintf("%s, expires in %v", tok.Type(), time.Until(tok.Expiry).Round(time.Second))
}
