package cache

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
)

const (
	// storeTimeout bounds each call of a Store once it is made: one that
	// has not returned by then is abandoned, and the source goes on without
	// the store.
	storeTimeout = time.Second

	// inFlight is how many calls a process makes of one Store at a time.
	// A call beyond it waits its turn, which is not trouble with the
	// store: a burst (every source of a process starting together) is
	// served in turn rather than failed.
	inFlight = 16
)

// guard is what the sources of a process that use one Store share about
// it: the calls in flight, and those abandoned that have not returned. It
// holds no channel nor timer: a Store may outlive a testing/synctest
// bubble, whose channels no other goroutine may use.
type guard struct {
	mu    sync.Mutex
	freed sync.Cond // signalled when a slot frees; broadcast when a call is abandoned or a wait ends
	busy  int       // slots taken: a call holds one until it returns, abandoned or not
	stuck int       // calls abandoned that have not returned yet
}

// guards holds the guard of each Store a process uses, for the life of the
// process: a Store is made once and shared, so they are few.
var guards sync.Map // Store → *guard

// guardOf returns the guard of store: the one every source using store
// shares, or one of its own for a Store that cannot be a map key.
func guardOf(store store) *guard {
	g := &guard{}
	g.freed.L = &g.mu
	if v := reflect.ValueOf(store); !v.IsValid() || !v.Comparable() {
		return g
	}
	got, _ := guards.LoadOrStore(store, g)
	return got.(*guard)
}

// storeGuard returns the guard of the source's Store.
func (s *Source) storeGuard() *guard {
	if g := s.guard.Load(); g != nil {
		return g
	}
	s.guard.CompareAndSwap(nil, guardOf(s.opts.Shared.Store))
	return s.guard.Load()
}

// bounded calls the store with call, for storeTimeout at most once its
// turn comes (it waits for its turn no longer than the source's lock
// would), whatever the Store does: a call that has not returned by then
// is abandoned (its late, if set, runs when it does), and while one has
// not returned, the next calls of every source on the Store, and those
// waiting for a turn, fail at once rather than leave a goroutine each. A
// panic in the call is its error.
func (s *Source) bounded(call func(ctx context.Context) error, late func()) error {
	if err := s.storeGuard().take(s.ctx, s.opts.Shared.LockTTL); err != nil {
		return err
	}
	return s.bound(call, late, true)
}

// bound is bounded without the check for an earlier call, nor a turn to
// wait for; it gives up the turn, if it holds one, when the call returns.
func (s *Source) bound(call func(ctx context.Context) error, late func(), turn bool) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	g := s.storeGuard()
	done := make(chan error) // unbuffered: the call's goroutine learns whether anyone still waits
	abandoned := make(chan struct{})
	go func() {
		if turn {
			defer g.give()
		}
		err := Protect("the store", func() error { return call(ctx) })
		select {
		case done <- err:
		case <-abandoned:
			if late != nil {
				_ = Protect("the store's unlock", func() error { late(); return nil })
			}
			g.returned()
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		g.abandoned()
		close(abandoned)
		return fmt.Errorf("no answer within %v: %w", storeTimeout, context.Cause(ctx))
	}
}

// take takes a slot, waiting for one no longer than wait and ctx allow;
// while an abandoned call has not returned, it fails at once, and so do
// the calls waiting, which that call may never let in.
func (g *guard) take(ctx context.Context, wait time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stuck == 0 && g.busy < inFlight {
		g.busy++
		return nil
	}
	late := false
	t := time.AfterFunc(wait, func() { g.mu.Lock(); late = true; g.freed.Broadcast(); g.mu.Unlock() })
	defer t.Stop()
	defer context.AfterFunc(ctx, func() { g.mu.Lock(); g.freed.Broadcast(); g.mu.Unlock() })()
	for {
		switch {
		case g.stuck > 0:
			return fmt.Errorf("an earlier call has not returned after %v", storeTimeout)
		case ctx.Err() != nil:
			g.pass()
			return context.Cause(ctx)
		case g.busy < inFlight:
			g.busy++
			return nil
		case late:
			return fmt.Errorf("no turn among the store's calls within %v", wait)
		}
		g.freed.Wait()
	}
}

// give gives back a slot.
func (g *guard) give() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy--
	g.freed.Signal()
}

// pass hands a free slot on to the next waiter, when a waiter woken for it
// leaves without it. g.mu is held.
func (g *guard) pass() {
	if g.busy < inFlight {
		g.freed.Signal()
	}
}

// abandoned counts a call abandoned, and ends the wait of the calls
// waiting for a slot.
func (g *guard) abandoned() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stuck++
	g.freed.Broadcast()
}

// returned counts an abandoned call that returned at last.
func (g *guard) returned() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stuck--
}
