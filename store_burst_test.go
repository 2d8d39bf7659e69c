package tokensource_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
