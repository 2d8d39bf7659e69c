package tokensource_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

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
