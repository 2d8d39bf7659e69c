package tokensource

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/fintechauth/tokensource/internal/cache"
)

func TestEveryCacheKindHasAnEventKind(t *testing.T) {
	seen := map[EventKind]bool{}
	for _, k := range cache.Kinds() {
		e := kindOf(k)
		assert.NotZero(t, e, "cache kind %d has no EventKind in kinds", k)
		assert.NotEqual(t, "unknown", e.String(), "EventKind %d has no name", e)
		assert.False(t, seen[e], "two cache kinds map to %v", e)
		seen[e] = true
	}
	assert.False(t, seen[SourceAdded] || seen[SourceDropped], "the pool's kinds are the root's own")
}
