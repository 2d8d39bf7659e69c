package redisstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
)

// TestAFleetThroughASentinelFailover runs three replicas, each with its
// own failover client, for three identities; kills the primary once they
// share, and lets the sentinel promote the replica on its own.
func TestAFleetThroughASentinelFailover(t *testing.T) {
	s := startSentinel(t)
	var stores []tokensource.Store
	for range 3 {
		c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "tokens", SentinelAddrs: []string{s.sentinel.addr}})
		t.Cleanup(func() { c.Close() })
		st, err := redisstore.New(c, redisstore.Options{EncryptionKey: testKey})
		require.NoError(t, err)
		stores = append(stores, st)
	}
	fleet := startReplicas(t, stores, 3, 2*time.Second)
	fleet.waitRequests(t, 3)
	require.Empty(t, fleet.unshared(), "shared before the failover")
	before := fleet.requests()

	killed := time.Now()
	s.primary.kill()
	s.sentinel.await(t, "the replica promoted", func() bool { return s.primaryAddr() == s.replica.addr })
	promoted := time.Since(killed)
	var resumed time.Time
	s.sentinel.await(t, "sharing resumed", func() bool {
		resumed = fleet.firstShared(killed.Add(promoted))
		return !resumed.IsZero()
	})
	fleet.waitRequests(t, slices.Max(fleet.requests())+2) // two more rollovers at least
	fleet.halt()

	assert.Empty(t, fleet.failed(), "no call fails")
	unshared := fleet.unshared()
	var lastAlone time.Time
	for _, at := range unshared {
		if at.After(lastAlone) {
			lastAlone = at
		}
	}
	t.Logf("Sentinel failover, 3 replicas × 3 identities, 2s tokens: token requests %v before the kill, %v at the end; "+
		"primary promoted %v after the kill; first token shared again %v after it, last fetched alone %v after it; "+
		"extra fetches: %d", before, fleet.requests(), promoted.Round(time.Millisecond),
		resumed.Sub(killed).Round(time.Millisecond), lastAlone.Sub(killed).Round(time.Millisecond), len(unshared))
	assert.Less(t, resumed.Sub(killed), 15*time.Second, "sharing resumes within seconds")
	// A source fetches alone when it needs a token: at most once per half
	// a 2s lifetime, the window, while Redis is away.
	assert.LessOrEqual(t, len(unshared), 9*(int(resumed.Sub(killed)/time.Second)+2), "extra fetches")
	for k, at := range unshared {
		assert.Less(t, at.Sub(resumed), 5*time.Second, "fetched alone no later than a few seconds after sharing resumed: %v", k)
	}
}
