package cache

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Kind says what an Event reports; package tokensource documents each.
type Kind int

const (
	FetchEnded Kind = iota + 1
	Retrying
	Waited
	CoolingDown
	Invalidated
	RenewalStarted
	RenewalFailed
	StoreUnavailable
	Adopted
	endOfKinds // one past the last; a new kind goes before it
)

// Kinds returns every Kind, in order.
func Kinds() []Kind {
	all := make([]Kind, 0, endOfKinds-FetchEnded)
	for k := FetchEnded; k < endOfKinds; k++ {
		all = append(all, k)
	}
	return all
}

// Event is what a source reports to its Fetcher.
type Event struct {
	Kind     Kind
	Duration time.Duration
	Attempts int
	Err      error
	Expiry   time.Time
	Wait     time.Duration
	// Context is the context of the call the event concerns, or of the
	// call that started the running fetch. When it is nil, Source.Report
	// sets it (for a fetch made without a Source, such as a config's
	// Token, the root does). Only its values are used: it may have ended.
	Context context.Context
	// Joined holds the contexts of the calls that joined the fetch
	// (FetchEnded), at most maxJoined.
	Joined []context.Context
}

// maxJoined bounds the calls a fetch's event names: a trace link each.
const maxJoined = 32

// fetchTrace holds, for the events of the running fetch, the contexts of
// the call that started it and of the calls that joined it.
type fetchTrace struct {
	call context.Context // the call that started it; Background for a renewal

	mu     sync.Mutex
	joined []context.Context
}

// traceStart records that a fetch started by the call of ctx runs.
func (s *Source) traceStart(ctx context.Context) {
	if s.opts.Traced {
		s.trace.Store(&fetchTrace{call: context.WithoutCancel(ctx)})
	}
}

// traceJoin records that the call of ctx waits for the running fetch.
func (s *Source) traceJoin(ctx context.Context) {
	if t := s.trace.Load(); t != nil {
		t.mu.Lock()
		if len(t.joined) < maxJoined {
			t.joined = append(t.joined, context.WithoutCancel(ctx))
		}
		t.mu.Unlock()
	}
}

// traceEnd forgets the running fetch's trace.
func (s *Source) traceEnd() { s.trace.Store(nil) }

// Report passes e to the Fetcher. If e has no context: an event of the
// running fetch gets the context of the call that started it (and
// FetchEnded also gets the contexts of the calls that joined it); any
// other event gets context.Background().
func (s *Source) Report(e Event) {
	if e.Context == nil {
		e.Context = context.Background()
		if t := s.trace.Load(); t != nil && duringFetch(e.Kind) {
			e.Context = t.call
			if e.Kind == FetchEnded {
				t.mu.Lock()
				e.Joined = slices.Clone(t.joined)
				t.mu.Unlock()
			}
		}
	}
	s.fetcher.Report(e)
}

// duringFetch reports whether events of kind k happen within a fetch.
func duringFetch(k Kind) bool {
	return k == FetchEnded || k == Retrying || k == Adopted || k == StoreUnavailable
}
