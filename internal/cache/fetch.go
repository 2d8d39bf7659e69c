package cache

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"golang.org/x/oauth2"
)

// outcome is what a fetch brought, or what another process's fetch
// brought through the store.
type outcome struct {
	tok      *oauth2.Token
	err      error
	lifetime time.Duration // of tok; 0 means counted from now
	until    time.Time     // when err's cool-down ends; zero until recorded, unless adopted
	base     time.Duration // err's cool-down before jitter; the next one doubles it
	wait     time.Duration // err's cool-down from now, once recorded
	panicked any           // what the fetch panicked with, for the caller that started it
}

// wait returns the current token once a fetch brings one, starting the
// fetch if none runs, or the failure the last fetch left while its
// cool-down lasts. It waits no longer than ctx allows. The fetch runs on
// its own goroutine, in s.ctx, so a caller that stops waiting leaves
// nothing behind but the fetch, whose outcome serves the next callers.
func (s *Source) wait(ctx context.Context) (*oauth2.Token, error) {
	var began time.Time // when this call first waited for a fetch
	for {
		if tok, ok := s.hit(); ok {
			s.waited(ctx, began, nil)
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
				s.waited(ctx, began, err)
				return nil, err
			}
			done = make(chan outcome, 1) // this call's fetch: wait for its own outcome
			go s.run(s.start(ctx), done)
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
			s.waited(ctx, began, err)
			return nil, err
		case o := <-done: // nil, never ready, unless this call started the fetch
			if o.panicked != nil {
				panic(o.panicked)
			}
			if o.err != nil {
				s.waited(ctx, began, o.err)
				return nil, o.err
			}
		case <-busy: // nil, never ready, if this call started the fetch
		}
	}
}

// waited tells the observer how long a call waited for a fetch, if it did.
func (s *Source) waited(ctx context.Context, began time.Time, err error) {
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

// start marks a fetch as running, started by the call of ctx, and says
// whether it is a probe. s.mu is held.
func (s *Source) start(ctx context.Context) (probe bool) {
	s.busy = make(chan struct{})
	s.traceStart(ctx)
	s.holdOff.Store(math.MaxInt64)
	return s.failed != nil
}

// run obtains a token, records the outcome and ends the fetch that start
// began; then it sends the outcome on done, if done is not nil (the caller
// that started it), and only then shares it through the store, so that
// the caller waits for no store write. With done nil it is a renewal in
// the background, whose failure is only reported (RenewalFailed). A
// fetch that panics (from a hook), ends its goroutine (runtime.Goexit, as
// t.Fatal does) or brings neither a token nor an error is recorded as a
// failure, so that the source cools down rather than fetches on every
// call.
func (s *Source) run(probe bool, done chan<- outcome) {
	var o outcome
	release := func(outcome) {}
	returned := false
	defer func() {
		if !returned {
			r := recover() // nil after runtime.Goexit
			o = outcome{err: fetchPanicked(r), panicked: r}
		}
		s.end(&o)
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

// end records o and ends the fetch.
func (s *Source) end(o *outcome) {
	if o.tok == nil && o.err == nil {
		o.err = errorf("the fetch returned neither a token nor an error")
	}
	s.mu.Lock()
	s.record(o)
	s.traceEnd()
	close(s.busy)
	s.busy = nil
	s.mu.Unlock()
}

// record keeps a token, or a failure and its cool-down, and completes o. A
// fetch cut short by s.ctx is not the provider's failure and changes
// nothing. s.mu is held.
func (s *Source) record(o *outcome) {
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
	if o.until.IsZero() { // a failure of this process: its cool-down follows the last one
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
