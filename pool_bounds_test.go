package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func TestPoolDropsLeastRecentlyUsed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 100
		m := newMaker()
		obs := &told{}
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: max, Observer: obs})
		defer p.Close()
		ctx := context.Background()
		use := func(key int) {
			_, err := p.Token(ctx, fmt.Sprint(key))
			require.NoError(t, err)
		}
		// Keys 0..99, one a tick, then used again in an order of their own:
		// the odd ones first, from the highest; then the even ones.
		for k := range max {
			use(k)
			tick()
		}
		var order []int
		for k := max - 1; k >= 0; k -= 2 {
			order = append(order, k)
		}
		for k := 0; k < max; k += 2 {
			order = append(order, k)
		}
		for _, k := range order {
			use(k)
			tick()
		}
		// 60 new keys drop the 60 least recently used: the first 60 of
		// order, one by one.
		for k := max; k < max+60; k++ {
			use(k)
			tick()
			assert.Equal(t, max, p.Len())
		}
		for _, k := range order[60:] {
			use(k)
			assert.Equal(t, 1, m.callsOf(fmt.Sprint(k)), "key %d is held", k)
		}
		for k := max; k < max+60; k++ {
			use(k)
			assert.Equal(t, 1, m.callsOf(fmt.Sprint(k)), "key %d is held", k)
		}
		assert.Equal(t, max, p.Len())
		assert.Equal(t, map[string]int{"source_added": 160, "source_dropped/capacity": 60}, obs.counts())
	})
}

func TestPoolEvictsSourceBeingMadeLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 1})
		defer p.Close()
		ctx := context.Background()
		_, err := p.Token(ctx, "a")
		require.NoError(t, err)
		tok, err := p.Token(ctx, "b") // in the same tick: a tie
		require.NoError(t, err)
		assert.Equal(t, "tok-b-1", tok.AccessToken)
		assert.Equal(t, 1, p.Len())
		_, err = p.Token(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, 1, m.callsOf("b"), "b, the new key, is kept")
	})
}

func TestPoolNewSourceThatNeverReturnsHoldsItsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		m.block = make(chan struct{})
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 10})
		defer p.Close()
		var wg sync.WaitGroup
		for i := range 500 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				_, err := p.Token(ctx, fmt.Sprint(i))
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, 10, stacksWith("(*maker).newSource("), "a goroutine per slot, not per key")
		assert.Equal(t, 10, p.Len())

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := p.Token(ctx, "new")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.EqualError(t, err, "tokensource: call ended while waiting for a slot in the pool, every other source "+
			"being made: context deadline exceeded")

		late := make(chan error, 1)
		go func() {
			_, err := p.Token(context.Background(), "late")
			late <- err
		}()
		synctest.Wait() // waiting for a slot
		close(m.block)
		require.NoError(t, <-late, "a source made frees a slot: the least recently used")
		assert.Equal(t, 10, p.Len())
		assert.Equal(t, 1, m.callsOf("late"))
	})
}

func TestPoolNeverHoldsMoreThanMaxSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 8
		m := newMaker()
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			if key[0] == 'x' {
				return nil, errors.New("unknown user")
			}
			return m.newSource(key)
		}, &tokensource.PoolOptions{MaxSources: max})
		defer p.Close()
		var wg sync.WaitGroup
		for g := range 50 {
			wg.Go(func() {
				for i := range 200 {
					key := fmt.Sprintf("%c%d", "kx"[(g+i)%2], (g*7+i)%30)
					if i%5 == 0 {
						p.Remove(key)
						continue
					}
					_, err := p.Token(context.Background(), key)
					assert.Equal(t, key[0] == 'x', err != nil, "key %s: %v", key, err)
					assert.LessOrEqual(t, p.Len(), max)
				}
			})
		}
		wg.Wait()
		for i := range max { // every slot came back
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := p.Token(ctx, fmt.Sprint("fresh-", i))
			cancel()
			require.NoError(t, err)
		}
		assert.Equal(t, max, p.Len())
	})
}
