package redisstore_test

import (
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
)

// TestAFleetOnARedisClusterFetchesOncePerRollover runs three replicas,
// each with its own cluster client, for eight identities whose keys
// spread over the slots of three primaries, through a cold start and
// three rollovers.
func TestAFleetOnARedisClusterFetchesOncePerRollover(t *testing.T) {
	addrs := startCluster(t)
	var stores []tokensource.Store
	for range 3 {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
		t.Cleanup(func() { c.Close() })
		s, err := redisstore.New(c, redisstore.Options{EncryptionKey: testKey})
		require.NoError(t, err)
		stores = append(stores, s)
	}
	fleet := startReplicas(t, stores, 8, 2*time.Second)
	fleet.waitRequests(t, 4)
	fleet.halt()
	assert.Empty(t, fleet.failed())
	assert.LessOrEqual(t, slices.Max(fleet.requests()), 5, "four requests, five if a rollover came before the halt")
	assert.Empty(t, fleet.unshared(), "every token but the last served by all three replicas")

	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	var mu sync.Mutex // ForEachMaster calls on every primary at once
	slots, perNode := map[int64]bool{}, map[string]int{}
	require.NoError(t, c.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		keys, err := node.Keys(ctx, "tokensource:{oauth:*").Result()
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			slots[node.ClusterKeySlot(ctx, k).Val()] = true
		}
		perNode[node.Options().Addr] = len(keys)
		return err
	}))
	assert.Greater(t, len(slots), 1, "the identities' keys lie in several slots")
	t.Logf("Redis Cluster, 3 replicas × 8 identities: token requests %v for a cold start and 3 rollovers; keys per primary %v",
		fleet.requests(), perNode)
}
