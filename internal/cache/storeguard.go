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
// it: the calls in flight, and those abandoned that have not returned.
type guard struct {
	slots chan struct{} // a call holds one until it returns, abandoned or not
	mu    sync.Mutex    // guards stuck and trouble
	stuck int           // calls abandoned that have not returned yet
	// trouble is closed while stuck > 0: it ends the wait of the calls
	// waiting for a turn, which a stuck call may never give back.
	trouble chan struct{}
}

// guards holds the guard of each Store a process uses, for the life of the
// process: a Store is made once and shared, so they are few.
var guards sync.Map // Store → *guard

// guardOf returns the guard of store: the one every source using store
// shares, or one of its own for a Store that cannot be a map key.
func guardOf(store Store) *guard {
	g := &guard{slots: make(chan struct{}, inFlight), trouble: make(chan struct{})}
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
// waiting for a turn, fail at once rather than leave a goroutine each. A panic in the call is its error.
func (s *Source) bounded(call func(ctx context.Context) error, late func()) error {
	g := s.storeGuard()
	g.mu.Lock()
	stuck, trouble := g.stuck, g.trouble
	g.mu.Unlock()
	if stuck > 0 {
		return fmt.Errorf("an earlier call has not returned after %v", storeTimeout)
	}
	turn := time.NewTimer(s.opts.Shared.LockTTL)
	defer turn.Stop()
	select {
	case g.slots <- struct{}{}:
	case <-trouble:
		return fmt.Errorf("an earlier call has not returned after %v", storeTimeout)
	case <-s.ctx.Done():
		return context.Cause(s.ctx)
	case <-turn.C:
		return fmt.Errorf("no turn among the store's calls within %v", s.opts.Shared.LockTTL)
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
			defer func() { <-g.slots }()
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

// abandoned counts a call abandoned, and ends the wait for a turn of the
// calls that wait for one.
func (g *guard) abandoned() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stuck++; g.stuck == 1 {
		close(g.trouble)
	}
}

// returned counts an abandoned call that returned at last.
func (g *guard) returned() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stuck--; g.stuck == 0 {
		g.trouble = make(chan struct{})
	}
}
