package cache

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"golang.org/x/oauth2"
)

// outcome is the result of a fetch: this process's, or another's adopted
// from the store.
type outcome struct {
	tok      *oauth2.Token
	err      error
	lifetime time.Duration // how long tok lived when fetched; 0 means its expiry minus now
	until    time.Time     // when err's cool-down ends; set by recordOutcome, or by adopting
	base     time.Duration // err's cool-down before jitter; the next failure doubles it
	wait     time.Duration // err's cool-down left, set by recordOutcome
	panicked any           // the fetch's panic value, re-panicked in the caller that started it
}

// wait is the miss path: it starts a fetch if none runs and waits, no
// longer than ctx allows, for a fetch to bring a token; during a
// cool-down it returns the last failure instead. The fetch runs on its own
// goroutine, in s.ctx: a caller that stops waiting leaves only the fetch
// behind, and its outcome serves the next callers.
func (s *Source) wait(ctx context.Context) (*oauth2.Token, error) {
	var began time.Time // when this call first waited for a fetch
	for {
		if tok, ok := s.hit(); ok {
			s.reportWait(ctx, began, nil)
			return tok, nil
		}
		s.mu.Lock()
		if st := s.state.Load(); st != nil && time.Now().UnixNano() < st.staleAt {
			s.mu.Unlock() // a fetch brought one meanwhile
			continue
		}
		busy := s.busy // another caller's fetch, or a renewal
		var done chan outcome
		if busy == nil {
			if err := s.coolingDown(); err != nil {
				s.mu.Unlock()
				s.reportWait(ctx, began, err)
				return nil, err
			}
			done = make(chan outcome, 1) // this call's fetch: wait for its own outcome
			go s.runFetch(s.startFetch(ctx), done)
		} else {
			s.traceJoin(ctx)
		}
		s.mu.Unlock()
		if began.IsZero() {
			began = time.Now()
		}
		select {
		case <-ctx.Done():
			err := errorf("request ended while waiting for a token: %w", context.Cause(ctx))
			s.reportWait(ctx, began, err)
			return nil, err
		case o := <-done: // nil, never ready, unless this call started the fetch
			if o.panicked != nil {
				panic(o.panicked)
			}
			if o.err != nil {
				s.reportWait(ctx, began, o.err)
				return nil, o.err
			}
		case <-busy: // nil, never ready, if this call started the fetch
		}
	}
}

// reportWait reports Waited with how long a call waited for a fetch, if
// it waited, or else CoolingDown if it got err without waiting.
func (s *Source) reportWait(ctx context.Context, began time.Time, err error) {
	if !began.IsZero() {
		s.Report(Event{Kind: Waited, Duration: time.Since(began), Err: err, Context: ctx})
	} else if err != nil {
		s.Report(Event{Kind: CoolingDown, Err: err, Context: ctx})
	}
}

// coolingDown returns the failure a call gets while the last fetch's
// cool-down lasts, or nil. s.mu is held.
func (s *Source) coolingDown() error {
	f := s.failed
	if f == nil {
		return nil
	}
	if wait := time.Until(f.until); wait > 0 {
		return &coolingDown{err: f.err, wait: wait}
	}
	return nil
}

// startFetch marks a fetch as running, started by the call of ctx, and
// returns whether it is a probe (the first fetch after a failure). s.mu is
// held.
func (s *Source) startFetch(ctx context.Context) (probe bool) {
	s.busy = make(chan struct{})
	s.traceStart(ctx)
	s.holdOff.Store(math.MaxInt64)
	return s.failed != nil
}

// runFetch runs the fetch that startFetch began, in this order: obtain a
// token, record the outcome and end the fetch, send the outcome on done,
// then store it (so the caller that started the fetch does not wait for
// the store write). done is nil for a background renewal, whose failure is
// only reported (RenewalFailed). A fetch that panics (in a hook), ends its
// goroutine (runtime.Goexit, as t.Fatal does) or returns neither a token
// nor an error is recorded as a failure, so that the source cools down
// instead of fetching on every call.
func (s *Source) runFetch(probe bool, done chan<- outcome) {
	var o outcome
	release := func(outcome) {}
	returned := false
	defer func() {
		if !returned {
			r := recover() // nil after runtime.Goexit
			o = outcome{err: fetchPanicked(r), panicked: r}
		}
		s.endFetch(&o)
		if done != nil {
			done <- o
		}
		release(o)
		if done == nil && o.err != nil && s.ctx.Err() == nil {
			s.Report(Event{Kind: RenewalFailed, Err: o.err, Wait: o.wait, Context: context.Background()})
		}
	}()
	o, release = s.obtain(probe)
	returned = true
}

// endFetch records o and marks the fetch as ended, waking its waiters.
func (s *Source) endFetch(o *outcome) {
	if o.tok == nil && o.err == nil {
		o.err = errorf("the fetch returned neither a token nor an error")
	}
	s.mu.Lock()
	s.recordOutcome(o)
	s.traceEnd()
	close(s.busy)
	s.busy = nil
	s.mu.Unlock()
}

// recordOutcome makes o's token current, or records o's failure and
// starts its cool-down, filling in o's until and wait. A failure because
// s.ctx ended is not the provider's and changes nothing. s.mu is held.
func (s *Source) recordOutcome(o *outcome) {
	now := time.Now()
	switch {
	case o.err != nil && s.ctx.Err() != nil:
		s.holdOff.Store(0)
		return
	case o.err == nil && !o.tok.Expiry.IsZero() && !now.Before(o.tok.Expiry):
		o.tok, o.err = nil, errorf("token already expired at %v", o.tok.Expiry.Format(time.RFC3339))
	case o.err == nil:
		if o.lifetime == 0 {
			o.lifetime = o.tok.Expiry.Sub(now)
		}
		s.state.Store(s.newState(o.tok, o.lifetime))
		s.failed = nil
		s.holdOff.Store(0)
		return
	}
	if o.until.IsZero() { // this process's failure; an adopted one brings its own cool-down
		o.base = s.opts.CoolDown
		if f := s.failed; f != nil {
			o.base = min(2*f.base, s.opts.MaxCoolDown)
		}
		jittered := o.base + time.Duration((rand.Float64()-0.5)*0.5*float64(o.base)) // ±25%: each longer than the last
		o.until = now.Add(min(max(min(jittered, s.opts.MaxCoolDown), s.fetcher.RetryAfter(o.err)), MaxWait))
	}
	o.wait = o.until.Sub(now)
	s.failed = &failure{err: o.err, until: o.until, base: o.base}
	s.holdOff.Store(o.until.UnixNano())
}
