package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// maker is a newSource that counts its calls by key, and makes for each a
// cached source of tokens "tok-<key>-<n>", living a day, that counts its
// fetches. No network: it works in a synctest bubble.
type maker struct {
	mu      sync.Mutex
	calls   map[string]int
	fetches atomic.Int32
	block   chan struct{} // if set, each call waits for it
}

func newMaker() *maker { return &maker{calls: map[string]int{}} }

func (m *maker) newSource(key string) (oauth2.TokenSource, error) {
	m.mu.Lock()
	m.calls[key]++
	m.mu.Unlock()
	if m.block != nil {
		<-m.block
	}
	n := 0
	return tokensource.RetryTokenSource(context.Background(), sourceFunc(func() (*oauth2.Token, error) {
		m.fetches.Add(1)
		n++ // one fetch at a time
		return &oauth2.Token{AccessToken: fmt.Sprintf("tok-%s-%d", key, n), Expiry: time.Now().Add(24 * time.Hour)}, nil
	}), nil), nil
}

func (m *maker) callsOf(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[key]
}

// tick sleeps past the pool clock's next tick (1s by default) in a bubble,
// and lets the pool's goroutine take it.
func tick() {
	time.Sleep(time.Second + time.Millisecond)
	synctest.Wait()
}

func TestPoolOneSourcePerKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"context without deadline", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"context with deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), time.Hour)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMaker()
				m.block = make(chan struct{})
				p := tokensource.NewPool(m.newSource, nil)
				defer p.Close()
				ctx, cancel := tc.ctx()
				defer cancel()
				tokens := make(chan string, 100)
				var wg sync.WaitGroup
				for range 100 {
					wg.Go(func() {
						tok, err := p.Token(ctx, "user-1")
						if assert.NoError(t, err) {
							tokens <- tok.AccessToken
						}
					})
				}
				synctest.Wait() // all 100 are in the pool before newSource returns
				close(m.block)
				wg.Wait()
				close(tokens)
				for tok := range tokens {
					assert.Equal(t, "tok-user-1-1", tok)
				}
				assert.Equal(t, 1, m.callsOf("user-1"))
				assert.Equal(t, int32(1), m.fetches.Load())
				assert.Equal(t, 1, p.Len())
			})
		})
	}
}

func TestPoolOneTokenRequestPerKeyOverHTTP(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	var calls atomic.Int32
	p := tokensource.NewPool(func(slug string) (oauth2.TokenSource, error) {
		calls.Add(1)
		return (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret, Environment: fake.Environment,
			TenantSlug: slug, BaseURL: fake.URL}).TokenSource(context.Background()), nil
	}, nil)
	t.Cleanup(p.Close)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			<-start
			tok, err := p.Token(t.Context(), fake.TenantSlug)
			if assert.NoError(t, err) {
				assert.Equal(t, "Bearer", tok.TokenType)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, int32(1), calls.Load())
	assert.Equal(t, 1, fake.Requests())
}

func TestPoolNewSourceErrorIsNotKept(t *testing.T) {
	down := errors.New("database is down")
	calls := 0
	p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
		calls++
		if calls == 1 {
			return nil, down
		}
		if calls == 2 {
			return nil, nil
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
	}, nil)
	t.Cleanup(p.Close)

	_, err := p.Token(t.Context(), "u")
	require.ErrorIs(t, err, down)
	assert.Equal(t, "tokensource: pool could not make a source: database is down", err.Error())
	assert.Equal(t, 0, p.Len())
	_, err = p.Token(t.Context(), "u")
	require.EqualError(t, err, "tokensource: newSource returned neither a source nor an error")
	assert.Equal(t, 0, p.Len())
	tok, err := p.Token(t.Context(), "u")
	require.NoError(t, err)
	assert.Equal(t, "tok", tok.AccessToken)
	assert.Equal(t, 3, calls)
	assert.Equal(t, 1, p.Len())
}

func TestPoolNewSourcePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		calls := 0
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			calls++
			if calls == 1 {
				<-release
				panic("boom")
			}
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
		}, nil)
		defer p.Close()
		var first any
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { first = recover() }()
			_, _ = p.Token(context.Background(), "u")
		}()
		synctest.Wait()
		var waiter error
		go func() { _, waiter = p.Token(context.Background(), "u") }()
		synctest.Wait()
		close(release)
		<-done
		synctest.Wait()
		assert.Equal(t, "boom", first, "the caller that made the call gets the panic")
		assert.EqualError(t, waiter, "tokensource: newSource panicked with a string")
		assert.Equal(t, 0, p.Len())
		_, err := p.Token(context.Background(), "u")
		require.NoError(t, err)
		assert.Equal(t, 2, calls)
	})
}

func TestPoolNewSourceThatEndsItsGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		calls := 0
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			calls++
			if calls == 1 {
				<-release
				runtime.Goexit() // as t.Fatal or require in a helper does
			}
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
		}, nil)
		defer p.Close()
		go func() { _, _ = p.Token(context.Background(), "u") }()
		synctest.Wait()
		var waiter error
		go func() { _, waiter = p.Token(context.Background(), "u") }()
		synctest.Wait()
		close(release)
		synctest.Wait()
		assert.EqualError(t, waiter, "tokensource: newSource ended its goroutine (runtime.Goexit)")
		assert.Equal(t, 0, p.Len(), "nothing kept")
		_, err := p.Token(context.Background(), "u")
		require.NoError(t, err, "the next call makes the source")
		assert.Equal(t, 2, calls)
	})
}

func TestPoolConfigErrors(t *testing.T) {
	var calls atomic.Int32
	newSource := func(string) (oauth2.TokenSource, error) {
		calls.Add(1)
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
	}
	for _, tc := range []struct {
		name      string
		newSource func(string) (oauth2.TokenSource, error)
		opts      *tokensource.PoolOptions
		want      string
	}{
		{"no newSource", nil, nil, "tokensource: NewPool.newSource is required"},
		{"negative IdleTimeout", newSource, &tokensource.PoolOptions{IdleTimeout: -time.Second},
			"tokensource: PoolOptions.IdleTimeout must not be negative"},
		{"negative MaxSources", newSource, &tokensource.PoolOptions{MaxSources: -1},
			"tokensource: PoolOptions.MaxSources must not be negative"},
		{"IdleTimeout of a microsecond", newSource, &tokensource.PoolOptions{IdleTimeout: time.Microsecond},
			"tokensource: PoolOptions.IdleTimeout must be 100ms or more"},
		{"IdleTimeout just short", newSource, &tokensource.PoolOptions{IdleTimeout: 99 * time.Millisecond},
			"tokensource: PoolOptions.IdleTimeout must be 100ms or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
			defer api.Close()
			p := tokensource.NewPool(tc.newSource, tc.opts)
			defer p.Close()
			_, err := p.Token(t.Context(), "u")
			require.EqualError(t, err, tc.want)
			var ce *tokensource.ConfigError
			require.ErrorAs(t, err, &ce)
			_, err = p.Client(t.Context(), "u").Get(api.URL)
			require.ErrorContains(t, err, tc.want)
			assert.Equal(t, int32(0), requests.Load())
			assert.Equal(t, int32(0), calls.Load())
			assert.Equal(t, 0, p.Len())
		})
	}
	var ce *tokensource.ConfigError
	_, err := tokensource.NewPool(newSource, &tokensource.PoolOptions{MaxSources: -1}).Token(t.Context(), "u")
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "MaxSources", ce.Field)
	_, err = tokensource.NewPool[string](nil, nil).Token(t.Context(), "u")
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, tokensource.ConfigError{Config: "NewPool", Field: "newSource", Problem: "is required"}, *ce)
}

func TestPoolOfTheShortestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: 100 * time.Millisecond})
		defer p.Close()
		_, err := p.Token(context.Background(), "u")
		require.NoError(t, err)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 0, p.Len(), "dropped after 100ms")
	})
}

func TestPoolDropsIdleSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		obs := &told{}
		// Ticks of 1s, sweeps every 3.75s: an idle source goes between
		// 60s and 64.75s after its last use.
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: time.Minute, Observer: obs})
		defer p.Close()
		ctx := context.Background()
		for _, key := range []string{"a", "b"} {
			_, err := p.Token(ctx, key)
			require.NoError(t, err)
		}
		time.Sleep(40 * time.Second)
		synctest.Wait()
		_, err := p.Token(ctx, "a") // a's last use: 40s
		require.NoError(t, err)

		time.Sleep(59 * time.Second) // 99s: b is gone, a is not
		synctest.Wait()
		assert.Equal(t, 1, p.Len())
		tok, err := p.Token(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, "tok-a-1", tok.AccessToken, "a's source is the first")
		assert.Equal(t, 1, m.callsOf("a"))

		time.Sleep(65 * time.Second) // 164s: a is gone too
		synctest.Wait()
		assert.Equal(t, 0, p.Len())
		assert.Equal(t, map[string]int{"source_added": 2, "source_dropped/idle": 2}, obs.counts())

		tok, err = p.Token(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, "tok-b-1", tok.AccessToken, "a new source for b")
		assert.Equal(t, 2, m.callsOf("b"))
	})
}

// janitors counts the goroutines that pools run, in the whole process.
func janitors() int { return stacksWith("keyed.(*Map[...]).janitor(") }

func TestPoolRunsOneGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := janitors()
		m := newMaker()
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: time.Minute})
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none before the first source")
		for i := range 1000 {
			_, err := p.Token(context.Background(), fmt.Sprint(i))
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.Equal(t, before+1, janitors(), "one for 1,000 sources")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 0, p.Len())

		p.Close()
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none after Close")
	})
}

func TestPoolDropsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 100
		m := newMaker()
		obs := &told{}
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: max, Observer: obs})
		defer p.Close()
		ctx := context.Background()
		use := func(key int) {
			_, err := p.Token(ctx, fmt.Sprint(key))
			require.NoError(t, err)
		}
		// Keys 0..99, one a tick, then used again in an order of their own:
		// the odd ones first, from the highest; then the even ones.
		for k := range max {
			use(k)
			tick()
		}
		var order []int
		for k := max - 1; k >= 0; k -= 2 {
			order = append(order, k)
		}
		for k := 0; k < max; k += 2 {
			order = append(order, k)
		}
		for _, k := range order {
			use(k)
			tick()
		}
		// 60 new keys drop the 60 least recently used: the first 60 of
		// order, one by one.
		for k := max; k < max+60; k++ {
			use(k)
			tick()
			assert.Equal(t, max, p.Len())
		}
		for _, k := range order[60:] {
			use(k)
			assert.Equal(t, 1, m.callsOf(fmt.Sprint(k)), "key %d is held", k)
		}
		for k := max; k < max+60; k++ {
			use(k)
			assert.Equal(t, 1, m.callsOf(fmt.Sprint(k)), "key %d is held", k)
		}
		assert.Equal(t, max, p.Len())
		assert.Equal(t, map[string]int{"source_added": 160, "source_dropped/capacity": 60}, obs.counts())
	})
}

func TestPoolEvictsSourceBeingMadeLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 1})
		defer p.Close()
		ctx := context.Background()
		_, err := p.Token(ctx, "a")
		require.NoError(t, err)
		tok, err := p.Token(ctx, "b") // in the same tick: a tie
		require.NoError(t, err)
		assert.Equal(t, "tok-b-1", tok.AccessToken)
		assert.Equal(t, 1, p.Len())
		_, err = p.Token(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, 1, m.callsOf("b"), "b, the new key, is kept")
	})
}

func TestPoolNewSourceAdoptsFromStore(t *testing.T) {
	for _, tc := range []struct {
		name     string
		store    tokensource.Store
		requests int
	}{
		{"with a store", tokensourcetest.NewStore(), 1},
		{"without", nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := tokensourcetest.NewFliqa(t)
			p := tokensource.NewPool(func(slug string) (oauth2.TokenSource, error) {
				return (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret,
					Environment: fake.Environment, TenantSlug: slug, BaseURL: fake.URL, Store: tc.store}).TokenSource(t.Context()), nil
			}, nil)
			t.Cleanup(p.Close)
			first, err := p.Token(t.Context(), fake.TenantSlug)
			require.NoError(t, err)
			require.True(t, p.Remove(fake.TenantSlug))
			assert.False(t, p.Remove(fake.TenantSlug))
			second, err := p.Token(t.Context(), fake.TenantSlug)
			require.NoError(t, err)
			assert.Equal(t, tc.requests, fake.Requests())
			assert.Equal(t, tc.requests == 1, first.AccessToken == second.AccessToken)
		})
	}
}

// TestPoolDropKeepsFetchInFlight drops a Flinks user's source while its
// refresh waits for Flinks' answer: the caller still gets the token, and
// OnNewToken saves it once, which the user's next source starts from.
func TestPoolDropKeepsFetchInFlight(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(p *tokensource.Pool[string])
		want string
	}{
		{"removed", func(p *tokensource.Pool[string]) { assert.True(t, p.Remove("alice")) }, "source_dropped/removed"},
		{"over MaxSources", func(p *tokensource.Pool[string]) {
			_, err := p.Token(context.Background(), "bob")
			assert.NoError(t, err)
		}, "source_dropped/capacity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := tokensourcetest.NewFlinks(t)
			entered, release := make(chan struct{}), make(chan struct{})
			gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				<-release
				fake.ServeHTTP(w, r)
			}))
			t.Cleanup(gate.Close)
			cfg := tokensource.FlinksConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, BaseURL: fake.URL,
				RedirectURL: fake.RedirectURL}
			tok, err := cfg.Exchange(t.Context(), fake.Code())
			require.NoError(t, err)
			tok.Expiry = time.Now().Add(-time.Minute) // loaded the next day
			var (
				mu    sync.Mutex
				db    = map[string]*oauth2.Token{"alice": tok}
				saved atomic.Int32
				calls atomic.Int32
			)
			cfg.BaseURL = gate.URL
			obs := &told{}
			p := tokensource.NewPool(func(user string) (oauth2.TokenSource, error) {
				calls.Add(1)
				if user != "alice" {
					return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "other"}), nil
				}
				mu.Lock()
				tok := db[user]
				mu.Unlock()
				c := cfg
				c.OnNewToken = func(tok *oauth2.Token) {
					saved.Add(1)
					mu.Lock()
					db[user] = tok
					mu.Unlock()
				}
				return c.TokenSource(context.Background(), tok), nil
			}, &tokensource.PoolOptions{MaxSources: 1, Observer: obs})
			t.Cleanup(p.Close)

			got := make(chan *oauth2.Token, 1)
			go func() {
				tok, err := p.Token(context.Background(), "alice")
				assert.NoError(t, err)
				got <- tok
			}()
			<-entered // the refresh is at Flinks
			tc.drop(p)
			close(release)
			refreshed := <-got
			require.NotNil(t, refreshed)
			assert.Equal(t, "flinks-access-2", refreshed.AccessToken)
			assert.Equal(t, int32(1), saved.Load())
			assert.Equal(t, 1, obs.counts()[tc.want])

			again, err := p.Token(t.Context(), "alice")
			require.NoError(t, err)
			assert.Equal(t, refreshed.AccessToken, again.AccessToken, "the new source starts from the saved token")
			assert.Equal(t, int32(1), saved.Load())
			assert.Equal(t, 2, fake.Requests(), "the exchange and one refresh")
		})
	}
}

func TestPoolContextBoundsTheWait(t *testing.T) {
	t.Run("for a new source", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMaker()
			m.block = make(chan struct{})
			p := tokensource.NewPool(m.newSource, nil)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := p.Token(ctx, "u")
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.EqualError(t, err, "tokensource: call ended while waiting for a new source: context deadline exceeded")
			close(m.block) // the call goes on, for the next callers
			synctest.Wait()
			tok, err := p.Token(context.Background(), "u")
			require.NoError(t, err)
			assert.Equal(t, "tok-u-1", tok.AccessToken)
			assert.Equal(t, 1, m.callsOf("u"))
		})
	})
	t.Run("for a token", func(t *testing.T) {
		entered, release := make(chan struct{}, 1), make(chan struct{})
		fake := tokensourcetest.NewFliqa(t)
		gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			fake.ServeHTTP(w, r)
		}))
		t.Cleanup(gate.Close)
		p := tokensource.NewPool(func(slug string) (oauth2.TokenSource, error) {
			return (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret, Environment: fake.Environment,
				TenantSlug: slug, BaseURL: gate.URL}).TokenSource(context.Background()), nil
		}, nil)
		t.Cleanup(p.Close)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-entered
			cancel()
		}()
		_, err := p.Token(ctx, fake.TenantSlug)
		require.ErrorIs(t, err, context.Canceled)
		close(release)
		tok, err := p.Token(t.Context(), fake.TenantSlug)
		require.NoError(t, err)
		assert.NotEmpty(t, tok.AccessToken)
		assert.Equal(t, 1, fake.Requests(), "the fetch went on")
	})
}

func TestPoolHitWhileAnotherKeyIsMade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		p := tokensource.NewPool(m.newSource, nil)
		defer p.Close()
		_, err := p.Token(context.Background(), "held")
		require.NoError(t, err)
		m.block = make(chan struct{})
		go func() { _, _ = p.Token(context.Background(), "new") }()
		synctest.Wait() // newSource of "new" is blocked
		tok, err := p.Token(context.Background(), "held")
		require.NoError(t, err)
		assert.Equal(t, "tok-held-1", tok.AccessToken)
		close(m.block)
	})
}

func TestPoolTokenIsTheCallers(t *testing.T) {
	m := newMaker()
	p := tokensource.NewPool(m.newSource, nil)
	t.Cleanup(p.Close)
	tok, err := p.Token(t.Context(), "u")
	require.NoError(t, err)
	tok.AccessToken = "scribbled"
	again, err := p.Token(t.Context(), "u")
	require.NoError(t, err)
	assert.Equal(t, "tok-u-1", again.AccessToken)
}

func get(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestPoolClient(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, only("tok-a-1"))
	m := newMaker()
	p := tokensource.NewPool(m.newSource, nil)
	t.Cleanup(p.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL, nil)
	require.NoError(t, err)
	status, body := get(t, p.Client(t.Context(), "a"), req)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Bearer tok-a-2", body, "a 401 is sent again with a new token")
	assert.Equal(t, int32(2), api.requests.Load())

	require.True(t, p.Remove("a"))
	status, body = get(t, p.Client(t.Context(), "a"), req)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Bearer tok-a-2", body, "after a 401: the new source's second token")
	assert.Equal(t, 2, m.callsOf("a"))
}

func TestPoolTransport(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	m := newMaker()
	p := tokensource.NewPool(m.newSource, nil)
	t.Cleanup(p.Close)
	client := &http.Client{Transport: p.Transport(nil)}

	for _, key := range []string{"a", "b", "a"} {
		req, err := http.NewRequestWithContext(tokensource.ContextWithKey(t.Context(), key), http.MethodGet, api.URL, nil)
		require.NoError(t, err)
		status, body := get(t, client, req)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "Bearer tok-"+key+"-1", body)
	}
	assert.Equal(t, 2, p.Len())

	for _, ctx := range []context.Context{t.Context(), tokensource.ContextWithKey(t.Context(), 7)} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.URL, strings.NewReader("body"))
		require.NoError(t, err)
		_, err = client.Do(req)
		require.ErrorContains(t, err, "tokensource: the request's context has no string key for the pool; set one with ContextWithKey")
	}
	assert.Equal(t, int32(3), api.requests.Load(), "requests without a key are not sent")
}

func TestPoolClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		obs := &told{}
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{Observer: obs})
		for _, key := range []string{"a", "b", "c"} {
			_, err := p.Token(context.Background(), key)
			require.NoError(t, err)
		}
		m.block = make(chan struct{})
		making := make(chan error, 1)
		go func() {
			_, err := p.Token(context.Background(), "d")
			making <- err
		}()
		synctest.Wait()

		p.Close()
		p.Close()
		assert.Equal(t, 0, p.Len())
		close(m.block)
		require.NoError(t, <-making, "a call waiting for a source gets it")
		_, err := p.Token(context.Background(), "a")
		require.ErrorIs(t, err, tokensource.ErrPoolClosed)
		assert.EqualError(t, err, "tokensource: pool is closed")
		_, err = p.Client(context.Background(), "a").Get("http://127.0.0.1:1/")
		require.ErrorIs(t, err, tokensource.ErrPoolClosed)
		assert.False(t, p.Remove("a"))
		synctest.Wait()
		assert.Equal(t, map[string]int{"source_added": 4, "source_dropped/closed": 4}, obs.counts())
	})
}

type panickingObserver struct{ calls atomic.Int32 }

func (o *panickingObserver) Observe(tokensource.Event) {
	o.calls.Add(1)
	panic("observer")
}

func TestPoolRecoversObserverPanic(t *testing.T) {
	obs := &panickingObserver{}
	m := newMaker()
	p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 1, Observer: obs})
	_, err := p.Token(t.Context(), "a")
	require.NoError(t, err)
	_, err = p.Token(t.Context(), "b")
	require.NoError(t, err)
	assert.True(t, p.Remove("b"))
	p.Close()
	assert.Equal(t, int32(4), obs.calls.Load(), "added a, added b, dropped a, removed b")
}
