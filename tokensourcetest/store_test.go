package tokensourcetest_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

var _ tokensource.Store = (*tokensourcetest.Store)(nil)

func TestStoreKeepsTheStoreContract(t *testing.T) {
	tokensourcetest.TestStore(t, func(*testing.T) tokensource.Store { return tokensourcetest.NewStore() })
}

func TestStoreKeepsCopiesAndCounts(t *testing.T) {
	ctx := context.Background()
	s := tokensourcetest.NewStore()
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, got, "nothing stored")

	value := []byte("one")
	require.NoError(t, s.Set(ctx, "a", value, time.Minute))
	value[0] = 'X' // the caller's slice is not the stored one
	got, err = s.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []byte("one"), got)
	got[0] = 'Y' // nor is the slice Get returns
	got, _ = s.Get(ctx, "a")
	assert.Equal(t, []byte("one"), got)

	require.NoError(t, s.Set(ctx, "a", []byte("two"), time.Minute))
	require.NoError(t, s.Set(ctx, "b", nil, time.Minute))
	got, _ = s.Get(ctx, "a")
	assert.Equal(t, []byte("two"), got, "overwritten")
	assert.Equal(t, []string{"a", "b"}, s.Keys())
	assert.Equal(t, 4, s.Gets())
	assert.Equal(t, 3, s.Sets())

	var zero tokensourcetest.Store // ready to use
	require.NoError(t, zero.Set(ctx, "a", []byte("z"), time.Minute))
	got, _ = zero.Get(ctx, "a")
	assert.Equal(t, []byte("z"), got)
	unlock, err := zero.Lock(ctx, "a", time.Minute)
	require.NoError(t, err)
	assert.NotNil(t, unlock)
}

func TestStoreValuesAndLocksExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := tokensourcetest.NewStore()
		require.NoError(t, s.Set(ctx, "k", []byte("v"), time.Second))
		unlock, err := s.Lock(ctx, "k", 2*time.Second)
		require.NoError(t, err)
		require.NotNil(t, unlock)

		time.Sleep(time.Second - time.Nanosecond)
		got, _ := s.Get(ctx, "k")
		assert.Equal(t, []byte("v"), got, "within its ttl")
		time.Sleep(time.Nanosecond)
		got, _ = s.Get(ctx, "k")
		assert.Nil(t, got, "expired")
		assert.Empty(t, s.Keys())

		other, _ := s.Lock(ctx, "k", time.Second)
		assert.Nil(t, other, "the lock is held for its ttl")
		time.Sleep(time.Second)
		other, _ = s.Lock(ctx, "k", time.Second)
		assert.NotNil(t, other, "the lock expired")
	})
}

func TestStoreUnlockReleasesOnlyItsOwnLock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := tokensourcetest.NewStore()
		first, _ := s.Lock(ctx, "k", time.Second)
		require.NotNil(t, first)
		time.Sleep(time.Second) // first's lock expires
		second, _ := s.Lock(ctx, "k", time.Minute)
		require.NotNil(t, second)

		first() // too late: the lock is second's
		third, _ := s.Lock(ctx, "k", time.Minute)
		assert.Nil(t, third, "second still holds the lock")

		second()
		second() // twice is harmless
		third, _ = s.Lock(ctx, "k", time.Minute)
		assert.NotNil(t, third, "second let go of it")
	})
}

func TestStoreLocksHaveNamesOfTheirOwn(t *testing.T) {
	ctx := context.Background()
	s := tokensourcetest.NewStore()
	unlock, _ := s.Lock(ctx, "k", time.Minute)
	require.NotNil(t, unlock)
	got, _ := s.Get(ctx, "k")
	assert.Nil(t, got, "a lock is no value")
	assert.Empty(t, s.Keys())
	require.NoError(t, s.Set(ctx, "k", []byte("v"), time.Minute))
	other, _ := s.Lock(ctx, "other", time.Minute)
	assert.NotNil(t, other, "locks are per key")
}

func TestStoreRefusesATTLThatIsNotPositive(t *testing.T) {
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Second} {
		t.Run(ttl.String(), func(t *testing.T) {
			s := tokensourcetest.NewStore()
			err := s.Set(ctx, "k", []byte("v"), ttl)
			require.EqualError(t, err, "tokensource: tokensourcetest.Store.Set: ttl must be positive, not "+ttl.String())
			assert.Empty(t, s.Keys())
			assert.Equal(t, 0, s.Sets())

			unlock, err := s.Lock(ctx, "k", ttl)
			require.EqualError(t, err, "tokensource: tokensourcetest.Store.Lock: ttl must be positive, not "+ttl.String())
			assert.Nil(t, unlock)
			unlock, _ = s.Lock(ctx, "k", time.Minute)
			assert.NotNil(t, unlock, "the refused call took no lock")
		})
	}
}

func TestStoreIsSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := tokensourcetest.NewStore()
	var (
		wg    sync.WaitGroup
		taken atomic.Int32
	)
	for i := range 32 {
		wg.Go(func() {
			if unlock, err := s.Lock(ctx, "lock", time.Minute); err == nil && unlock != nil {
				taken.Add(1)
			}
			key := strconv.Itoa(i % 4)
			assert.NoError(t, s.Set(ctx, key, []byte(key), time.Minute))
			got, err := s.Get(ctx, key)
			assert.NoError(t, err)
			assert.Equal(t, []byte(key), got)
			s.Keys()
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), taken.Load(), "one caller takes the lock")
	assert.Equal(t, []string{"0", "1", "2", "3"}, s.Keys())
	assert.Equal(t, 32, s.Gets())
	assert.Equal(t, 32, s.Sets())
}

// sharing is an AbbeyCross config on fake that shares through store, as
// the replicas of a service would through Redis.
func sharing(fake *tokensourcetest.AbbeyCross, store tokensource.Store) *tokensource.ClientCredentialsConfig {
	return &tokensource.ClientCredentialsConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
		TokenURL: fake.URL + "/v1/oauth/token", Store: store}
}

func TestSourcesSharingAStoreCostOneTokenRequest(t *testing.T) {
	fake := tokensourcetest.NewAbbeyCross(t)
	store := tokensourcetest.NewStore()
	a := sharing(fake, store).TokenSource(context.Background())
	b := sharing(fake, store).TokenSource(context.Background()) // as in another process: no cache in common
	ta, err := a.Token()
	require.NoError(t, err)
	tb, err := b.Token()
	require.NoError(t, err)
	assert.Equal(t, 1, fake.Requests(), "b took a's token from the store")
	assert.Equal(t, ta.AccessToken, tb.AccessToken)
	assert.Equal(t, 1, store.Sets())
	require.Len(t, store.Keys(), 1)
	assert.NotContains(t, store.Keys()[0], fake.ClientSecret, "keys hold no secret")
	assert.Eventually(t, func() bool { // a lets go after its caller has the token: it waits for no store write
		unlock, _ := store.Lock(context.Background(), store.Keys()[0], time.Minute)
		return unlock != nil
	}, time.Minute, time.Millisecond, "a let go of the store's lock")

	alone := tokensourcetest.NewAbbeyCross(t)
	_, err = sharing(alone, nil).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	_, err = sharing(alone, nil).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	assert.Equal(t, 2, alone.Requests(), "without a store, each source fetches")
}

func TestSourcesSharingAStoreShareAFailure(t *testing.T) {
	fake := tokensourcetest.NewAbbeyCross(t)
	fake.SetWorkingHours(false, "")
	store := tokensourcetest.NewStore()
	cfg := sharing(fake, store)
	// One request per fetch, and a cool-down no test machine outlasts.
	cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1, MaxInterval: time.Hour, MaxCoolDown: time.Hour}
	_, err := cfg.TokenSource(context.Background()).Token()
	require.Error(t, err)
	require.Equal(t, 1, fake.Requests())

	_, err = cfg.TokenSource(context.Background()).Token()
	require.Error(t, err)
	assert.Equal(t, 1, fake.Requests(), "the second source took the first one's failure, cooling down")
	assert.ErrorContains(t, err, "another process's fetch failed")
	var e *tokensource.Error
	require.True(t, errors.As(err, &e), "%v", err)
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.Equal(t, tokensourcetest.NonWorkingHours, e.Message)
}
