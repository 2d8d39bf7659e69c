package tokensource_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// panickyStore is a Store whose Set, or the unlock its Lock returns,
// panics while panics is set.
type panickyStore struct {
	*tokensourcetest.Store
	inSet, inUnlock bool
	panics          atomic.Bool
}

func (s *panickyStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.inSet && s.panics.Load() {
		panic("set: disk full")
	}
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *panickyStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	unlock, err := s.Store.Lock(ctx, key, ttl)
	if unlock == nil || !s.inUnlock {
		return unlock, err
	}
	return func() {
		unlock()
		if s.panics.Load() {
			panic("unlock: connection lost")
		}
	}, err
}

func TestPanicsDuringABackgroundRenewalAreRecorded(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		inSet, inUnlock              bool
		notifyPanics, observerPanics bool
		failRenewal                  bool // its first attempt gets a 503, which Notify is told before the retry
		notified                     string
		event                        tokensource.EventKind
	}{
		{name: "Store.Set", inSet: true,
			notified: "tokensource: store unavailable, the outcome stays in this process: panic in the store (a string)",
			event:    tokensource.StoreUnavailable},
		{name: "unlock", inUnlock: true,
			notified: "tokensource: store unavailable: panic in the store's unlock (a string)",
			event:    tokensource.StoreUnavailable},
		{name: "Notify", notifyPanics: true, failRenewal: true, // ignored: the renewal retries
			notified: "503 Service Unavailable", event: tokensource.Retrying},
		{name: "Observer", observerPanics: true, failRenewal: true,
			notified: "503 Service Unavailable", event: tokensource.FetchEnded},
		{name: "all of them", inSet: true, inUnlock: true, notifyPanics: true, observerPanics: true, failRenewal: true,
			notified: "panic in the store", event: tokensource.StoreUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			renewal := make(chan struct{}) // holds the renewal's answer until a caller was served meanwhile
			tokens := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
				if n == 2 {
					<-renewal
				}
				if tc.failRenewal && n == 2 {
					status(503)(w, n)
					return
				}
				lasting(360, nil)(w, n)
			})
			fakeTime(t, func(t *testing.T, client *http.Client) {
				store := &panickyStore{Store: tokensourcetest.NewStore(), inSet: tc.inSet, inUnlock: tc.inUnlock}
				var told told
				cfg := tokens.config("")
				cfg.HTTPClient, cfg.Store, cfg.Observer = client, store, &told
				cfg.Retry = &tokensource.RetryPolicy{Notify: told.Notify}
				src := cfg.TokenSource(t.Context())
				tok, err := src.Token()
				require.NoError(t, err)
				assert.Equal(t, "tok-1", tok.AccessToken)

				store.panics.Store(true)
				told.notifyPanics.Store(tc.notifyPanics)
				told.observerPanics.Store(tc.observerPanics)
				time.Sleep(266 * time.Second) // into the window, however late a sharing source opens it: the next call renews
				tok, err = src.Token()
				require.NoError(t, err)
				assert.Equal(t, "tok-1", tok.AccessToken, "served while the renewal runs")
				close(renewal)
				synctest.Wait()
				for range 60 {
					if tok.AccessToken != "tok-1" {
						break
					}
					time.Sleep(time.Second)
					tok, err = src.Token()
					require.NoError(t, err, "the source keeps serving")
				}
				assert.NotEqual(t, "tok-1", tok.AccessToken, "and renews")
				synctest.Wait() // for the renewal to be shared
				assert.Contains(t, told.notified(), tc.notified)
				assert.NotEmpty(t, told.seen(tc.event))
			})
		})
	}
}

// skewedStore stores values as a replica whose clock runs skew ahead
// writes them: the times at the given paths of the JSON value ("stamp",
// "token.expiry", "failure.until") are shifted by skew.
type skewedStore struct {
	*tokensourcetest.Store
	skew  time.Duration
	paths []string
}

func (s *skewedStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber() // the stamp, in ns, does not fit a float64
	if err := d.Decode(&v); err != nil {
		return err
	}
	for _, path := range s.paths {
		if err := shift(v, strings.Split(path, "."), s.skew); err != nil {
			return err
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Store.Set(ctx, key, b, ttl)
}

// shift adds skew to the time at path in v, a Unix time in ns or an RFC
// 3339 string, if v has one there.
func shift(v map[string]any, path []string, skew time.Duration) error {
	if len(path) > 1 {
		if inner, ok := v[path[0]].(map[string]any); ok {
			return shift(inner, path[1:], skew)
		}
		return nil
	}
	switch x := v[path[0]].(type) {
	case json.Number:
		ns, err := x.Int64()
		v[path[0]] = json.Number(fmt.Sprint(ns + int64(skew)))
		return err
	case string:
		at, err := time.Parse(time.RFC3339Nano, x)
		v[path[0]] = at.Add(skew).Format(time.RFC3339Nano)
		return err
	}
	return nil
}

func TestAReplicaWithAFastClockCannotStopTheFleet(t *testing.T) {
	const maxCoolDown = time.Minute
	for _, tc := range []struct {
		name  string
		paths []string
		most  time.Duration // the longest cool-down the healthy replica may take
	}{
		// The fast replica's own cool-down: MaxInterval (2s) ± 25%.
		{"its clock 6h ahead", []string{"stamp", "failure.until"}, 2500 * time.Millisecond},
		{"a cool-down stamped 6h before its end", []string{"failure.until"}, maxCoolDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
				if n == 1 {
					status(503)(w, n) // a blip
					return
				}
				lasting(360, nil)(w, n)
			})
			fakeTime(t, func(t *testing.T, client *http.Client) {
				store := tokensourcetest.NewStore()
				fast := tokens.config("")
				fast.HTTPClient, fast.Store = client, &skewedStore{Store: store, skew: 6 * time.Hour, paths: tc.paths}
				fast.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1, MaxCoolDown: maxCoolDown}
				healthy := *fast
				healthy.Store = store
				var told told
				healthy.Observer = &told

				_, err := fast.TokenSource(t.Context()).Token()
				var e *tokensource.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 503, e.StatusCode)
				synctest.Wait() // for the failure to be shared

				src := healthy.TokenSource(t.Context())
				_, err = src.Token()
				require.ErrorAs(t, err, &e, "the fast replica's failure, adopted")
				assert.Equal(t, int32(1), tokens.requests.Load())
				adopted := told.seen(tokensource.Adopted)
				require.Len(t, adopted, 1)
				wait := adopted[0].Wait
				assert.Positive(t, wait)
				assert.LessOrEqual(t, wait, tc.most)

				_, err = src.Token()
				require.ErrorIs(t, err, tokensource.ErrCoolingDown)
				assert.Contains(t, err.Error(), fmt.Sprintf("next attempt in %v:", wait.Round(time.Millisecond)))
				time.Sleep(wait)
				tok, err := src.Token()
				require.NoError(t, err, "the healthy replica probes once the adopted cool-down ends")
				assert.Equal(t, "tok-2", tok.AccessToken)
			})
		})
	}
}

func TestAReplicaWithAFastClockCannotStretchAToken(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(2, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := tokensourcetest.NewStore()
		fast := tokens.config("")
		fast.HTTPClient = client
		fast.Store = &skewedStore{Store: store, skew: 6 * time.Hour, paths: []string{"stamp", "token.expiry"}}
		healthy := *fast
		healthy.Store = store
		var told told
		healthy.Observer = &told

		_, err := fast.TokenSource(t.Context()).Token()
		require.NoError(t, err)
		synctest.Wait() // for the token to be shared
		src := healthy.TokenSource(t.Context())
		tok, err := src.Token()
		require.NoError(t, err)
		adoptedAt := time.Now()
		assert.Equal(t, "tok-1", tok.AccessToken, "adopted from the fast replica")
		assert.Equal(t, int32(1), tokens.requests.Load())
		assert.WithinDuration(t, adoptedAt.Add(2*time.Second), tok.Expiry, 0, "its lifetime, counted from its adoption")

		// Served until min(ExpiryDelta, L/4) before that expiry: 1.5s.
		for time.Since(adoptedAt) < 10*time.Second {
			time.Sleep(100 * time.Millisecond)
			tok, err := src.Token()
			require.NoError(t, err)
			if tok.AccessToken == "tok-1" {
				assert.Less(t, time.Since(adoptedAt), 1500*time.Millisecond, "tok-1 served too long")
			}
		}
		assert.Greater(t, tokens.requests.Load(), int32(2), "the healthy replica renews its own")
	})
}

func TestAnAPIThatRejectsEveryTokenBacksOffAtAnyRate(t *testing.T) {
	// A request every 2.5 pauses: with the pause doubling from p, a token
	// is dropped at most at 0, p, 3p, 7p, 15p and 31p within the 47.5p of
	// 20 requests: 7 tokens with the first. Without the schedule, 21.
	for _, tc := range []struct {
		name  string
		every time.Duration
		retry *tokensource.RetryPolicy
	}{
		{"a request every 500ms, MaxInterval 200ms", 500 * time.Millisecond,
			&tokensource.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxInterval: 200 * time.Millisecond}},
		{"a request every 5s, the default policy", 5 * time.Second, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", lasting(3600, nil))
			api := newAPI(t, http.StatusUnauthorized, func(string) bool { return true })
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := tokens.config("")
				cfg.HTTPClient, cfg.Retry = client, tc.retry
				apiClient := cfg.Client(context.WithValue(t.Context(), oauth2.HTTPClient, client))
				for range 20 {
					resp, err := apiClient.Get(api.URL)
					require.NoError(t, err)
					resp.Body.Close()
					assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
					time.Sleep(tc.every)
				}
				assert.LessOrEqual(t, tokens.requests.Load(), int32(7), "bounded by the doubling pause")
				assert.GreaterOrEqual(t, tokens.requests.Load(), int32(5), "a new token each time the pause allows")
			})
		})
	}
}

func TestRetryTokenSourceOfNilFailsClearly(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	src := tokensource.RetryTokenSource(t.Context(), nil, nil)
	tok, err := src.Token()
	assert.Nil(t, tok)
	require.EqualError(t, err, "tokensource: RetryTokenSource needs a source, not nil")

	_, err = tokensource.NewClient(t.Context(), src).Get(api.URL)
	assert.ErrorContains(t, err, "tokensource: RetryTokenSource needs a source, not nil")
	assert.Equal(t, int32(0), api.requests.Load())
}

func TestASourceOfNothingCoolsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		src := tokensource.RetryTokenSource(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
			calls.Add(1)
			return nil, nil
		}), nil)
		_, err := src.Token()
		require.EqualError(t, err, "tokensource: the source returned neither a token nor an error")
		for range 50 {
			_, err = src.Token()
			require.ErrorIs(t, err, tokensource.ErrCoolingDown)
		}
		assert.Equal(t, int32(1), calls.Load(), "no call of the source while cooling down")

		time.Sleep(2500 * time.Millisecond) // MaxInterval (2s) + 25%: the cool-down's longest
		_, err = src.Token()
		require.Error(t, err)
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown)
		assert.Equal(t, int32(2), calls.Load(), "one probe")
	})
}

// ttlStore records the ttl of every value stored and every lock taken.
type ttlStore struct {
	*tokensourcetest.Store
	mu          sync.Mutex
	sets, locks []time.Duration
}

func (s *ttlStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	s.sets = append(s.sets, ttl)
	s.mu.Unlock()
	return s.Store.Set(ctx, key, value, ttl)
}

func (s *ttlStore) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	s.mu.Lock()
	s.locks = append(s.locks, ttl)
	s.mu.Unlock()
	return s.Store.Lock(ctx, key, ttl)
}

// jwt is an unsigned JWT whose exp claim is exp.
func jwt(exp int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc(fmt.Appendf(nil, `{"exp":%d}`, exp)) + "."
}

func TestNoStoreKeyOutlivesWhatItHolds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		body  string                   // of the first answer; a second request gets a 503
		retry *tokensource.RetryPolicy // of the source
		life  time.Duration            // of the token; 0 for none or one too long to matter
	}{
		{"an hour's token", `{"access_token":"a","expires_in":3600}`, nil, time.Hour},
		{"a second's token", `{"access_token":"a","expires_in":1}`, nil, time.Second},
		{"a token until 9999", `{"access_token":"a","expires":"9999-12-31T23:59:59Z"}`, nil, 0},
		{"a JWT until 9999", fmt.Sprintf(`{"access_token":%q}`, jwt(253402300799)), nil, 0},
		{"a JWT until 3000", fmt.Sprintf(`{"access_token":%q}`, jwt(32503680000)), nil, 0},
		{"a failure asking for two days", "", &tokensource.RetryPolicy{MaxCoolDown: 24 * time.Hour}, 0},
		{"a fetch budget of two days", `{"access_token":"a","expires_in":3600}`,
			&tokensource.RetryPolicy{MaxElapsedTime: 48 * time.Hour}, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCCServer(t, nil, func(w http.ResponseWriter, n int) {
				if n > 1 || tc.body == "" {
					withRetryAfter("172800", 503)(w, n)
					return
				}
				fmt.Fprint(w, tc.body)
			})
			fakeTime(t, func(t *testing.T, client *http.Client) {
				store := &ttlStore{Store: tokensourcetest.NewStore()}
				cfg := srv.config()
				cfg.HTTPClient, cfg.Store, cfg.Retry = client, store, tc.retry
				_, err := cfg.TokenSource(t.Context()).Token()
				if tc.body != "" {
					require.NoError(t, err)
				}
				assert.Equal(t, int32(1), srv.requests.Load(), "one fetch")
				synctest.Wait() // for the outcome to be shared

				store.mu.Lock()
				defer store.mu.Unlock()
				require.Len(t, store.sets, 1)
				for _, ttl := range store.sets {
					assert.LessOrEqual(t, ttl, 24*time.Hour)
					if tc.life > 0 {
						assert.LessOrEqual(t, ttl, tc.life+time.Second, "the token's life and a second at most")
					}
				}
				require.NotEmpty(t, store.locks)
				for _, ttl := range store.locks {
					assert.LessOrEqual(t, ttl, 24*time.Hour, "a lock too")
				}
			})
		})
	}
}

func TestATokenValidForCenturiesIsServed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expiry time.Time
	}{
		{"until 9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"until 2263", time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				src := tokensource.RetryTokenSource(t.Context(), sourceFunc(func() (*oauth2.Token, error) {
					if calls.Add(1) > 1 { // a source that fetched again at once would call for ever
						return nil, errors.New("no second token")
					}
					return &oauth2.Token{AccessToken: "a", Expiry: tc.expiry}, nil
				}), nil)
				for range 3 {
					tok, err := src.Token()
					require.NoError(t, err)
					assert.True(t, tok.Expiry.After(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)), "about as long as it said")
					time.Sleep(24 * time.Hour)
				}
				assert.Equal(t, int32(1), calls.Load(), "served from the cache")
			})
		})
	}
}

func TestErrCoolingDownMarksAnAnswerWithoutARequest(t *testing.T) {
	tokens := newFliqaServer(t, "", status(503))
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var told told
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Observer = client, &told
		cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1}
		apiClient := cfg.Client(context.WithValue(t.Context(), oauth2.HTTPClient, client))
		src := apiClient.Transport.(*tokensource.Transport).Source

		_, err := src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown, "the fetch's own failure")
		assert.Equal(t, int32(1), tokens.requests.Load())

		_, err = src.Token()
		assert.ErrorIs(t, err, tokensource.ErrCoolingDown)
		require.ErrorAs(t, err, &e, "and still the provider's answer")
		assert.Equal(t, 503, e.StatusCode)
		_, err = apiClient.Get(api.URL)
		assert.ErrorIs(t, err, tokensource.ErrCoolingDown, "through a client too")
		assert.Equal(t, int32(1), tokens.requests.Load(), "nothing sent")
		assert.Equal(t, int32(0), api.requests.Load())
		assert.Len(t, told.seen(tokensource.CoolingDown), 2)

		time.Sleep(2500 * time.Millisecond) // past the cool-down: MaxInterval (2s) + 25% at most
		_, err = src.Token()
		require.ErrorAs(t, err, &e)
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown, "the probe's own failure")
		assert.Equal(t, int32(2), tokens.requests.Load())
	})
}

func TestErrCoolingDownMarksAnAdoptedFailure(t *testing.T) {
	tokens := newFliqaServer(t, "", status(503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store = client, tokensourcetest.NewStore()
		cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1}
		_, err := cfg.TokenSource(t.Context()).Token()
		assert.NotErrorIs(t, err, tokensource.ErrCoolingDown, "the first replica's own failure")
		synctest.Wait() // for the failure to be shared

		other := cfg.TokenSource(t.Context()) // another replica's
		_, err = other.Token()
		assert.ErrorIs(t, err, tokensource.ErrCoolingDown, "the other replica sent nothing")
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 503, e.StatusCode)
		assert.Equal(t, int32(1), tokens.requests.Load())
	})
}

// oneValueStore answers every key with the value first stored at any key,
// as a Store with a bug in its key handling would.
type oneValueStore struct {
	*tokensourcetest.Store
	first atomic.Value // the first key set
}

func (s *oneValueStore) Get(ctx context.Context, key string) ([]byte, error) {
	if first, ok := s.first.Load().(string); ok {
		key = first
	}
	return s.Store.Get(ctx, key)
}

func (s *oneValueStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.first.CompareAndSwap(nil, key)
	return s.Store.Set(ctx, key, value, ttl)
}

func TestAValueServesOnlyItsIdentity(t *testing.T) {
	tenantA := newFliqaServer(t, "", lasting(360, nil))
	tenantB := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		fmt.Fprintf(w, `{"accessToken":"b-tok-%d","expiresIn":360}`, n)
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := &oneValueStore{Store: tokensourcetest.NewStore()}
		var told told
		a, b := tenantA.config(""), tenantB.config("")
		a.HTTPClient, a.Store = client, store
		b.HTTPClient, b.Store, b.Observer = client, store, &told
		b.Retry = &tokensource.RetryPolicy{Notify: told.Notify}
		tok, err := a.TokenSource(t.Context()).Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-1", tok.AccessToken)
		synctest.Wait() // a's token is shared

		tok, err = b.TokenSource(t.Context()).Token()
		require.NoError(t, err)
		assert.Equal(t, "b-tok-1", tok.AccessToken, "tenant B never gets tenant A's token")
		assert.Contains(t, told.notified(), "tokensource: store unavailable: the value it returned belongs to another identity")
		assert.NotEmpty(t, told.seen(tokensource.StoreUnavailable))
	})
}

// rewrite changes the one value of store with change.
func rewrite(t *testing.T, store *tokensourcetest.Store, change func(v map[string]any)) {
	keys := store.Keys()
	require.Len(t, keys, 1)
	value, err := store.Get(t.Context(), keys[0])
	require.NoError(t, err)
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber() // the stamp, in ns, does not fit a float64
	require.NoError(t, d.Decode(&v))
	change(v)
	value, err = json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, store.Set(t.Context(), keys[0], value, time.Hour))
}

func TestAnAdoptedTokenLivesADayAtMost(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := tokensourcetest.NewStore()
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store = client, store
		_, err := cfg.TokenSource(t.Context()).Token()
		require.NoError(t, err)
		synctest.Wait()
		rewrite(t, store, func(v map[string]any) {
			tok := v["token"].(map[string]any)
			tok["access_token"] = "forged"
			tok["expiry"] = time.Date(2319, 1, 1, 0, 0, 0, 0, time.UTC)
			tok["lifetime"] = json.Number(fmt.Sprint(int64(math.MaxInt64)))
		})

		tok, err := cfg.TokenSource(t.Context()).Token()
		require.NoError(t, err)
		assert.Equal(t, "forged", tok.AccessToken, "adopted")
		assert.WithinDuration(t, time.Now().Add(24*time.Hour), tok.Expiry, time.Second, "for a day, as a fetched token")
	})
}

func TestAnAdoptedFailureIsShortAndClean(t *testing.T) {
	tokens := newFliqaServer(t, "", status(503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := tokensourcetest.NewStore()
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store = client, store
		cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1}
		_, err := cfg.TokenSource(t.Context()).Token()
		require.Error(t, err)
		synctest.Wait()
		rewrite(t, store, func(v map[string]any) {
			f := v["failure"].(map[string]any)["err"].(map[string]any)
			f["text"] = strings.Repeat("forged\n\r\x1b[31mline\u0085", 1<<16)
			f["message"] = f["text"]
		})

		_, err = cfg.TokenSource(t.Context()).Token()
		require.ErrorIs(t, err, tokensource.ErrCoolingDown, "adopted")
		assert.Less(t, len(err.Error()), 8<<10, "a few KiB")
		assert.NotContains(t, err.Error(), "\n")
		assert.NotContains(t, err.Error(), "\x1b")
		assert.NotContains(t, err.Error(), "\u0085")
	})
}
