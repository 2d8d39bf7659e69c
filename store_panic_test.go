package tokensource_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

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
