package cache

import "time"

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
)

// Event is what a source tells Options.Observe.
type Event struct {
	Kind     Kind
	Duration time.Duration
	Attempts int
	Err      error
	Expiry   time.Time
	Wait     time.Duration
}

// observe tells Observe of e.
func (s *Source) observe(e Event) {
	if s.opts.Observe != nil {
		s.opts.Observe(e)
	}
}

// notify tells Notify of err; a panic in it is ignored.
func (s *Source) notify(err error, wait time.Duration) {
	if s.opts.Notify != nil {
		_ = protect("Notify", func() error { s.opts.Notify(err, wait); return nil })
	}
}
