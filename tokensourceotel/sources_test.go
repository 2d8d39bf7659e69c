package tokensourceotel_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// These tests hold the core's events to the promise of exactness,
// through real sources and the fakes' real HTTP: what the instruments say
// is what the token endpoint saw.

const (
	fliqaSuccess = "{tokensource.outcome=success,tokensource.provider=fliqa}"
	fliqaFailure = "{tokensource.outcome=failure,tokensource.provider=fliqa}"
	fliqaOnly    = "{tokensource.provider=fliqa}"
)

// fliqaConfig is a config for fake that tells obs, with quick retries and
// a cool-down of about a minute, far longer than a test.
func fliqaConfig(fake *tokensourcetest.Fliqa, obs tokensource.Observer) *tokensource.FliqaConfig {
	return &tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret, Environment: fake.Environment,
		TenantSlug: fake.TenantSlug, BaseURL: fake.URL, Observer: obs,
		Retry: &tokensource.RetryPolicy{InitialInterval: time.Millisecond, MaxInterval: time.Minute}}
}

// sum adds up the points of name, whatever their attributes.
func sum(points map[string]float64, name string) float64 {
	total := 0.0
	for k, v := range points {
		if len(k) > len(name) && k[:len(name)] == name && k[len(name)] == '{' {
			total += v
		}
	}
	return total
}

func TestOneFetchPointPerFetchSent(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	tm := newTelemetry(t)
	cfg := fliqaConfig(fake, tm.Observer)
	for range 3 { // three sources, each called by ten callers at once
		src := cfg.TokenSource(context.Background())
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := src.Token()
				assert.NoError(t, err)
			})
		}
		wg.Wait()
	}
	fake.FailNext(2, http.StatusServiceUnavailable, "") // one fetch of three attempts
	_, err := cfg.TokenSource(context.Background()).Token()
	require.NoError(t, err)

	require.Equal(t, 4+2, fake.Requests())
	points := tm.points(t)
	assert.Equal(t, 4.0, points["tokensource.fetch.duration"+fliqaSuccess])
	assert.Equal(t, 4.0, sum(points, "tokensource.fetch.duration"))
	assert.Equal(t, float64(fake.Requests()), sum(points, "tokensource.fetch.attempts"))
	assert.Equal(t, 2.0, points["tokensource.attempt.failures{http.response.status_code=503,tokensource.provider=fliqa}"])
	assert.Equal(t, 4.0, points["tokensource.token.lifetime"+fliqaOnly])
	waits := sum(points, "tokensource.wait.duration")
	assert.GreaterOrEqual(t, waits, 4.0, "each fetch had a caller waiting")
	assert.LessOrEqual(t, waits, 3*10+1.0, "a call waits once at most")
	require.Len(t, tm.spans.Ended(), 4)
}

func TestNoFetchPointForACoolDownAnswer(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	tm := newTelemetry(t)
	src := fliqaConfig(fake, tm.Observer).TokenSource(context.Background())
	fake.FailNext(1, http.StatusBadRequest, "") // not retried, then cooling down
	for range 6 {
		_, err := src.Token()
		require.Error(t, err)
	}

	require.Equal(t, 1, fake.Requests())
	points := tm.points(t)
	assert.Equal(t, 1.0, sum(points, "tokensource.fetch.duration"))
	assert.Equal(t, 1.0, points["tokensource.fetch.duration"+fliqaFailure])
	assert.Equal(t, 1.0, points["tokensource.attempt.failures{http.response.status_code=400,tokensource.provider=fliqa}"])
	assert.Equal(t, 5.0, points["tokensource.cooldown.answers"+fliqaOnly])
	spans := tm.spans.Ended()
	require.Len(t, spans, 1)
	assert.Equal(t, "tokensource: fetch failed: status 400, code bad_request",
		spans[0].Status().Description)
}

// memStore is a Store in this process's memory, as a user could write
// one, whose calls fail while failing is set.
type memStore struct {
	mu      sync.Mutex
	values  map[string][]byte
	locks   map[string]bool
	failing atomic.Bool
	gets    atomic.Int32
}

var errStoreDown = errors.New("store down")

func newMemStore() *memStore {
	return &memStore{values: map[string][]byte{}, locks: map[string]bool{}}
}

func (s *memStore) Get(_ context.Context, key string) ([]byte, error) {
	s.gets.Add(1)
	if s.failing.Load() {
		return nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.values[key], nil
}

func (s *memStore) Set(_ context.Context, key string, value []byte, _ time.Duration) error {
	if s.failing.Load() {
		return errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = value
	return nil
}

func (s *memStore) Lock(_ context.Context, key string, _ time.Duration) (func(), error) {
	if s.failing.Load() {
		return nil, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[key] {
		return nil, nil
	}
	s.locks[key] = true
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.locks, key)
	}, nil
}

func TestNoFetchPointForAStoreAdoption(t *testing.T) {
	tests := []struct {
		name    string
		fail    bool
		outcome string
	}{
		{"a token", false, fliqaSuccess},
		{"a failure", true, fliqaFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := tokensourcetest.NewFliqa(t)
			store := newMemStore()
			fetcher, adopter := newTelemetry(t), newTelemetry(t)
			if tt.fail {
				fake.FailNext(1, http.StatusBadRequest, "")
			}
			a := fliqaConfig(fake, fetcher.Observer)
			a.Store = store
			_, err := a.TokenSource(context.Background()).Token()
			require.Equal(t, tt.fail, err != nil, err)
			b := fliqaConfig(fake, adopter.Observer) // another process's
			b.Store = store
			_, err = b.TokenSource(context.Background()).Token()
			require.Equal(t, tt.fail, err != nil, err)

			require.Equal(t, 1, fake.Requests())
			assert.Equal(t, 1.0, fetcher.points(t)["tokensource.fetch.duration"+tt.outcome])
			points := adopter.points(t)
			assert.Zero(t, sum(points, "tokensource.fetch.duration"))
			assert.Zero(t, sum(points, "tokensource.fetch.attempts"))
			assert.Equal(t, 1.0, points["tokensource.store.adoptions"+tt.outcome])
			assert.Zero(t, sum(points, "tokensource.store.fallbacks"))
			assert.Empty(t, adopter.spans.Ended())
		})
	}
}

func TestOneStoreFallbackPerFallback(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	store := newMemStore()
	store.failing.Store(true)
	tm := newTelemetry(t)
	cfg := fliqaConfig(fake, tm.Observer)
	cfg.Store = store
	for range 3 { // three processes' sources, none of which can share
		_, err := cfg.TokenSource(context.Background()).Token()
		require.NoError(t, err)
	}

	require.Equal(t, 3, fake.Requests())
	require.Equal(t, int32(3), store.gets.Load())
	points := tm.points(t)
	assert.Equal(t, 3.0, points["tokensource.store.fallbacks"+fliqaOnly])
	assert.Equal(t, 3.0, points["tokensource.fetch.duration"+fliqaSuccess])
}

func TestOneInvalidationPerTokenDropped(t *testing.T) {
	const callers = 20
	fake := tokensourcetest.NewFliqa(t)
	tm := newTelemetry(t)
	var (
		rejecting atomic.Bool
		first     atomic.Pointer[string] // the Authorization of the first token
		arrived   atomic.Int32
		all       = make(chan struct{}) // closed when every caller holds the first token's 401
		rejected  atomic.Int32
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		first.CompareAndSwap(nil, &auth)
		if !rejecting.Load() || auth != *first.Load() {
			return // 200
		}
		if arrived.Add(1) == callers {
			close(all)
		}
		select {
		case <-all:
		case <-r.Context().Done():
			return
		}
		rejected.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(api.Close)
	client := fliqaConfig(fake, tm.Observer).Client(context.Background())
	get := func() {
		resp, err := client.Get(api.URL)
		if assert.NoError(t, err) {
			resp.Body.Close()
		}
	}
	get() // the first token, which the API then rejects
	rejecting.Store(true)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(get)
	}
	wg.Wait()

	require.Equal(t, int32(callers), rejected.Load())
	require.Equal(t, 2, fake.Requests())
	points := tm.points(t)
	assert.Equal(t, 1.0, points["tokensource.invalidations"+fliqaOnly])
	assert.Equal(t, 2.0, points["tokensource.fetch.duration"+fliqaSuccess])
}

func TestHitsRecordNothing(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	tm := newTelemetry(t)
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(api.Close)
	client := fliqaConfig(fake, tm.Observer).Client(context.Background())
	get := func() {
		resp, err := client.Get(api.URL)
		require.NoError(t, err)
		resp.Body.Close()
	}
	get()
	points, sums := tm.points(t), tm.sums(t)
	require.NotEmpty(t, points)
	for range 50 {
		get()
	}
	assert.Equal(t, points, tm.points(t))
	assert.Equal(t, sums, tm.sums(t))
	assert.Len(t, tm.spans.Ended(), 1)
	assert.Equal(t, 1, fake.Requests())
}
