package cache

import (
	"context"
	"errors"
	"math"
	"time"
)

// claimer is a Store that reads a key and takes its lock in one call;
// package tokensource documents it (StoreClaimer).
type claimer interface {
	Claim(ctx context.Context, key string, ttl, fresh time.Duration) (value []byte,
		release func(ctx context.Context, value []byte, ttl time.Duration) error, written <-chan struct{}, err error)
}

const (
	// claimPoll is how often a process that waits for another's fetch
	// claims again when its Store has not said that the key was written.
	// A Store says so, so this only covers a lost message.
	claimPoll = 500 * time.Millisecond

	// maxHold is how much longer than its ttl a holder may keep the lock
	// by extending it while it fetches; a waiter waits that much longer.
	maxHold = time.Minute

	// anyValue, passed as Claim's fresh, makes Claim take the lock
	// whatever value the key holds.
	anyValue = time.Duration(math.MaxInt64)
)

// claim is what one call of Claim returned.
type claim struct {
	value   []byte
	release func(ctx context.Context, value []byte, ttl time.Duration) error // set if this call took the lock
	written <-chan struct{}                                                  // set if another process holds the lock
}

// obtainByClaim is obtain for a Store that is a claimer: one call reads
// the key and takes its lock, one call stores the outcome and lets go of
// the lock, and a process that waits for another's fetch is woken when the
// key is written instead of polling.
func (s *Source) obtainByClaim(probe bool, key string, c claimer) (outcome, func(outcome)) {
	for end := time.Now().Add(s.opts.Shared.LockTTL + maxHold); ; {
		cl, err := s.claim(c, key, s.minStoredLife())
		if err != nil {
			return s.fetchWithoutStore(probe, err), func(outcome) {}
		}
		o, ok := s.adoptable(s.decodeEntry(key, cl.value))
		// The value outlives minStoredLife, so Claim did not lock for it,
		// yet it cannot be adopted: claim again, taking the lock whatever
		// the key holds.
		if !ok && cl.release == nil && cl.written == nil {
			if cl, err = s.claim(c, key, anyValue); err != nil {
				return s.fetchWithoutStore(probe, err), func(outcome) {}
			}
			o, ok = s.adoptable(s.decodeEntry(key, cl.value))
		}
		if ok {
			if cl.release != nil {
				s.releaseClaim(cl.release, nil, 0)
			}
			return o, func(outcome) {}
		}
		if cl.release != nil {
			return s.fetchHoldingClaim(probe, key, cl.release)
		}
		if !time.Now().Before(end) {
			return s.fetchWithoutStore(probe, errors.New("no outcome from the process holding the lock")), func(outcome) {}
		}
		t := time.NewTimer(claimPoll)
		select { // another process is fetching: wait for what it brings
		case <-s.ctx.Done():
			t.Stop()
			return outcome{err: s.ctx.Err()}, func(outcome) {}
		case <-cl.written:
		case <-t.C:
		}
		t.Stop()
	}
}

// minStoredLife is how long a stored token must still live to be newer
// than the one this source has, or last had: Claim returns such a value
// without taking the lock.
func (s *Source) minStoredLife() time.Duration {
	st := s.state.Load()
	if st == nil {
		st = s.rejected()
	}
	if st == nil || st.tok.Expiry.IsZero() {
		return 0
	}
	return max(time.Until(st.tok.Expiry), 0)
}

// claim calls c.Claim through callStore. If the call is abandoned and
// takes the lock later, the lock is let go of at once.
func (s *Source) claim(c claimer, key string, fresh time.Duration) (claim, error) {
	var got claim
	err := s.callStore(func(ctx context.Context) (err error) {
		got.value, got.release, got.written, err = c.Claim(ctx, key, s.opts.Shared.LockTTL, fresh)
		return err
	}, func() {
		if got.release != nil {
			_ = got.release(context.Background(), nil, 0)
		}
	})
	if err != nil {
		// Do not read got: an abandoned call may still be writing it.
		return claim{}, err
	}
	return got, nil
}

// fetchHoldingClaim fetches while this process holds the lock that release
// lets go of. The function it returns stores the outcome and lets go of
// the lock, in one call.
func (s *Source) fetchHoldingClaim(probe bool, key string, release func(context.Context, []byte, time.Duration) error) (outcome, func(outcome)) {
	held := true
	defer func() {
		if held { // the fetch panicked or ended its goroutine
			s.releaseClaim(release, nil, 0)
		}
	}()
	o := s.fetchFromProvider(probe)
	held = false
	return o, func(o outcome) {
		b, ttl := s.encodeEntry(key, o)
		s.releaseClaim(release, b, ttl)
	}
}

// releaseClaim stores value (unless it is nil) for ttl and lets go of the
// lock. Like unlockStore, it is tried even while an abandoned store call
// has not returned.
func (s *Source) releaseClaim(release func(context.Context, []byte, time.Duration) error, value []byte, ttl time.Duration) {
	err := s.callStoreOutOfTurn(func(ctx context.Context) error { return release(ctx, value, ttl) }, nil, false)
	if err != nil {
		s.reportStoreUnavailable(errorf("store unavailable, the outcome stays in this process: %w", err))
	}
}
