package keyed_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource/internal/keyed"
)

// tick sleeps past the clock's next tick (1s for an idle timeout of 16s or
// more) in a bubble, and lets the map's goroutine take it.
func tick() {
	time.Sleep(time.Second + time.Millisecond)
	synctest.Wait()
}

func TestDropsLeastRecentlyUsed(t *testing.T) {
	// 300 keys, above the 16 that one scan keeps: the oldest are found over
	// several scans, each skipping those used since. A list of the keys,
	// least recently used first, says which one each new key drops.
	synctest.Test(t, func(t *testing.T) {
		const max = 300
		r := newRecorder()
		m := newMap(t, r, time.Hour, max)
		var lru []int
		value := map[int]int{} // of each key held
		use := func(key int) {
			v, err := m.Get(context.Background(), fmt.Sprint(key))
			require.NoError(t, err)
			if i := slices.Index(lru, key); i >= 0 {
				lru = slices.Delete(lru, i, i+1)
			}
			lru = append(lru, key)
			value[key] = v
			tick()
		}
		for k := range max {
			use(k)
		}
		rnd := rand.New(rand.NewPCG(1, 2))
		for _, k := range rnd.Perm(max) { // used again in an order of their own
			use(k)
		}
		r.told()
		for next := max; next < 2*max; {
			if rnd.IntN(3) == 0 { // one of the next to go, used again: it goes last
				use(lru[rnd.IntN(5)])
				continue
			}
			gone := lru[0]
			lru = lru[1:]
			use(next)
			assert.Equal(t, []string{fmt.Sprintf("dropped %d %d capacity", gone, value[gone]),
				fmt.Sprintf("added %d %d", next, value[next])}, r.told(), "new key %d", next)
			require.Equal(t, max, m.Len())
			next++
		}
		for _, k := range lru {
			assert.Equal(t, 1, r.callsOf(fmt.Sprint(k)), "key %d is held", k)
		}
	})
}

func TestDropsABusyValueLast(t *testing.T) {
	for _, tc := range []struct {
		name     string
		busy     []int // of the values 1 (a, the oldest) and 2 (b)
		wantGone string
	}{
		{"none busy: the oldest", nil, "dropped a 1 capacity"},
		{"the oldest busy: the next", []int{1}, "dropped b 2 capacity"},
		{"every one busy: the oldest", []int{1, 2}, "dropped a 1 capacity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				m := newMap(t, r, time.Hour, 2)
				for _, key := range []string{"a", "b"} {
					_, err := m.Get(context.Background(), key)
					require.NoError(t, err)
					tick()
				}
				for _, v := range tc.busy {
					r.setBusy(v, true)
				}
				r.told()
				_, err := m.Get(context.Background(), "c")
				require.NoError(t, err)
				assert.Equal(t, []string{tc.wantGone, "added c 3"}, r.told())
			})
		})
	}
}

func TestNeverHoldsMoreThanMax(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const max = 8
		r := newRecorder()
		r.make = func(key string) (int, error) {
			if key[0] == 'x' {
				return 0, fmt.Errorf("unknown key %s", key)
			}
			return int(r.last.Add(1)), nil
		}
		m := keyed.New[string, int](r, time.Hour, max)
		var wg sync.WaitGroup
		for g := range 50 {
			wg.Go(func() {
				for i := range 200 {
					key := fmt.Sprintf("%c%d", "kx"[(g+i)%2], (g*7+i)%30)
					if i%5 == 0 {
						m.Remove(key)
						continue
					}
					_, err := m.Get(context.Background(), key)
					assert.Equal(t, key[0] == 'x', err != nil, "key %s: %v", key, err)
					assert.LessOrEqual(t, m.Len(), max)
				}
			})
		}
		wg.Wait()
		for i := range max { // every slot came back, or this waits forever: a deadlock in the bubble
			_, err := m.Get(context.Background(), fmt.Sprint("fresh-", i))
			require.NoError(t, err)
		}
		assert.Equal(t, max, m.Len())
		m.Close()

		// Every value made is told of once as added, then once as dropped.
		state := map[string]string{}
		for _, e := range r.told() {
			var what, key string
			var v int
			_, err := fmt.Sscan(e, &what, &key, &v)
			require.NoError(t, err)
			id := fmt.Sprint(key, " ", v)
			if what == "added" {
				assert.Equal(t, "", state[id], "%s: added once", id)
			} else {
				assert.Equal(t, "added", state[id], "%s: dropped once, after it was added", id)
			}
			state[id] = what
		}
		for id, last := range state {
			assert.Equal(t, "dropped", last, id)
		}
	})
}
