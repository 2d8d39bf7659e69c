package tokensource_test

import (
	"context"
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

// slowTransport sends each request after delay, as a provider that takes
// that long to answer.
type slowTransport struct {
	delay time.Duration
	base  http.RoundTripper
}

func (t slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(t.delay)
	return t.base.RoundTrip(r)
}

func TestPoolKeepsASourceWhoseFetchRuns(t *testing.T) {
	fake := tokensourcetest.NewFlinks(t)
	cfg := tokensource.FlinksConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, BaseURL: fake.URL,
		RedirectURL: fake.RedirectURL}
	saved, err := cfg.Exchange(t.Context(), fake.Code())
	require.NoError(t, err)
	synctest.Test(t, func(t *testing.T) {
		saved.Expiry = time.Now().Add(-time.Minute) // loaded the next day
		cfg.HTTPClient = &http.Client{Transport: slowTransport{3 * time.Second, &http.Transport{DisableKeepAlives: true}}}
		var refreshed atomic.Int32
		cfg.OnNewToken = func(*oauth2.Token) { refreshed.Add(1) }
		obs := &told{}
		p := tokensource.NewPool(func(string) (oauth2.TokenSource, error) {
			return cfg.TokenSource(context.Background(), saved), nil
		}, &tokensource.PoolOptions{IdleTimeout: 100 * time.Millisecond, Observer: obs})
		defer p.Close()
		var wg sync.WaitGroup
		call := func() {
			tok, err := p.Token(context.Background(), "alice")
			if assert.NoError(t, err) {
				assert.Equal(t, "flinks-access-2", tok.AccessToken)
			}
		}
		wg.Go(call)
		time.Sleep(time.Second) // the refresh takes 3s: a second caller comes during it
		wg.Go(call)
		wg.Wait()
		assert.Equal(t, 2, fake.Requests(), "the exchange and one refresh")
		assert.Equal(t, int32(1), refreshed.Load(), "one OnNewToken")
		assert.Equal(t, map[string]int{"source_added": 1}, obs.counts())

		time.Sleep(time.Second) // unused and no fetch: idle
		assert.Equal(t, 0, p.Len())
		assert.Equal(t, map[string]int{"source_added": 1, "source_dropped/idle": 1}, obs.counts())
	})
}

func TestPoolDropsASourceWhoseFetchRunsLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		release := make(chan struct{})
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			if key != "alice" {
				return m.newSource(key)
			}
			m.mu.Lock()
			m.calls[key]++
			m.mu.Unlock()
			return tokensource.RetryTokenSource(context.Background(), sourceFunc(func() (*oauth2.Token, error) {
				<-release // a refresh that takes its time
				return &oauth2.Token{AccessToken: "alice-1", Expiry: time.Now().Add(time.Hour)}, nil
			}), nil), nil
		}, &tokensource.PoolOptions{MaxSources: 2})
		defer p.Close()
		got := make(chan string, 1)
		go func() {
			tok, err := p.Token(context.Background(), "alice")
			assert.NoError(t, err)
			got <- tok.AccessToken
		}()
		tick()
		_, err := p.Token(context.Background(), "bob")
		require.NoError(t, err)
		tick()
		_, err = p.Token(context.Background(), "carol") // alice is the oldest, but her fetch runs
		require.NoError(t, err)
		close(release)
		assert.Equal(t, "alice-1", <-got)
		tok, err := p.Token(context.Background(), "alice")
		require.NoError(t, err)
		assert.Equal(t, "alice-1", tok.AccessToken)
		assert.Equal(t, 1, m.callsOf("alice"), "alice's source was kept")
		_, err = p.Token(context.Background(), "bob")
		require.NoError(t, err)
		assert.Equal(t, 2, m.callsOf("bob"), "bob's was dropped")
	})
}
