package keyed_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource/internal/keyed"
)

func TestIdleValuesGo(t *testing.T) {
	// A value goes between idle and idle·17/16 plus a tick after its last
	// use; the clock ticks every second, or idle/16 if shorter.
	for _, idle := range []time.Duration{100 * time.Millisecond, time.Minute, 30 * time.Minute} {
		t.Run(fmt.Sprint(idle), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tickEvery := min(time.Second, idle/16)
				r := newRecorder()
				m := newMap(t, r, idle, 10)
				_, err := m.Get(context.Background(), "a")
				require.NoError(t, err)
				time.Sleep(idle - time.Millisecond)
				synctest.Wait()
				assert.Equal(t, 1, m.Len(), "held until idle")
				time.Sleep(idle/16 + tickEvery + time.Millisecond)
				synctest.Wait()
				assert.Equal(t, 0, m.Len(), "gone by idle·17/16 plus a tick")
				assert.Equal(t, []string{"added a 1", "dropped a 1 idle"}, r.told())
			})
		})
	}
}

func TestValuesInUseAreNotIdle(t *testing.T) {
	const idle = time.Minute
	for _, tc := range []struct {
		name string
		keep func(r *recorder, m *keyed.Map[string, int]) (release func())
	}{
		{"used every half second", func(r *recorder, m *keyed.Map[string, int]) func() {
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(500 * time.Millisecond):
						_, _ = m.Get(context.Background(), "a")
					}
				}
			}()
			return func() { close(stop) }
		}},
		{"busy", func(r *recorder, m *keyed.Map[string, int]) func() {
			r.setBusy(1, true)
			return func() { r.setBusy(1, false) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				m := newMap(t, r, idle, 10)
				_, err := m.Get(context.Background(), "a")
				require.NoError(t, err)
				release := tc.keep(r, m)
				time.Sleep(3 * idle)
				synctest.Wait()
				assert.Equal(t, 1, m.Len())
				assert.Equal(t, 1, r.callsOf("a"))
				release()
				time.Sleep(idle*17/16 + time.Second + time.Millisecond)
				synctest.Wait()
				assert.Equal(t, 0, m.Len(), "idle once let go")
				assert.Equal(t, []string{"added a 1", "dropped a 1 idle"}, r.told())
			})
		})
	}
}

func TestAValueBeingMadeIsNotIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		release := make(chan struct{})
		r.make = func(string) (int, error) { <-release; return int(r.last.Add(1)), nil }
		m := newMap(t, r, time.Minute, 10)
		got := make(chan error, 1)
		go func() {
			_, err := m.Get(context.Background(), "a")
			got <- err
		}()
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, m.Len())
		assert.Empty(t, r.told())
		close(release)
		require.NoError(t, <-got)
		assert.Equal(t, []string{"added a 1"}, r.told())
	})
}

func TestRunsOneGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		before := janitors()
		r := newRecorder()
		m := keyed.New[string, int](r, time.Minute, 10_000)
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none before the first value")
		for i := range 1000 {
			_, err := m.Get(context.Background(), fmt.Sprint(i))
			require.NoError(t, err)
		}
		synctest.Wait()
		assert.Equal(t, before+1, janitors(), "one for 1,000 values")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 0, m.Len())
		assert.Equal(t, before+1, janitors(), "still one, with no value left")
		m.Close()
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none after Close")

		closed := keyed.New[string, int](r, time.Minute, 10)
		closed.Close()
		_, err := closed.Get(context.Background(), "a")
		assert.Equal(t, keyed.ErrClosed, err)
		synctest.Wait()
		assert.Equal(t, before, janitors(), "none for a map closed before its first value")
	})
}

// closer is a Maker whose report of an idle drop closes its map.
type closer struct{ m *keyed.Map[string, int] }

func (c *closer) Make(string) (int, error) { return 1, nil }
func (c *closer) Busy(int) bool            { return false }
func (c *closer) Added(string, int)        {}
func (c *closer) Dropped(_ string, _ int, r keyed.Reason) {
	if r == keyed.Idle {
		c.m.Close()
	}
}

func TestCloseFromTheReportOfAnIdleDropReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &closer{}
		c.m = keyed.New[string, int](c, time.Minute, 10)
		_, err := c.m.Get(context.Background(), "a")
		require.NoError(t, err)
		time.Sleep(2 * time.Minute) // the sweep drops "a", and its report closes the map
		synctest.Wait()             // no goroutine is left waiting for itself
		_, err = c.m.Get(context.Background(), "b")
		assert.ErrorIs(t, err, keyed.ErrClosed)
	})
}
