package tokensource_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

func TestPoolOfTheShortestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: 100 * time.Millisecond})
		defer p.Close()
		_, err := p.Token(context.Background(), "u")
		require.NoError(t, err)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Equal(t, 0, p.Len(), "dropped after 100ms")
	})
}

func TestPoolDropsIdleSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		obs := &told{}
		// Ticks of 1s, sweeps every 3.75s: an idle source goes between
		// 60s and 64.75s after its last use.
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: time.Minute, Observer: obs})
		defer p.Close()
		ctx := context.Background()
		for _, key := range []string{"a", "b"} {
			_, err := p.Token(ctx, key)
			require.NoError(t, err)
		}
		time.Sleep(40 * time.Second)
		synctest.Wait()
		_, err := p.Token(ctx, "a") // a's last use: 40s
		require.NoError(t, err)

		time.Sleep(59 * time.Second) // 99s: b is gone, a is not
		synctest.Wait()
		assert.Equal(t, 1, p.Len())
		tok, err := p.Token(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, "tok-a-1", tok.AccessToken, "a's source is the first")
		assert.Equal(t, 1, m.callsOf("a"))

		time.Sleep(65 * time.Second) // 164s: a is gone too
		synctest.Wait()
		assert.Equal(t, 0, p.Len())
		assert.Equal(t, map[string]int{"source_added": 2, "source_dropped/idle": 2}, obs.counts())

		tok, err = p.Token(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, "tok-b-1", tok.AccessToken, "a new source for b")
		assert.Equal(t, 2, m.callsOf("b"))
	})
}

// janitors counts the goroutines that pools run, in the whole process, by
// where they were created: one not yet running shows no other frame of its.
func janitors() int {
	return stacksWith("created by github.com/fintechauth/tokensource/internal/keyed.(*Map[...]).startJanitor")
}

func TestPoolRunsOneGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := janitors()
		m := newMaker()
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: time.Minute})
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none before the first source")
		for i := range 1000 {
			_, err := p.Token(context.Background(), fmt.Sprint(i))
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.Equal(t, before+1, janitors(), "one for 1,000 sources")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 0, p.Len())

		p.Close()
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none after Close")
	})
}

func TestPoolThatBecomesUnreachableStopsItsGoroutine(t *testing.T) {
	before := janitors()
	func() {
		p := tokensource.NewPool(newMaker().newSource, nil)
		_, err := p.Token(context.Background(), "a")
		require.NoError(t, err)
		require.Equal(t, before+1, janitors())
		runtime.KeepAlive(p) // else a collection during janitors may find the pool unreachable already
	}()
	for i := 0; i < 1000 && janitors() > before; i++ { // a cleanup runs on a goroutine of its own after a GC
		runtime.GC()
		runtime.Gosched()
	}
	assert.LessOrEqual(t, janitors(), before, "stopped without Close") // another test's unclosed pool may stop too
}
