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
	// fallback is how often a process waiting for another's fetch looks
	// again though its store has not told it of a write: only a lost
	// message needs it.
	fallback = 500 * time.Millisecond

	// maxHold is how much longer than its ttl a holder may keep its lock
	// by extending it while its fetch runs: a waiter waits that long more.
	maxHold = time.Minute

	// anyValue, as a claim's fresh, has it take the lock whatever value
	// the key holds.
	anyValue = time.Duration(math.MaxInt64)
)

// claim is what a claimer answered.
type claim struct {
	value   []byte
	release func(ctx context.Context, value []byte, ttl time.Duration) error // set if the lock was taken
	written <-chan struct{}                                                  // set if another holds it
}

// claimed is obtain on a claimer: one call reads the key and takes its
// lock, one shares the outcome and lets go of the lock, and a process
// waiting for another's fetch is told when its outcome comes rather than
// polls for it.
func (s *Source) claimed(probe bool, key string, c claimer) (outcome, func(outcome)) {
	for end := time.Now().Add(s.opts.Shared.LockTTL + maxHold); ; {
		cl, err := s.claim(c, key, s.fresh())
		if err != nil {
			return s.alone(probe, err), func(outcome) {}
		}
		o, ok := s.adoptable(s.decode(key, cl.value))
		if !ok && cl.release == nil && cl.written == nil { // a value too fresh to lock for, yet of no use
			if cl, err = s.claim(c, key, anyValue); err != nil {
				return s.alone(probe, err), func(outcome) {}
			}
			o, ok = s.adoptable(s.decode(key, cl.value))
		}
		if ok {
			if cl.release != nil {
				s.release(cl.release, nil, 0)
			}
			return o, func(outcome) {}
		}
		if cl.release != nil {
			return s.holding(probe, key, cl.release)
		}
		if !time.Now().Before(end) {
			return s.alone(probe, errors.New("no outcome from the process holding the lock")), func(outcome) {}
		}
		t := time.NewTimer(fallback)
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

// fresh is how long a stored value must still live to be newer than the
// token this source has, or last had: a value that lives longer is read
// without taking the lock.
func (s *Source) fresh() time.Duration {
	st := s.state.Load()
	if st == nil {
		st = s.rejected.Load()
	}
	if st == nil || st.tok.Expiry.IsZero() {
		return 0
	}
	return max(time.Until(st.tok.Expiry), 0)
}

// claim calls Claim, bounded as every store call is. A lock taken after
// the call was abandoned is let go of at once.
func (s *Source) claim(c claimer, key string, fresh time.Duration) (claim, error) {
	var got claim
	err := s.bounded(func(ctx context.Context) (err error) {
		got.value, got.release, got.written, err = c.Claim(ctx, key, s.opts.Shared.LockTTL, fresh)
		return err
	}, func() {
		if got.release != nil {
			_ = got.release(context.Background(), nil, 0)
		}
	})
	if err != nil {
		return claim{}, err // an abandoned call may still write to got
	}
	return got, nil
}

// holding fetches holding the lock that release lets go of. Its release
// shares the outcome and lets go of the lock in one call.
func (s *Source) holding(probe bool, key string, release func(context.Context, []byte, time.Duration) error) (outcome, func(outcome)) {
	held := true
	defer func() {
		if held { // the fetch panicked or ended its goroutine
			s.release(release, nil, 0)
		}
	}()
	o := s.send(probe)
	held = false
	return o, func(o outcome) {
		b, ttl := s.encode(key, o)
		s.release(release, b, ttl)
	}
}

// release stores value, if not nil, and lets go of the lock, bounded as a
// store call is; it is tried even while an earlier call has not returned,
// as unlock is.
func (s *Source) release(release func(context.Context, []byte, time.Duration) error, value []byte, ttl time.Duration) {
	err := s.bound(func(ctx context.Context) error { return release(ctx, value, ttl) }, nil, false)
	if err != nil {
		s.reportStore(errorf("store unavailable, the outcome stays in this process: %w", err))
	}
}
