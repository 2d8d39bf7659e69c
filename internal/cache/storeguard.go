package cache

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"
)

const (
	// storeTimeout is how long a Store call may run once its turn comes.
	// A call still running then is abandoned, and the source goes on
	// without the store.
	storeTimeout = time.Second

	// maxInFlight is how many calls of one Store a process runs at a time.
	// A further call waits for its turn: a burst (every source of a process
	// starting at once) is served in turn, not counted as the store failing.
	maxInFlight = 16
)

// guard counts, for all the sources of a process that use one Store, the
// calls of it in flight and the abandoned calls that have not returned. It
// holds no channel or timer: a Store may outlive a testing/synctest
// bubble, whose channels no goroutine outside it may use.
type guard struct {
	mu       sync.Mutex
	freed    sync.Cond // Signal: a turn is free; Broadcast: a call was abandoned, or a waiter's time or ctx ran out
	inFlight int       // turns taken: a call keeps its turn until it returns, even if abandoned
	stuck    int       // abandoned calls that have not returned yet
}

// guards maps each Store a process uses to its guard, for the life of the
// process: a Store is made once and shared, so there are few.
var guards sync.Map // Store → *guard

// guardOf returns the guard that every source using store shares, or a
// new one if store cannot be a map key.
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
	sh := s.opts.Shared
	if g := sh.guard.Load(); g != nil {
		return g
	}
	sh.guard.CompareAndSwap(nil, guardOf(sh.Store))
	return sh.guard.Load()
}

// callStore makes one call of the Store. It waits for a turn (LockTTL at
// most), then gives call storeTimeout to return. A call that takes longer
// is abandoned and this returns an error; late, if not nil, runs when the
// abandoned call returns, to undo what it did. While an abandoned call has
// not returned, every source's callStore on that Store fails at once, so
// that a hung Store does not pile up goroutines. A panic in call is its
// error.
func (s *Source) callStore(call func(ctx context.Context) error, late func()) error {
	if err := s.storeGuard().takeTurn(s.ctx, s.opts.Shared.LockTTL); err != nil {
		return err
	}
	return s.callStoreOutOfTurn(call, late, true)
}

// callStoreOutOfTurn is callStore without waiting for a turn and without
// failing while an abandoned call has not returned: the way to let go of a
// lock, which must be tried whatever state the Store is in. holdsTurn says
// that the caller took a turn, which is given back when call returns.
func (s *Source) callStoreOutOfTurn(call func(ctx context.Context) error, late func(), holdsTurn bool) error {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	g := s.storeGuard()
	done := make(chan error) // unbuffered: the call's goroutine learns whether anyone still waits
	abandoned := make(chan struct{})
	go func() {
		if holdsTurn {
			defer g.endTurn()
		}
		err := Protect("the store", func() error { return call(ctx) })
		select {
		case done <- err:
		case <-abandoned:
			if late != nil {
				_ = Protect("the store's unlock", func() error { late(); return nil })
			}
			g.countReturned()
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		g.countAbandoned()
		close(abandoned)
		return fmt.Errorf("no answer within %v: %w", storeTimeout, context.Cause(ctx))
	}
}

// takeTurn takes one of the maxInFlight turns, waiting for one no longer
// than wait and ctx allow. While an abandoned call has not returned, it
// fails at once, and so do the calls already waiting: that call may never
// give its turn back.
func (g *guard) takeTurn(ctx context.Context, wait time.Duration) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stuck == 0 && g.inFlight < maxInFlight {
		g.inFlight++
		return nil
	}
	timedOut := false
	t := time.AfterFunc(wait, func() { g.mu.Lock(); timedOut = true; g.freed.Broadcast(); g.mu.Unlock() })
	defer t.Stop()
	defer context.AfterFunc(ctx, func() { g.mu.Lock(); g.freed.Broadcast(); g.mu.Unlock() })()
	for {
		switch {
		case g.stuck > 0:
			return fmt.Errorf("an earlier call has not returned after %v", storeTimeout)
		case ctx.Err() != nil:
			g.passTurn()
			return context.Cause(ctx)
		case g.inFlight < maxInFlight:
			g.inFlight++
			return nil
		case timedOut:
			return fmt.Errorf("no turn among the store's calls within %v", wait)
		}
		g.freed.Wait()
	}
}

// endTurn gives a turn back and wakes one waiter.
func (g *guard) endTurn() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	g.freed.Signal()
}

// passTurn wakes the next waiter if a turn is free: a waiter that was woken
// for it is leaving without it. g.mu is held.
func (g *guard) passTurn() {
	if g.inFlight < maxInFlight {
		g.freed.Signal()
	}
}

// countAbandoned counts an abandoned call, and wakes every waiter so that
// each fails at once.
func (g *guard) countAbandoned() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stuck++
	g.freed.Broadcast()
}

// countReturned counts an abandoned call that has returned at last.
func (g *guard) countReturned() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stuck--
}
