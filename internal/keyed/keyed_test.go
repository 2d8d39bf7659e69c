package keyed_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource/internal/keyed"
)

func TestGetMakesOneValuePerKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"a context that cannot end: Make runs on the caller's goroutine", func() (context.Context, context.CancelFunc) {
			return context.Background(), func() {}
		}},
		{"a context that can end: Make runs on a goroutine of its own", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				release := make(chan struct{})
				r.make = func(string) (int, error) { <-release; return int(r.last.Add(1)), nil }
				m := newMap(t, r, time.Hour, 100)
				var mu sync.Mutex
				got := map[string]map[int]int{} // key: value: calls that got it
				var wg sync.WaitGroup
				for k := range 4 {
					key := fmt.Sprint("k", k)
					got[key] = map[int]int{}
					for range 25 {
						wg.Go(func() {
							ctx, cancel := tc.ctx()
							defer cancel()
							v, err := m.Get(ctx, key)
							assert.NoError(t, err)
							mu.Lock()
							got[key][v]++
							mu.Unlock()
						})
					}
				}
				synctest.Wait()
				assert.Equal(t, 4, m.Len(), "values being made count")
				assert.Empty(t, r.told())
				close(release)
				wg.Wait()
				seen := map[int]bool{}
				for key, values := range got {
					assert.Equal(t, 1, r.callsOf(key), "key %s", key)
					require.Len(t, values, 1, "every call for %s gets the one value", key)
					for v, n := range values {
						assert.Equal(t, 25, n)
						assert.False(t, seen[v], "a value of its own")
						seen[v] = true
					}
				}
				assert.Len(t, r.told(), 4, "one Added per key")
			})
		})
	}
}

func TestGetUnderContention(t *testing.T) {
	r := newRecorder()
	m := newMap(t, r, time.Hour, 1000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprint((g + i) % 32)
				_, err := m.Get(context.Background(), key)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 32, m.Len())
	for k := range 32 {
		assert.Equal(t, 1, r.callsOf(fmt.Sprint(k)))
	}
}

func TestFailedMakeIsNotKept(t *testing.T) {
	down := errors.New("down")
	for _, tc := range []struct {
		name       string
		fail       func() (int, error)
		wantMaker  string // what the call that ran Make gets
		wantWaiter func(t *testing.T, err error)
	}{
		{"an error", func() (int, error) { return 0, down }, "error: down", func(t *testing.T, err error) {
			assert.Equal(t, down, err)
		}},
		{"a panic", func() (int, error) { panic("boom") }, "panic: boom", func(t *testing.T, err error) {
			var pe *keyed.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "boom", pe.Value)
			assert.EqualError(t, err, "keyed: Make panicked with a string")
		}},
		{"runtime.Goexit", func() (int, error) { runtime.Goexit(); return 0, nil }, "goexit", func(t *testing.T, err error) {
			assert.Equal(t, keyed.ErrGoexit, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				release := make(chan struct{})
				r.make = func(string) (int, error) { <-release; return tc.fail() }
				m := newMap(t, r, time.Hour, 10)
				maker := make(chan string, 1)
				go func() {
					returned := false
					defer func() {
						if !returned {
							if p := recover(); p != nil {
								maker <- fmt.Sprint("panic: ", p)
							} else {
								maker <- "goexit"
							}
						}
					}()
					_, err := m.Get(context.Background(), "k") // runs Make here
					returned = true
					maker <- fmt.Sprint("error: ", err)
				}()
				synctest.Wait()
				waiters := make(chan error, 3)
				for range 3 {
					go func() {
						_, err := m.Get(context.Background(), "k")
						waiters <- err
					}()
				}
				synctest.Wait()
				close(release)
				assert.Equal(t, tc.wantMaker, <-maker)
				for range 3 {
					tc.wantWaiter(t, <-waiters)
				}
				assert.Equal(t, 0, m.Len(), "the failure is not kept")
				assert.Empty(t, r.told())

				r.make = nil
				v, err := m.Get(context.Background(), "k")
				require.NoError(t, err)
				assert.Equal(t, 2, r.callsOf("k"), "the next call makes the value anew")
				assert.Equal(t, []string{fmt.Sprint("added k ", v)}, r.told())
			})
		})
	}
}

func TestGetWaitEndsWithItsContext(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		key      string // of the call whose context ends, while "a" is being made
		wantSlot bool
		wantTold []string // once "a" is made, and key got without a deadline
	}{
		{"for the value being made", 10, "a", false, []string{"added a 1"}},
		{"for a slot, every slot taken by a value being made", 1, "b", true,
			[]string{"added a 1", "dropped a 1 capacity", "added b 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				release := make(chan struct{})
				r.make = func(string) (int, error) { <-release; return int(r.last.Add(1)), nil }
				m := newMap(t, r, time.Hour, tc.max)
				made := make(chan int, 1)
				go func() {
					v, err := m.Get(context.Background(), "a")
					assert.NoError(t, err)
					made <- v
				}()
				synctest.Wait()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				start := time.Now()
				_, err := m.Get(ctx, tc.key)
				assert.Equal(t, time.Minute, time.Since(start), "waited as long as its context allowed")
				var we *keyed.WaitError
				require.ErrorAs(t, err, &we)
				assert.Equal(t, tc.wantSlot, we.Slot)
				require.ErrorIs(t, err, context.DeadlineExceeded)

				close(release)
				assert.Equal(t, 1, <-made, "made for the call that stayed")
				r.make = nil
				_, err = m.Get(context.Background(), tc.key)
				require.NoError(t, err)
				assert.Equal(t, tc.wantTold, r.told())
			})
		})
	}
}

func TestRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		release := make(chan struct{})
		m := newMap(t, r, time.Hour, 1)
		_, err := m.Get(context.Background(), "a")
		require.NoError(t, err)
		assert.True(t, m.Remove("a"))
		assert.False(t, m.Remove("a"), "no longer held")
		assert.False(t, m.Remove("z"), "never held")
		assert.Equal(t, 0, m.Len())
		assert.Equal(t, []string{"added a 1", "dropped a 1 removed"}, r.told())

		// A value being made is told of once made; its waiters get it, and
		// its slot comes back.
		r.make = func(string) (int, error) { <-release; return int(r.last.Add(1)), nil }
		got := make(chan int, 1)
		go func() {
			v, err := m.Get(context.Background(), "b")
			assert.NoError(t, err)
			got <- v
		}()
		synctest.Wait()
		assert.True(t, m.Remove("b"))
		assert.Equal(t, 0, m.Len())
		assert.Empty(t, r.told())
		close(release)
		assert.Equal(t, 2, <-got)
		assert.Equal(t, []string{"added b 2", "dropped b 2 removed"}, r.told())
		_, err = m.Get(context.Background(), "c")
		require.NoError(t, err)
		assert.Equal(t, []string{"added c 3"}, r.told(), "b's slot came back: nothing dropped for c")
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		release := map[string]chan struct{}{"b": make(chan struct{}), "c": make(chan struct{})}
		m := keyed.New[string, int](r, time.Hour, 2)
		_, err := m.Get(context.Background(), "a")
		require.NoError(t, err)
		r.make = func(key string) (int, error) { <-release[key]; return int(r.last.Add(1)), nil }
		gotB := make(chan int, 1)
		go func() {
			v, err := m.Get(context.Background(), "b")
			assert.NoError(t, err)
			gotB <- v
		}()
		synctest.Wait()
		gotC := make(chan int, 1)
		go func() { // no slot free: a, made, is dropped for c
			v, err := m.Get(context.Background(), "c")
			assert.NoError(t, err)
			gotC <- v
		}()
		synctest.Wait()
		assert.Equal(t, []string{"added a 1", "dropped a 1 capacity"}, r.told())
		waitD := make(chan error, 1)
		go func() { // every slot is taken by a value being made
			_, err := m.Get(context.Background(), "d")
			waitD <- err
		}()
		synctest.Wait()

		m.Close()
		assert.Equal(t, keyed.ErrClosed, <-waitD, "a call waiting for a slot")
		assert.Equal(t, 0, m.Len())
		assert.Empty(t, r.told())
		close(release["b"])
		assert.Equal(t, 2, <-gotB, "a call waiting for a value gets it")
		assert.Equal(t, []string{"added b 2", "dropped b 2 closed"}, r.told())
		close(release["c"])
		assert.Equal(t, 3, <-gotC)
		assert.Equal(t, []string{"added c 3", "dropped c 3 closed"}, r.told())
		_, err = m.Get(context.Background(), "a")
		assert.Equal(t, keyed.ErrClosed, err)
		m.Close()
		assert.Empty(t, r.told(), "once")
		assert.Equal(t, 0, janitors())
	})
}

// reentrant is a recorder whose Added and Dropped call the map.
type reentrant struct {
	*recorder
	m *keyed.Map[string, int]
}

func (r *reentrant) Added(key string, v int) {
	r.recorder.Added(key, v)
	r.m.Len()
}

func (r *reentrant) Dropped(key string, v int, why keyed.Reason) {
	r.recorder.Dropped(key, v, why)
	if key != "again" {
		_, _ = r.m.Get(context.Background(), "again")
	}
}

func TestMakerMayCallTheMap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &reentrant{recorder: newRecorder()}
		r.m = keyed.New[string, int](r, time.Hour, 1)
		defer r.m.Close()
		_, err := r.m.Get(context.Background(), "a")
		require.NoError(t, err)
		assert.True(t, r.m.Remove("a"))
		assert.Equal(t, []string{"added a 1", "dropped a 1 removed", "added again 2"}, r.told())
	})
}
