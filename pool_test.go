package tokensource_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
