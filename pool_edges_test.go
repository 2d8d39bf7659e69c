package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
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

func TestPoolCallsShareOneCallOfASourceThatNeverReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &hangingSource{release: make(chan struct{})}
		p := tokensource.NewPool(func(string) (oauth2.TokenSource, error) { return src, nil }, nil)
		defer p.Close()
		client := p.Client(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: echoAuth}), "u")
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				var err error
				if i%2 == 0 {
					_, err = p.Token(ctx, "u")
				} else {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/", nil)
					_, err = client.Do(req)
				}
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, 1, stacksWith("(*hangingSource).Token("), "one call left behind, not one per call")
		assert.Equal(t, int32(1), src.calls.Load())

		got := make(chan *oauth2.Token, 2)
		for range 2 {
			go func() {
				tok, err := p.Token(context.Background(), "u")
				assert.NoError(t, err)
				got <- tok
			}()
		}
		synctest.Wait()
		close(src.release)
		a, b := <-got, <-got
		assert.Equal(t, "late", a.AccessToken)
		assert.NotSame(t, a, b, "each caller's token is its own")
		assert.Equal(t, int32(1), src.calls.Load())
	})
}

func TestPoolNewSourceThatNeverReturnsHoldsItsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		m.block = make(chan struct{})
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 10})
		defer p.Close()
		var wg sync.WaitGroup
		for i := range 500 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				_, err := p.Token(ctx, fmt.Sprint(i))
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, 10, stacksWith("(*maker).newSource("), "a goroutine per slot, not per key")
		assert.Equal(t, 10, p.Len())

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := p.Token(ctx, "new")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.EqualError(t, err, "tokensource: call ended while waiting for a slot in the pool, every other source "+
			"being made: context deadline exceeded")

		late := make(chan error, 1)
		go func() {
			_, err := p.Token(context.Background(), "late")
			late <- err
		}()
		synctest.Wait() // waiting for a slot
		close(m.block)
		require.NoError(t, <-late, "a source made frees a slot: the least recently used")
		assert.Equal(t, 10, p.Len())
		assert.Equal(t, 1, m.callsOf("late"))
	})
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

// callingObserver calls its pool's Token for a key of its own from the
// first SourceDropped of each reason, and records what it got.
type callingObserver struct {
	p    *tokensource.Pool[string]
	mu   sync.Mutex
	errs map[string]error
}

func (o *callingObserver) Observe(e tokensource.Event) {
	if e.Kind != tokensource.SourceDropped {
		return
	}
	o.mu.Lock()
	_, called := o.errs[e.Reason]
	if !called {
		o.errs[e.Reason] = nil
	}
	o.mu.Unlock()
	if called {
		return
	}
	_, err := o.p.Token(context.Background(), "observer-"+e.Reason)
	o.mu.Lock()
	o.errs[e.Reason] = err
	o.mu.Unlock()
}

func TestPoolObserverMayCallThePool(t *testing.T) {
	t.Run("capacity, removed, closed", func(t *testing.T) {
		m := newMaker()
		obs := &callingObserver{errs: map[string]error{}}
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 2, Observer: obs})
		obs.p = p
		done := make(chan struct{})
		go func() { // a deadlock fails the test, not the run
			defer close(done)
			for _, key := range []string{"a", "b", "c"} { // c drops a: the observer adds a key, which drops b
				_, err := p.Token(context.Background(), key)
				assert.NoError(t, err)
			}
			assert.Equal(t, 2, p.Len())
			assert.True(t, p.Remove("c"))
			p.Close()
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("the pool deadlocked: it told its observer under a lock")
		}
		assert.Equal(t, map[string]error{"capacity": nil, "removed": nil, "closed": tokensource.ErrPoolClosed}, obs.errs)
		assert.Equal(t, 1, m.callsOf("observer-capacity"))
		assert.Equal(t, 0, p.Len())
	})
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMaker()
			obs := &callingObserver{errs: map[string]error{}}
			p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: time.Minute, Observer: obs})
			obs.p = p
			defer p.Close()
			_, err := p.Token(context.Background(), "a")
			require.NoError(t, err)
			time.Sleep(90 * time.Second) // a goes at 60s; the observer's key would at 120s
			synctest.Wait()
			assert.Equal(t, map[string]error{"idle": nil}, obs.errs)
			assert.Equal(t, 1, p.Len(), "the observer's key")
		})
	})
}

func TestPoolEventsNameProviderAndKey(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	newSource := func(slug string) (oauth2.TokenSource, error) {
		if slug == "own" {
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
		}
		return (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret, Environment: fake.Environment,
			TenantSlug: fake.TenantSlug, BaseURL: fake.URL}).TokenSource(context.Background()), nil // the fake's one tenant
	}
	for _, tc := range []struct {
		name    string
		keyName func(any) string
		want    []string
	}{
		{"keys unnamed by default", nil, []string{"source_added fliqa ", "source_added  ", "source_dropped fliqa ",
			"source_dropped  "}},
		{"keys named", func(k any) string { return "tenant " + k.(string) }, []string{"source_added fliqa tenant acme",
			"source_added  tenant own", "source_dropped fliqa tenant acme", "source_dropped  tenant own"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &told{}
			p := tokensource.NewPool(newSource, &tokensource.PoolOptions{Observer: obs, KeyName: tc.keyName})
			for _, key := range []string{"acme", "own"} {
				_, err := p.Token(t.Context(), key)
				require.NoError(t, err)
			}
			require.True(t, p.Remove("acme"))
			require.True(t, p.Remove("own"))
			var got []string
			for _, e := range obs.all() {
				got = append(got, e.Kind.String()+" "+string(e.Provider)+" "+e.Key)
			}
			assert.Equal(t, tc.want, got)
			p.Close()
		})
	}
}

func TestPoolNeverHoldsMoreThanMaxSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 8
		m := newMaker()
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			if key[0] == 'x' {
				return nil, errors.New("unknown user")
			}
			return m.newSource(key)
		}, &tokensource.PoolOptions{MaxSources: max})
		defer p.Close()
		var wg sync.WaitGroup
		for g := range 50 {
			wg.Go(func() {
				for i := range 200 {
					key := fmt.Sprintf("%c%d", "kx"[(g+i)%2], (g*7+i)%30)
					if i%5 == 0 {
						p.Remove(key)
						continue
					}
					_, err := p.Token(context.Background(), key)
					assert.Equal(t, key[0] == 'x', err != nil, "key %s: %v", key, err)
					assert.LessOrEqual(t, p.Len(), max)
				}
			})
		}
		wg.Wait()
		for i := range max { // every slot came back
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := p.Token(ctx, fmt.Sprint("fresh-", i))
			cancel()
			require.NoError(t, err)
		}
		assert.Equal(t, max, p.Len())
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

func TestPoolThatBecomesUnreachableStopsItsGoroutine(t *testing.T) {
	before := janitors()
	func() {
		p := tokensource.NewPool(newMaker().newSource, nil)
		_, err := p.Token(context.Background(), "a")
		require.NoError(t, err)
		require.Equal(t, before+1, janitors())
	}()
	for i := 0; i < 1000 && janitors() > before; i++ { // a cleanup runs on a goroutine of its own after a GC
		runtime.GC()
		runtime.Gosched()
	}
	assert.LessOrEqual(t, janitors(), before, "stopped without Close") // another test's unclosed pool may stop too
}
