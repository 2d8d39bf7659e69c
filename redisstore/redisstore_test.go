package redisstore_test

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func newStore(t *testing.T, r *redisServer, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(r.client(t), opts)
	require.NoError(t, err)
	return s
}

func TestNewRefusesUnsafeOptions(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, tc := range []struct {
		name string
		opts redisstore.Options
		want string
	}{
		{"neither a key nor Plaintext", redisstore.Options{}, "redisstore: Options.EncryptionKey is required; set Options.Plaintext to store tokens unencrypted"},
		{"a 16-byte key", redisstore.Options{EncryptionKey: make([]byte, 16)}, "redisstore: Options.EncryptionKey must be 32 bytes for AES-256, not 16"},
		{"a key and Plaintext", redisstore.Options{EncryptionKey: testKey, Plaintext: true}, "redisstore: Options.EncryptionKey and Options.Plaintext exclude each other"},
		{"a prefix with a brace", redisstore.Options{EncryptionKey: testKey, Prefix: "app{1}:"}, "redisstore: Options.Prefix must not hold { or }: each key's hash tag follows it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redisstore.New(client, tc.opts)
			assert.EqualError(t, err, tc.want)
		})
	}
}

func TestValuesAreSealedAndBoundToTheirKey(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	s := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	value := []byte(`{"access_token":"secret-access-token"}`)
	require.NoError(t, s.Set(ctx, "fliqa:abc", value, time.Minute))
	got, err := s.Get(ctx, "fliqa:abc")
	require.NoError(t, err)
	assert.Equal(t, value, got)

	raw, err := r.client(t).Get(ctx, "tokensource:{fliqa:abc}").Bytes()
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "secret-access-token", "sealed before it reaches Redis")

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (*redisstore.Store, string)
	}{
		{"tampered with", func(t *testing.T) (*redisstore.Store, string) {
			tampered := bytes.Clone(raw)
			tampered[len(tampered)-1] ^= 1
			require.NoError(t, r.client(t).Set(ctx, "tokensource:{fliqa:tampered}", tampered, time.Minute).Err())
			return s, "fliqa:tampered"
		}},
		{"copied to another key", func(t *testing.T) (*redisstore.Store, string) {
			require.NoError(t, r.client(t).Set(ctx, "tokensource:{fliqa:other}", raw, time.Minute).Err())
			return s, "fliqa:other"
		}},
		{"sealed with another key", func(t *testing.T) (*redisstore.Store, string) {
			return newStore(t, r, redisstore.Options{EncryptionKey: bytes.Repeat([]byte{8}, 32)}), "fliqa:abc"
		}},
		{"read by a plaintext store", func(t *testing.T) (*redisstore.Store, string) {
			return newStore(t, r, redisstore.Options{Plaintext: true}), "fliqa:abc"
		}},
		{"garbage", func(t *testing.T) (*redisstore.Store, string) {
			require.NoError(t, r.client(t).Set(ctx, "tokensource:{fliqa:garbage}", "\x01x", time.Minute).Err())
			return s, "fliqa:garbage"
		}},
	} {
		t.Run(tc.name+" is never served", func(t *testing.T) {
			store, key := tc.setup(t)
			got, err := store.Get(ctx, key)
			require.ErrorIs(t, err, redisstore.ErrUnreadable, "the mismatch shows")
			assert.Nil(t, got)
		})
	}

	t.Run("plaintext when asked for", func(t *testing.T) {
		p := newStore(t, r, redisstore.Options{Plaintext: true, Prefix: "plain:"})
		require.NoError(t, p.Set(ctx, "k", value, time.Minute))
		raw, err := r.client(t).Get(ctx, "plain:{k}").Bytes()
		require.NoError(t, err)
		assert.Contains(t, string(raw), "secret-access-token")
		got, err := p.Get(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, value, got)
	})
}

func TestLockIsExclusiveAndExpires(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	s := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	unlock, err := s.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, unlock)
	other, err := s.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, other, "held")
	unlock()
	again, err := s.Lock(ctx, "k", 100*time.Millisecond)
	require.NoError(t, err)
	require.NotNil(t, again, "released")

	time.Sleep(200 * time.Millisecond) // the holder died: the lock expires
	next, err := s.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, next)
	again() // a late release must not free the next holder's lock
	held, err := s.Lock(ctx, "k", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, held)
}

func TestRedisAwayIsAnErrorAtOnce(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	s := newStore(t, r, redisstore.Options{EncryptionKey: testKey, Timeout: 100 * time.Millisecond})
	r.stop()
	_, err := s.Get(ctx, "k")
	assert.ErrorContains(t, err, "redisstore: ")
	_, err = s.Lock(ctx, "k", time.Second)
	assert.Error(t, err)

	// A Redis that hangs (one that answers nothing) costs the timeout.
	hung := startHungServer(t)
	h, err := redisstore.New(redis.NewClient(&redis.Options{Addr: hung, ReadTimeout: time.Hour}),
		redisstore.Options{EncryptionKey: testKey, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	_, err = h.Get(ctx, "k")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "redisstore: no answer from Redis within 100ms")
}

// sharingConfig is an AbbeyCross config on fake, sharing through store.
func sharingConfig(fake *tokensourcetest.AbbeyCross, store tokensource.Store, notify func(error, time.Duration)) *tokensource.ClientCredentialsConfig {
	return &tokensource.ClientCredentialsConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
		TokenURL: fake.URL + "/v1/oauth/token", Store: store, ExpiryDelta: 500 * time.Millisecond,
		Retry: &tokensource.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond,
			MaxElapsedTime: 300 * time.Millisecond, MaxCoolDown: 400 * time.Millisecond, Notify: notify}}
}

func TestSharedFailuresCoolDownTogether(t *testing.T) {
	r := startRedis(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	probes := func(n int, store tokensource.Store) int {
		fake := tokensourcetest.NewAbbeyCross(t)
		fake.SetWorkingHours(false, "") // closed, no Retry-After
		var wg sync.WaitGroup
		for range n {
			src := sharingConfig(fake, store, nil).TokenSource(context.Background())
			wg.Go(func() {
				for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
					_, err := src.Token()
					assert.Error(t, err, "closed") // a 503, or the short budget spent on a loaded machine
				}
			})
		}
		wg.Wait()
		return fake.Requests()
	}
	one, twenty := probes(1, nil), probes(20, store)
	t.Logf("a closed provider for 3s: 1 source without a store %d requests, 20 sources sharing one store %d", one, twenty)
	assert.LessOrEqual(t, twenty, one+one/2+2, "twenty sharing probe about as often as one")
}

func TestRedisTroubleNeverFailsAToken(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	var reported atomic.Value
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey, Timeout: 100 * time.Millisecond})
	cfg := sharingConfig(fake, store, func(err error, _ time.Duration) { reported.Store(err) })
	a, b := cfg.TokenSource(context.Background()), cfg.TokenSource(context.Background())
	_, err := a.Token()
	require.NoError(t, err)
	storeKey(t, r) // a has shared its token

	r.stop()
	tok, err := b.Token()
	require.NoError(t, err, "fetched alone")
	assert.NotEmpty(t, tok.AccessToken)
	err, _ = reported.Load().(error)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tokensource: store unavailable, fetching without it: redisstore: ")
	assert.Equal(t, 2, fake.Requests())

	r.start() // back: the sources rejoin
	c, d := cfg.TokenSource(context.Background()), cfg.TokenSource(context.Background())
	_, err = c.Token()
	require.NoError(t, err)
	_, err = d.Token()
	require.NoError(t, err)
	assert.Equal(t, 3, fake.Requests(), "d took c's token from Redis")
}

func TestFlinksRefreshSourcesShareByRefreshToken(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewFlinks(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	var hooked atomic.Int32
	cfg := &tokensource.FlinksConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, BaseURL: fake.URL,
		RedirectURL: fake.RedirectURL, Store: store, OnNewToken: func(*oauth2.Token) { hooked.Add(1) }}
	first, err := cfg.Exchange(context.Background(), fake.Code())
	require.NoError(t, err)
	stale := &oauth2.Token{RefreshToken: first.RefreshToken} // as loaded by each process
	var tokens [3]*oauth2.Token
	for i := range tokens {
		tokens[i], err = cfg.TokenSource(context.Background(), stale).Token()
		require.NoError(t, err)
	}
	assert.Equal(t, 2, fake.Requests(), "the exchange, then one refresh for all")
	assert.Equal(t, int32(2), hooked.Load(), "OnNewToken once per token obtained, where it was obtained")
	for _, tok := range tokens {
		assert.Equal(t, tokens[0].AccessToken, tok.AccessToken)
		assert.Equal(t, first.RefreshToken, tok.RefreshToken, "the refresh token is never dropped")
	}

	keys, err := r.client(t).Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		assert.NotContains(t, k, first.RefreshToken, "keys hold no secret")
		assert.NotContains(t, k, fake.ClientSecret)
	}
	require.NotEmpty(t, keys)
	assert.True(t, strings.HasPrefix(keys[0], "tokensource:"))
}

// abandoning counts the goroutines that failed Claims and Locks started to
// delete the lock they may have taken: the only ones they start.
func abandoning() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	stacks := string(buf[:n])
	return strings.Count(stacks, "created by github.com/fintechauth/tokensource/redisstore.(*Store).Claim ") +
		strings.Count(stacks, "created by github.com/fintechauth/tokensource/redisstore.(*Store).Lock ")
}

func TestACallThatNeverReachedRedisLeavesNoLockToDelete(t *testing.T) {
	hung := startHungServer(t)
	client := redis.NewClient(&redis.Options{Addr: hung, ReadTimeout: time.Hour, PoolSize: 1})
	t.Cleanup(func() { client.Close() })
	s, err := redisstore.New(client, redisstore.Options{EncryptionKey: testKey, Timeout: 100 * time.Millisecond})
	require.NoError(t, err)
	_, err = s.Get(context.Background(), "k") // holds the one connection: Redis never answers it
	require.ErrorContains(t, err, "no answer from Redis within 100ms")
	before := abandoning()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, _, err = s.Claim(ctx, "k", time.Second, 0)
	require.ErrorContains(t, err, "no connection free before the call ended")
	_, err = s.Lock(ctx, "k", time.Second)
	require.ErrorContains(t, err, "no connection free before the call ended")
	assert.Equal(t, before, abandoning(), "neither call was sent: no lock of theirs can be in Redis")
}
