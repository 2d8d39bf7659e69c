package tokensource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

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
