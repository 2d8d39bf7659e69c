package tokensource_test

import (
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource/tokensourcetest"
)

func TestABurstOnAStuckStoreWaitsOneBound(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := newStuckStore(t)
		store.stuckGet = true
		cfg := tokens.config("")
		cfg.HTTPClient, cfg.Store = client, store
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		longest := time.Duration(0)
		for range 40 { // more sources than a Store has turns, starting together
			wg.Go(func() {
				_, err := cfg.TokenSource(t.Context()).Token()
				assert.NoError(t, err)
				mu.Lock()
				longest = max(longest, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		assert.Equal(t, storeBound, longest, "every source went on without the store once its calls were abandoned")
	})
}

func TestAStoreOutlivesTheSynctestBubblesThatUseIt(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(360, nil))
	store := tokensourcetest.NewStore() // as a test suite may share one
	token := func(t *testing.T) {
		cfg := tokens.config("")
		cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		cfg.Store = store
		_, err := cfg.TokenSource(t.Context()).Token()
		require.NoError(t, err)
	}
	synctest.Test(t, token)
	synctest.Test(t, token)
	token(t)
}
