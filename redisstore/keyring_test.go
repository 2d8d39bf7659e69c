package redisstore_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

var (
	oldKey = bytes.Repeat([]byte{1}, 32)
	newKey = bytes.Repeat([]byte{2}, 32)
)

func TestNewRefusesABadKeyring(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer client.Close()
	for _, tc := range []struct {
		name string
		opts redisstore.Options
		want string
	}{
		{"a short previous key", redisstore.Options{EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey, make([]byte, 31)}},
			"redisstore: Options.PreviousKeys[1] must be 32 bytes for AES-256, not 31"},
		{"the current key among the previous", redisstore.Options{EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey, newKey}},
			"redisstore: Options.PreviousKeys[1] repeats Options.EncryptionKey"},
		{"a previous key twice", redisstore.Options{EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey, testKey, oldKey}},
			"redisstore: Options.PreviousKeys[2] repeats Options.PreviousKeys[0]"},
		{"previous keys without a current one", redisstore.Options{PreviousKeys: [][]byte{oldKey}},
			"redisstore: Options.EncryptionKey is required; set Options.Plaintext to store tokens unencrypted"},
		{"previous keys in plaintext", redisstore.Options{Plaintext: true, PreviousKeys: [][]byte{oldKey}},
			"redisstore: Options.PreviousKeys and Options.Plaintext exclude each other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redisstore.New(client, tc.opts)
			require.EqualError(t, err, tc.want)
			assert.NotContains(t, err.Error(), string(oldKey), "no key in an error")
		})
	}
}

func TestAKeyringOpensWhatAnyOfItsKeysSealed(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	before := newStore(t, r, redisstore.Options{EncryptionKey: oldKey})
	adding := newStore(t, r, redisstore.Options{EncryptionKey: oldKey, PreviousKeys: [][]byte{newKey}})
	rotated := newStore(t, r, redisstore.Options{EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey}})
	after := newStore(t, r, redisstore.Options{EncryptionKey: newKey})
	value := []byte(`{"access_token":"secret-access-token"}`)

	require.NoError(t, before.Set(ctx, "k", value, time.Minute))
	for name, s := range map[string]*redisstore.Store{"adding": adding, "rotated": rotated} {
		got, err := s.Get(ctx, "k")
		require.NoError(t, err, name)
		assert.Equal(t, value, got, name)
	}
	require.NoError(t, rotated.Set(ctx, "k", value, time.Minute))
	got, err := adding.Get(ctx, "k")
	require.NoError(t, err, "the old key seals, the new one opens")
	assert.Equal(t, value, got)
	got, err = after.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, value, got)

	raw, err := r.client(t).Get(ctx, "tokensource:{k}").Bytes()
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "secret-access-token")
	for _, key := range [][]byte{oldKey, newKey} {
		assert.False(t, bytes.Contains(raw, key[:8]), "the value names its key by an id, not by the key")
	}

	// A header that names the other key of the ring opens nothing.
	other := bytes.Clone(raw)
	require.NoError(t, before.Set(ctx, "o", value, time.Minute))
	oldRaw, err := r.client(t).Get(ctx, "tokensource:{o}").Bytes()
	require.NoError(t, err)
	copy(other[1:9], oldRaw[1:9])
	require.NoError(t, r.client(t).Set(ctx, "tokensource:{k}", other, time.Minute).Err())
	for range 2 {
		_, err = rotated.Get(ctx, "k")
		require.ErrorIs(t, err, redisstore.ErrUnreadable, "tampered with: every time")
	}
}

func TestAValueSealedWithAnUnknownKeyIsReportedOncePerKey(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	value := []byte(`{"v":1}`)
	require.NoError(t, newStore(t, r, redisstore.Options{EncryptionKey: oldKey}).Set(ctx, "a", value, time.Minute))
	require.NoError(t, newStore(t, r, redisstore.Options{EncryptionKey: oldKey}).Set(ctx, "b", value, time.Minute))
	require.NoError(t, newStore(t, r, redisstore.Options{EncryptionKey: newKey}).Set(ctx, "c", value, time.Minute))
	s := newStore(t, r, redisstore.Options{EncryptionKey: testKey})

	var reported []error
	for _, key := range []string{"a", "a", "b", "c", "c", "b"} {
		got, err := s.Get(ctx, key)
		assert.Nil(t, got, key)
		if err != nil {
			reported = append(reported, err)
		}
	}
	require.Len(t, reported, 2, "once for the old key, once for the new")
	for _, err := range reported {
		assert.ErrorIs(t, err, redisstore.ErrUnreadable)
		assert.Regexp(t, `^redisstore: a stored value is sealed with key [0-9a-f]{16}, which is neither Options.EncryptionKey nor one of Options.PreviousKeys`, err.Error())
	}
	assert.NotEqual(t, reported[0].Error(), reported[1].Error(), "each names its key")

	// Through the sources of a replica: told once, not at every call.
	fake := tokensourcetest.NewAbbeyCross(t)
	_, err := patientConfig(fake, newStore(t, r, redisstore.Options{EncryptionKey: oldKey})).
		TokenSource(context.Background()).Token()
	require.NoError(t, err)
	storeKey(t, r)
	var (
		mu       sync.Mutex
		notified []error
	)
	odd := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	for range 5 {
		cfg := patientConfig(fake, odd)
		cfg.Retry.Notify = func(err error, _ time.Duration) { mu.Lock(); notified = append(notified, err); mu.Unlock() }
		_, err := cfg.TokenSource(context.Background()).Token()
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, notified, 1)
	assert.ErrorIs(t, notified[0], redisstore.ErrUnreadable)
}

// TestRotatingTheKeyNeverSplitsTheFleet runs the middle of a rotation:
// half the replicas seal with the old key and open with the new, half the
// other way round, for a cold start and three rollovers.
func TestRotatingTheKeyNeverSplitsTheFleet(t *testing.T) {
	r := startRedis(t)
	var stores []tokensource.Store
	for _, opts := range []redisstore.Options{
		{EncryptionKey: oldKey, PreviousKeys: [][]byte{newKey}}, {EncryptionKey: oldKey, PreviousKeys: [][]byte{newKey}},
		{EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey}}, {EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey}},
	} {
		stores = append(stores, newStore(t, r, opts))
	}
	fleet := startReplicas(t, stores, 2, 2*time.Second)
	fleet.waitRequests(t, 4)
	fleet.halt()
	assert.Empty(t, fleet.failed())
	assert.LessOrEqual(t, slices.Max(fleet.requests()), 5, "four requests, five if a rollover came before the halt")
	assert.Empty(t, fleet.unshared(), "every token but the last served by all four replicas")
	t.Logf("2 identities, 4 replicas on two keys: token requests %v for a cold start and 3 rollovers", fleet.requests())
}
