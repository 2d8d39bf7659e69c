package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// The pool section: 10,000 Flinks users, of whom the first 100 saved a
// token that has since expired; the first 1,000 keep calling while the
// others go idle.
const (
	poolUsers   = 10_000
	poolExpired = 100
	poolActive  = 1_000
	poolIdle    = time.Second
)

// demoPool serves 10,000 Flinks users from one pool: each user's source
// starts from the token the app saved, and saves each new one.
func demoPool(ctx context.Context, say func(string, ...any)) error {
	say("\n10. A pool of %d Flinks users: one source per user, made on first use, dropped when idle", poolUsers)
	flinks := tokensourcetest.NewFlinks(nil)
	defer flinks.Close()
	cfg := tokensource.FlinksConfig{ClientID: flinks.ClientID, ClientSecret: flinks.ClientSecret, BaseURL: flinks.URL,
		RedirectURL: flinks.RedirectURL}
	db, err := savedTokens(ctx, &cfg, flinks)
	if err != nil {
		return err
	}
	before := flinks.Requests()
	var saved, added, idle atomic.Int32
	obs := observerFunc(func(e tokensource.Event) {
		switch {
		case e.Kind == tokensource.SourceAdded:
			added.Add(1)
		case e.Kind == tokensource.SourceDropped && e.Reason == "idle":
			idle.Add(1)
		}
	})
	pool := tokensource.NewPool(func(user int) (oauth2.TokenSource, error) {
		c := cfg
		c.OnNewToken = func(tok *oauth2.Token) {
			saved.Add(1)
			db.save(user, tok)
		}
		return c.TokenSource(ctx, db.load(user)), nil
	}, &tokensource.PoolOptions{IdleTimeout: poolIdle, Observer: obs})
	defer pool.Close()

	// The active users keep calling, every tenth of the idle timeout.
	heap := heapInUse()
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			for user := range poolActive {
				_, _ = pool.Token(ctx, user)
			}
			select {
			case <-stop:
				return
			case <-time.After(poolIdle / 10):
			}
		}
	}()
	for user := range poolUsers {
		if _, err := pool.Token(ctx, user); err != nil {
			close(stop)
			return err
		}
	}
	perSource := float64(heapInUse()-heap) / float64(pool.Len())
	say("   %d users asked for a token: %d sources made, %s (the %d whose saved token had expired),",
		poolUsers, added.Load(), tokenRequests(flinks.Requests()-before), poolExpired)
	say("   %d new tokens saved by OnNewToken; about %.0f B per source held, with its token", saved.Load(), perSource)

	// The others go idle: wait until they are dropped.
	idled := func() bool { return pool.Len() <= poolActive && idle.Load() >= poolUsers-poolActive }
	for deadline := time.Now().Add(4 * poolIdle); !idled() && time.Now().Before(deadline); {
		time.Sleep(poolIdle / 60)
	}
	close(stop)
	<-stopped
	say("   while %d of them keep calling: %d sources held, %d dropped as idle (IdleTimeout %v)",
		poolActive, pool.Len(), idle.Load(), poolIdle)

	before, made := flinks.Requests(), added.Load()
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() { _, _ = pool.Token(ctx, poolUsers) }) // a new user, whose saved token has expired
	}
	wg.Wait()
	say("   100 callers at once for a new user: %d source made, %s", added.Load()-made, tokenRequests(flinks.Requests()-before))

	before = flinks.Requests()
	tok, err := pool.Token(ctx, poolUsers-1)
	if err != nil {
		return err
	}
	say("   an idle user comes back: a new source, from the saved token %s: %s", tok.AccessToken, tokenRequests(flinks.Requests()-before))
	return nil
}

// tokenTable is the app's table of Flinks tokens by user.
type tokenTable struct {
	mu     sync.Mutex
	tokens map[int]*oauth2.Token
}

func (t *tokenTable) load(user int) *oauth2.Token {
	t.mu.Lock()
	defer t.mu.Unlock()
	return new(*t.tokens[user]) // a copy, as from a database
}

func (t *tokenTable) save(user int, tok *oauth2.Token) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tokens[user] = tok
}

// savedTokens returns the table as the app saved it: for the first
// poolExpired users and the new one, tokens from Flinks that have expired
// since; for the others, tokens valid for 4 minutes more.
func savedTokens(ctx context.Context, cfg *tokensource.FlinksConfig, flinks *tokensourcetest.Flinks) (*tokenTable, error) {
	db := &tokenTable{tokens: make(map[int]*oauth2.Token, poolUsers+1)}
	for user := range poolUsers + 1 {
		if user >= poolExpired && user < poolUsers {
			db.tokens[user] = &oauth2.Token{AccessToken: fmt.Sprintf("saved-access-%d", user), TokenType: "Bearer",
				RefreshToken: fmt.Sprintf("saved-refresh-%d", user), Expiry: time.Now().Add(4 * time.Minute)}
			continue
		}
		tok, err := cfg.Exchange(ctx, flinks.Code())
		if err != nil {
			return nil, err
		}
		tok.Expiry = time.Now().Add(-time.Hour)
		db.tokens[user] = tok
	}
	return db, nil
}

type observerFunc func(tokensource.Event)

func (f observerFunc) Observe(e tokensource.Event) { f(e) }

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
