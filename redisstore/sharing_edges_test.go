package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
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

// The edges of sharing: lock holders that go away, Redis that stalls,
// replicas that disagree, and values that lie.

// patientConfig is an AbbeyCross config on fake sharing through store,
// whose fetches may take 3s, so that a waiter may wait 4s for a lock.
func patientConfig(fake *tokensourcetest.AbbeyCross, store tokensource.Store) *tokensource.ClientCredentialsConfig {
	return &tokensource.ClientCredentialsConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
		TokenURL: fake.URL + "/v1/oauth/token", Store: store,
		Retry: &tokensource.RetryPolicy{MaxInterval: 10 * time.Millisecond, MaxElapsedTime: 3 * time.Second}}
}

// storeKey returns the key under which the one source of a test stores its
// outcome, without the prefix, once the source has stored it and let go of
// its lock: a caller gets its token before the store is written.
func storeKey(t *testing.T, r *redisServer) string {
	c := r.client(t)
	var keys []string
	require.Eventually(t, func() bool {
		var err error
		keys, err = c.Keys(context.Background(), "tokensource:{oauth:*}").Result()
		require.NoError(t, err)
		locks, err := c.Keys(context.Background(), "tokensource:*:lock").Result()
		require.NoError(t, err)
		return len(keys) == 1 && len(locks) == 0
	}, time.Minute, time.Millisecond, "the outcome stored and the lock let go of")
	return strings.TrimSuffix(strings.TrimPrefix(keys[0], "tokensource:{"), "}")
}

func TestAWaiterTakesTheLockItsHolderLetsGoOf(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	fake.SetLatency(300 * time.Millisecond)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	ctx, shutDown := context.WithCancel(context.Background())
	holder := patientConfig(fake, store).TokenSource(ctx)
	go func() { _, _ = holder.Token() }()
	time.Sleep(50 * time.Millisecond) // the holder has the lock and is fetching
	time.AfterFunc(50*time.Millisecond, shutDown)

	start := time.Now()
	tok, err := patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
	assert.Less(t, time.Since(start), 2*time.Second, "it fetched once the holder let go, not after the lock's 4s")
}

func TestADeadHoldersLockHoldsNoOnePastItsExpiry(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	_, err := patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	key := storeKey(t, r)
	require.NoError(t, r.client(t).Del(context.Background(), "tokensource:{"+key+"}").Err())

	taken := time.Now()
	unlock, err := store.Lock(context.Background(), key, time.Second) // a holder that dies holding it
	require.NoError(t, err)
	require.NotNil(t, unlock)
	time.Sleep(900 * time.Millisecond)
	_, err = patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	assert.Less(t, time.Since(taken), 2*time.Second, "the waiter fetched when the lock expired at 1s")
	assert.Equal(t, 2, fake.Requests())
}

func TestALockThatTimedOutIsLetGoOf(t *testing.T) {
	r := startRedis(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey, Timeout: 100 * time.Millisecond})
	r.pause()
	unlock, err := store.Lock(context.Background(), "k", time.Minute)
	require.Error(t, err)
	assert.Nil(t, unlock)
	r.resume() // the SET NX, sent before the timeout, now takes the lock
	assert.Eventually(t, func() bool {
		n, err := r.client(t).Exists(context.Background(), "tokensource:{k}:lock").Result()
		return err == nil && n == 0
	}, 5*time.Second, 20*time.Millisecond, "nobody holds the lock, so nobody may keep it")
	unlock, err = store.Lock(context.Background(), "k", time.Minute)
	require.NoError(t, err)
	assert.NotNil(t, unlock)
}

func TestReplicasWithAnotherSecretShareNothing(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	stale := patientConfig(fake, store)
	stale.ClientSecret = "the-secret-before-rotation"
	_, err := stale.TokenSource(context.Background()).Token()
	require.Error(t, err, "refused by the provider")

	tok, err := patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err, "the refusal of another secret is not this replica's failure")
	_, err = stale.TokenSource(context.Background()).Token()
	require.Error(t, err, "nor is this replica's token the stale replica's")
	assert.NotEmpty(t, tok.AccessToken)
}

func TestACoolDownReadFromTheStoreLastsMaxCoolDownAtMost(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	fake.SetWorkingHours(false, "")
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	cfg := patientConfig(fake, store)
	cfg.Retry.MaxElapsedTime = 100 * time.Millisecond
	_, err := cfg.TokenSource(context.Background()).Token()
	require.Error(t, err)
	key := storeKey(t, r)

	// A replica whose clock runs years ahead stores a failure until then.
	value, err := store.Get(context.Background(), key)
	require.NoError(t, err)
	var e map[string]any
	require.NoError(t, json.Unmarshal(value, &e))
	e["failure"].(map[string]any)["until"] = time.Now().Add(10 * 365 * 24 * time.Hour)
	value, err = json.Marshal(e)
	require.NoError(t, err)
	require.NoError(t, store.Set(context.Background(), key, value, time.Hour))

	src := cfg.TokenSource(context.Background())
	_, err = src.Token()
	require.Error(t, err)
	_, err = src.Token()
	require.Error(t, err)
	assert.Regexp(t, regexp.MustCompile(`next attempt in (4m59[0-9.]+s|5m0s)`), err.Error(),
		"MaxCoolDown, not what another replica's clock says")
}

func TestATokenOlderThanTheOneRejectedIsNotAdopted(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	a := patientConfig(fake, store).TokenSource(context.Background())
	first, err := a.Token()
	require.NoError(t, err)
	key := storeKey(t, r)
	old, err := store.Get(context.Background(), key)
	require.NoError(t, err)

	b := patientConfig(fake, store).TokenSource(context.Background())
	second, err := b.Token()
	require.NoError(t, err)
	require.Equal(t, first.AccessToken, second.AccessToken, "b took a's token")
	require.True(t, tokensource.Invalidate(b, second))
	third, err := b.Token()
	require.NoError(t, err)
	require.NotEqual(t, first.AccessToken, third.AccessToken, "b fetched another")

	require.NoError(t, store.Set(context.Background(), key, old, time.Hour)) // the store goes back to the first
	time.Sleep(20 * time.Millisecond)                                        // past the pause between two rejections
	require.True(t, tokensource.Invalidate(b, third))
	fourth, err := b.Token()
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessToken, fourth.AccessToken, "older than the one rejected: not adopted")
	assert.Equal(t, 3, fake.Requests())
}

// TestAFlinksSourceFollowsItsNewRefreshToken runs against a Flinks-like
// endpoint that, unlike Flinks, replaces the refresh token on each
// refresh and refuses the old one.
func TestAFlinksSourceFollowsItsNewRefreshToken(t *testing.T) {
	r := startRedis(t)
	var issued atomic.Int32
	var current atomic.Value
	current.Store("refresh-0")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(req.Body).Decode(&body)
		w.Header().Set("Content-Type", "application/json")
		if body["refresh_token"] != current.Load() {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		n := issued.Add(1)
		next := "refresh-" + string(rune('0'+n))
		current.Store(next)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "access-" + string(rune('0'+n)),
			"token_type": "Bearer", "expires_in": 299, "refresh_token": next})
	}))
	t.Cleanup(srv.Close)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	cfg := &tokensource.FlinksConfig{ClientID: "id", ClientSecret: "secret", BaseURL: srv.URL, Store: store,
		Retry: &tokensource.RetryPolicy{MaxInterval: 10 * time.Millisecond}}
	loaded := &oauth2.Token{RefreshToken: "refresh-0"} // as two processes load it
	moved, stayed := cfg.TokenSource(context.Background(), loaded), cfg.TokenSource(context.Background(), loaded)

	tok, err := moved.Token()
	require.NoError(t, err)
	assert.Equal(t, "refresh-1", tok.RefreshToken)
	kept, err := stayed.Token()
	require.NoError(t, err)
	assert.Equal(t, tok.AccessToken, kept.AccessToken, "shared under the refresh token both started with")

	require.True(t, tokensource.Invalidate(stayed, kept))
	_, err = stayed.Token()
	require.ErrorIs(t, err, tokensource.ErrReauthorizationRequired, "its refresh token was replaced")

	require.True(t, tokensource.Invalidate(moved, tok))
	tok, err = moved.Token()
	require.NoError(t, err, "the other's failure under the old refresh token is not this source's")
	assert.Equal(t, "access-2", tok.AccessToken)
	assert.Equal(t, "refresh-2", tok.RefreshToken)
}

// observed records the kinds of the events a source tells.
type observed struct {
	mu    sync.Mutex
	kinds []tokensource.EventKind
}

func (o *observed) Observe(e tokensource.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kinds = append(o.kinds, e.Kind)
}

func TestAReplicaWithAnotherKeyIsToldSo(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	_, err := patientConfig(fake, newStore(t, r, redisstore.Options{EncryptionKey: testKey})).
		TokenSource(context.Background()).Token()
	require.NoError(t, err)
	storeKey(t, r) // shared, sealed with testKey

	var notified []error
	odd := patientConfig(fake, newStore(t, r, redisstore.Options{EncryptionKey: bytes.Repeat([]byte{8}, 32)}))
	odd.Retry.Notify = func(err error, _ time.Duration) { notified = append(notified, err) }
	obs := &observed{}
	odd.Observer = obs
	_, err = odd.TokenSource(context.Background()).Token()
	require.NoError(t, err, "it fetches on its own")
	assert.Equal(t, 2, fake.Requests())
	require.Len(t, notified, 1)
	assert.ErrorIs(t, notified[0], redisstore.ErrUnreadable)
	assert.Contains(t, obs.kinds, tokensource.StoreUnavailable)
}

func TestASlowFetchKeepsItsLock(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewFlinks(t)
	inHook, hookDone := make(chan struct{}), make(chan struct{})
	var hooked atomic.Int32
	replica := func() *tokensource.FlinksConfig { // each its own client, as a process has
		return &tokensource.FlinksConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret, BaseURL: fake.URL,
			RedirectURL: fake.RedirectURL, Store: newStore(t, r, redisstore.Options{EncryptionKey: testKey}),
			Retry: &tokensource.RetryPolicy{MaxElapsedTime: 500 * time.Millisecond}, // a lock of 1.5s
			OnNewToken: func(*oauth2.Token) {
				if hooked.Add(1) == 2 { // the refresh's: as slow as a database write on a bad day
					close(inHook)
					time.Sleep(3 * time.Second)
					close(hookDone)
				}
			}}
	}
	first, err := replica().Exchange(context.Background(), fake.Code())
	require.NoError(t, err)
	loaded := &oauth2.Token{RefreshToken: first.RefreshToken}

	a, b := replica().TokenSource(context.Background(), loaded), replica().TokenSource(context.Background(), loaded)
	got := make(chan *oauth2.Token, 1)
	go func() {
		tok, err := a.Token()
		assert.NoError(t, err)
		got <- tok
	}()
	<-inHook
	tok, err := b.Token()
	require.NoError(t, err)
	select {
	case <-hookDone:
	default:
		t.Fatal("b was served before a's fetch ended")
	}
	assert.Equal(t, (<-got).AccessToken, tok.AccessToken, "b waited for a's token")
	assert.Equal(t, 2, fake.Requests(), "the exchange, and one refresh for both")
}

func TestADeadClaimersLockHoldsNoOnePastItsTTL(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	_, err := patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	key := storeKey(t, r)
	require.NoError(t, r.client(t).Del(context.Background(), "tokensource:{"+key+"}").Err())

	dying := redis.NewClient(&redis.Options{Addr: r.addr})
	holder, err := redisstore.New(dying, redisstore.Options{EncryptionKey: testKey})
	require.NoError(t, err)
	taken := time.Now()
	_, release, _, err := holder.Claim(context.Background(), key, time.Second, 0)
	require.NoError(t, err)
	require.NotNil(t, release)
	dying.Close() // the holder's process dies: nobody extends its lock
	_, err = patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	assert.Less(t, time.Since(taken), 2*time.Second, "the waiter fetched once the lock expired at 1s")
	assert.Equal(t, 2, fake.Requests())
}

func TestALockWithoutATTLIsRepaired(t *testing.T) {
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	store := newStore(t, r, redisstore.Options{EncryptionKey: testKey})
	_, err := patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	key := storeKey(t, r)
	c := r.client(t)
	require.NoError(t, c.Del(context.Background(), "tokensource:{"+key+"}").Err())
	require.NoError(t, c.Set(context.Background(), "tokensource:{"+key+"}:lock", "set by hand", 0).Err())

	start := time.Now()
	_, err = patientConfig(fake, store).TokenSource(context.Background()).Token()
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second, "taken over, not waited on for the lock's 4s")
	assert.Equal(t, 2, fake.Requests())
	assert.Equal(t, key, storeKey(t, r), "its token stored and the lock let go of")

	require.NoError(t, c.Set(context.Background(), "tokensource:{k}:lock", "set by hand", 0).Err())
	unlock, err := store.Lock(context.Background(), "k", time.Minute)
	require.NoError(t, err)
	assert.NotNil(t, unlock, "Lock takes it over too")
}
