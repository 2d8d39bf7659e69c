package tokensource_test

import (
	"context"
	"net/http"
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

// storeBound is how long a source waits for one Store call before it goes
// on without the store.
const storeBound = time.Second

// stuckStore is a Store whose Get, Set, and the unlock its Lock returns,
// each if its flag is set, never return before the test ends, whatever
// their context says.
type stuckStore struct {
	*tokensourcetest.Store
	stuckGet, stuckSet, stuckUnlock bool
	release                         chan struct{} // closed when the test ends
	gets                            atomic.Int32
}

func newStuckStore(t *testing.T) *stuckStore {
	s := &stuckStore{Store: tokensourcetest.NewStore(), release: make(chan struct{})}
	t.Cleanup(func() { close(s.release) })
	return s
}

func (s *stuckStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	if s.stuckGet {
		<-s.release
	}
	return s.Store.Get(ctx, key)
}

func (s *stuckStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.stuckSet {
		<-s.release
	}
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *stuckStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	unlock, err := s.Store.Lock(ctx, key, ttl)
	if unlock == nil || !s.stuckUnlock {
		return unlock, err
	}
	return func() { <-s.release; unlock() }, err
}

func TestTheCallerOfAFetchWaitsForNoStoreWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		hang func(*stuckStore)
	}{
		{"a Set that hangs", func(s *stuckStore) { s.stuckSet = true }},
		{"an unlock that hangs", func(s *stuckStore) { s.stuckUnlock = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", lasting(360, nil))
			store := newStuckStore(t)
			tc.hang(store)
			cfg := srv.config("")
			cfg.Store = store
			got := make(chan error, 1)
			go func() {
				_, err := cfg.TokenSource(t.Context()).Token()
				got <- err
			}()
			select {
			case err := <-got: // while the store still hangs
				require.NoError(t, err)
			case <-time.After(time.Minute): // a watchdog, not a measure: a pass never waits for it
				t.Fatal("Token() waits for the store's write")
			}
		})
	}
}

func TestAStoreGetThatNeverReturnsDoesNotWedgeTheSource(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := newStuckStore(t)
		store.stuckGet = true
		var told told
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store, cfg.Observer = client, store, &told
		cfg.Retry = &tokensource.RetryPolicy{Notify: told.Notify}
		apiClient := cfg.Client(context.WithValue(t.Context(), oauth2.HTTPClient, client))
		src := apiClient.Transport.(*tokensource.Transport).Source

		goroutines := bubbled()
		start := time.Now()
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
				defer cancel()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api.URL, nil)
				_, err := apiClient.Do(req)
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.LessOrEqual(t, bubbled(), goroutines+2, "the fetch and its Get, not a goroutine per request")
		assert.Equal(t, int32(0), api.requests.Load())

		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-1", tok.AccessToken)
		assert.Equal(t, storeBound, time.Since(start), "fetched alone once the Get outlived its bound")
		assert.Contains(t, told.notified(), "tokensource: store unavailable, fetching without it: no answer within 1s")
		if seen := told.seen(tokensource.StoreUnavailable); assert.NotEmpty(t, seen) {
			assert.ErrorContains(t, seen[0].Err, "no answer within 1s")
		}
		resp, err := apiClient.Get(api.URL)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "the source serves")

		require.True(t, tokensource.Invalidate(src, tok))
		start = time.Now()
		tok, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-2", tok.AccessToken)
		assert.Zero(t, time.Since(start), "the next fetch did not wait on the store")
		assert.Equal(t, int32(1), store.gets.Load(), "nor call it while its first Get has not returned")
		assert.Contains(t, told.notified(), "an earlier call has not returned after 1s")
		synctest.Wait()
		assert.LessOrEqual(t, bubbled(), goroutines+1, "only the stuck Get is left")
	})
}

func TestAStuckStoreCostsItsSourcesOneBoundBetweenThem(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := newStuckStore(t)
		store.stuckGet = true
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store = client, store
		goroutines := bubbled()
		start := time.Now()
		for range 500 { // one after another, as a pool makes a source for each new key
			_, err := cfg.TokenSource(t.Context()).Token()
			require.NoError(t, err)
		}
		assert.Equal(t, storeBound, time.Since(start), "the first source waited the bound, and the others not at all")
		synctest.Wait()
		assert.LessOrEqual(t, bubbled(), goroutines+1, "the one stuck Get, not one per source")
		assert.Equal(t, int32(1), store.gets.Load())
	})
}

// bubbled counts the goroutines of the running synctest bubble. Unlike
// runtime.NumGoroutine, it leaves out the loopback servers' goroutines,
// which outlive their connections for a while on a loaded machine.
func bubbled() int {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for line := range strings.Lines(string(buf)) {
		if strings.HasPrefix(line, "goroutine ") && strings.Contains(line, "synctest bubble") {
			count++
		}
	}
	return count
}

func TestAnUnlockThatNeverReturnsIsAbandoned(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := newStuckStore(t)
		store.stuckUnlock = true
		var told told
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store = client, store
		cfg.Retry = &tokensource.RetryPolicy{Notify: told.Notify}
		src := cfg.TokenSource(t.Context())
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-1", tok.AccessToken)

		time.Sleep(storeBound)
		synctest.Wait()
		assert.Contains(t, told.notified(), "tokensource: store unavailable: no answer within 1s")
		assert.Len(t, store.Keys(), 1, "the token was shared before the unlock")
		gets := store.gets.Load()
		require.True(t, tokensource.Invalidate(src, tok))
		start := time.Now()
		tok, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-2", tok.AccessToken)
		assert.Zero(t, time.Since(start), "the next fetch did not wait on the store")
		assert.Equal(t, gets, store.gets.Load(), "nor call it while the unlock has not returned")
	})
}

// slowStore is a Store that takes 2s over each call of those named in
// slow ("get", "set", "lock"), whatever its context says.
type slowStore struct {
	*tokensourcetest.Store
	slow   string
	calls  atomic.Int32 // slow calls begun
	locked atomic.Value // the last key locked
}

func (s *slowStore) wait(call string) {
	if strings.Contains(s.slow, call) {
		s.calls.Add(1)
		time.Sleep(2 * time.Second)
	}
}

func (s *slowStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.wait("get")
	return s.Store.Get(ctx, key)
}

func (s *slowStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.wait("set")
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *slowStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	s.locked.Store(key)
	s.wait("lock")
	return s.Store.Lock(ctx, key, ttl)
}

func TestASlowStoreCostsOneBoundPerFetch(t *testing.T) {
	for _, tc := range []struct {
		name, slow string
		took       time.Duration // by a fetch's caller, who waits for no Set
	}{
		{"every call", "get lock set", storeBound},
		{"Get", "get", storeBound},
		{"Lock", "lock", storeBound},
		{"Set", "set", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", lasting(360, nil))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				store := &slowStore{Store: tokensourcetest.NewStore(), slow: tc.slow}
				cfg := tokens.config("")
				cfg.HTTPClient, cfg.Store = client, store
				src := cfg.TokenSource(t.Context())

				start := time.Now()
				tok, err := src.Token()
				require.NoError(t, err)
				assert.Equal(t, "tok-1", tok.AccessToken)
				assert.Equal(t, tc.took, time.Since(start),
					"the slow call is abandoned after its bound, and the next fail at once while it runs")
				time.Sleep(2 * time.Second) // the abandoned call returns
				synctest.Wait()
				assert.Equal(t, int32(1), store.calls.Load())
				if key, ok := store.locked.Load().(string); ok {
					unlock, err := store.Store.Lock(t.Context(), key, time.Minute)
					require.NoError(t, err)
					if assert.NotNil(t, unlock, "no lock is left held, not even one taken after its call was abandoned") {
						unlock()
					}
				}

				require.True(t, tokensource.Invalidate(src, tok))
				start = time.Now()
				tok, err = src.Token()
				require.NoError(t, err)
				assert.Equal(t, "tok-2", tok.AccessToken)
				assert.Equal(t, tc.took, time.Since(start), "the store is tried again once the call returned")
				time.Sleep(2 * time.Second)
				synctest.Wait()
				assert.Equal(t, int32(2), store.calls.Load())
				assert.Equal(t, int32(2), tokens.requests.Load())
			})
		})
	}
}
