package cache

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"golang.org/x/oauth2"
)

// store is what a source calls of the tokensource.Store that its config
// sets, which documents each method.
type store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// Shared says how a source shares through a store. Its Fetcher must be a
// [Sharer].
type Shared struct {
	Store store // required
	// LockTTL is how long a fetch may hold the store's lock: the fetch's
	// budget and a margin, a day at most. A process that waits for
	// another's fetch waits this long at most. Required.
	LockTTL time.Duration
}

// Sharer is what a Fetcher adds for a source that shares through a store.
type Sharer interface {
	// Key names the source's identity in the store, as it is when a fetch
	// starts (a Flinks refresh token may change it); it holds no secret.
	Key() string
	// EncodeErr and DecodeErr carry a failure to another process.
	EncodeErr(error) json.RawMessage
	DecodeErr(json.RawMessage) error
	// Adopt readies a token another process fetched, as the source's own
	// fetch would have.
	Adopt(*oauth2.Token) *oauth2.Token
}

const (
	// poll is how often a process waiting for another's fetch looks for
	// its outcome, and for its lock, when its Store cannot tell it.
	poll = 50 * time.Millisecond

	// maxEntryTTL bounds how long a store keeps what a source shares: a
	// token that claims to live for years is kept a day.
	maxEntryTTL = MaxWait
)

// obtain gets a new token: from the store if another process has just
// obtained one, or has just failed and is cooling down; else by fetching,
// under the store's lock so that one process fetches for all. A process
// that finds the lock taken waits for the outcome, or takes the lock once
// its holder lets go of it without one (it died, or gave up), for LockTTL
// at most. Trouble with the store never fails a token: the source fetches
// on its own, and reports it (StoreUnavailable).
//
// release, called once the outcome is recorded, shares it and lets go of
// the store's lock, if this process took it.
func (s *Source) obtain(probe bool) (o outcome, release func(outcome)) {
	sh := s.opts.Shared
	if sh == nil {
		return s.send(probe), func(outcome) {}
	}
	key := s.fetcher.(Sharer).Key()
	if c, ok := sh.Store.(claimer); ok {
		return s.claimed(probe, key, c)
	}
	seen, err := s.load(key)
	if err != nil {
		return s.alone(probe, err), func(outcome) {}
	}
	if o, ok := s.adoptable(seen); ok {
		return o, func(outcome) {}
	}
	for end := time.Now().Add(sh.LockTTL); ; {
		unlock, err := s.lock(key)
		switch {
		case err != nil:
			return s.alone(probe, err), func(outcome) {}
		case unlock != nil:
			return s.locked(probe, key, unlock)
		case !time.Now().Before(end):
			return s.alone(probe, errors.New("no outcome from the process holding the lock")), func(outcome) {}
		}
		select { // another process is fetching: wait for what it brings
		case <-s.ctx.Done():
			return outcome{err: s.ctx.Err()}, func(outcome) {}
		case <-time.After(poll):
		}
		e, err := s.load(key)
		if err != nil {
			return s.alone(probe, err), func(outcome) {}
		}
		if e != nil && (seen == nil || e.Stamp != seen.Stamp) {
			if o, ok := s.adoptable(e); ok {
				return o, func(outcome) {}
			}
			seen = e
		}
	}
}

// locked fetches holding the store's lock on key. Its release shares the
// outcome, then lets go of the lock.
func (s *Source) locked(probe bool, key string, unlock func()) (outcome, func(outcome)) {
	if e, err := s.load(key); err == nil {
		if o, ok := s.adoptable(e); ok { // it came just before the lock
			s.unlock(unlock)
			return o, func(outcome) {}
		}
	}
	held := true
	defer func() {
		if held { // the fetch panicked or ended its goroutine
			s.unlock(unlock)
		}
	}()
	o := s.send(probe)
	held = false
	return o, func(o outcome) {
		s.save(key, o)
		s.unlock(unlock)
	}
}

// alone fetches without the store, after trouble with it.
func (s *Source) alone(probe bool, trouble error) outcome {
	s.reportStore(errorf("store unavailable, fetching without it: %w", trouble))
	return s.send(probe)
}

// send asks the provider.
func (s *Source) send(probe bool) outcome {
	tok, err := s.fetcher.Fetch(s.ctx, probe)
	return outcome{tok: tok, err: err}
}

// reportStore reports that the store failed (StoreUnavailable), unless
// the source's own context ended.
func (s *Source) reportStore(err error) {
	if s.ctx.Err() == nil {
		s.Report(Event{Kind: StoreUnavailable, Err: err})
	}
}

// entry is what the store holds for a source: its latest token or its
// latest failure.
type entry struct {
	Version int            `json:"v"`
	Key     string         `json:"key"`   // the store key it was saved at: the identity it belongs to
	Stamp   int64          `json:"stamp"` // when it was saved, in ns of the writer's clock: tells a waiter that an outcome came
	Token   *sharedToken   `json:"token,omitempty"`
	Failure *sharedFailure `json:"failure,omitempty"`
}

type sharedToken struct {
	AccessToken string        `json:"access_token"`
	TokenType   string        `json:"token_type,omitempty"`
	Expiry      time.Time     `json:"expiry"`
	ExpiresIn   int64         `json:"expires_in,omitempty"`
	Scope       any           `json:"scope,omitempty"`
	Lifetime    time.Duration `json:"lifetime"`
}

type sharedFailure struct {
	Err   json.RawMessage `json:"err"`
	Until time.Time       `json:"until"`
	Base  time.Duration   `json:"base"`
}

const entryVersion = 2

// load reads the source's entry; a value it cannot read (another version,
// or garbage) counts as none, and is overwritten by the next outcome.
func (s *Source) load(key string) (*entry, error) {
	var b []byte
	err := s.bounded(func(ctx context.Context) (err error) {
		b, err = s.opts.Shared.Store.Get(ctx, key)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return s.decode(key, b), nil
}

// decode returns the entry b holds at key, or nil for none, another
// version or garbage. An entry that names another key is another
// identity's (a Store that answered with the wrong value): it is ignored,
// and reported as store trouble.
func (s *Source) decode(key string, b []byte) *entry {
	var e entry
	if b == nil || json.Unmarshal(b, &e) != nil || e.Version != entryVersion || (e.Token == nil) == (e.Failure == nil) ||
		(e.Token != nil && e.Token.AccessToken == "") {
		return nil
	}
	if e.Key != key {
		s.reportStore(errorf("store unavailable: the value it returned belongs to another identity, and is ignored"))
		return nil
	}
	return &e
}

// lock takes the store's lock on key, or returns nil if another process
// holds it.
func (s *Source) lock(key string) (unlock func(), err error) {
	var got func()
	err = s.bounded(func(ctx context.Context) (err error) {
		got, err = s.opts.Shared.Store.Lock(ctx, key, s.opts.Shared.LockTTL)
		return err
	}, func() { // a lock taken after the call was abandoned is let go of at once
		if got != nil {
			got()
		}
	})
	if err != nil {
		return nil, err // got is the abandoned call's to write
	}
	return got, nil
}

// unlock lets go of the store's lock, bounded as a store call is; a panic
// in it is store trouble. It is tried even while an earlier call has not
// returned: a lock left held would keep every process, this one too,
// waiting for it to expire.
func (s *Source) unlock(unlock func()) {
	err := s.bound(func(context.Context) error {
		return Protect("the store's unlock", func() error { unlock(); return nil })
	}, nil, false)
	if err != nil {
		s.reportStore(errorf("store unavailable: %w", err))
	}
}

// save shares a recorded outcome of this process's fetch at key.
func (s *Source) save(key string, o outcome) {
	b, ttl := s.encode(key, o)
	if b == nil {
		return
	}
	err := s.bounded(func(ctx context.Context) error {
		return s.opts.Shared.Store.Set(ctx, key, b, ttl)
	}, nil)
	if err != nil {
		s.reportStore(errorf("store unavailable, the outcome stays in this process: %w", err))
	}
}

// encode returns the entry of a recorded outcome of this process's fetch
// at key, and how long the store keeps it: as long as it holds, a token
// until its expiry, a failure until its cool-down ends and MaxCoolDown
// more (so that the next prober finds the cool-down to double); never
// more than a day. It returns nil for an outcome with nothing to share.
func (s *Source) encode(key string, o outcome) ([]byte, time.Duration) {
	now := time.Now()
	e := entry{Version: entryVersion, Key: key, Stamp: now.UnixNano()}
	var ttl time.Duration
	switch {
	case o.tok != nil:
		e.Token = &sharedToken{AccessToken: o.tok.AccessToken, TokenType: o.tok.TokenType, Expiry: o.tok.Expiry,
			ExpiresIn: o.tok.ExpiresIn, Scope: o.tok.Extra("scope"), Lifetime: o.lifetime}
		ttl = o.tok.Expiry.Sub(now)
		if o.tok.Expiry.IsZero() {
			ttl = maxEntryTTL
		}
	case !o.until.IsZero():
		e.Failure = &sharedFailure{Err: s.fetcher.(Sharer).EncodeErr(o.err), Until: o.until, Base: o.base}
		ttl = o.until.Sub(now) + s.opts.MaxCoolDown
	default:
		return nil, 0 // cut short by the source's context: nothing to share
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, 0
	}
	return b, min(max(ttl, time.Second), maxEntryTTL)
}
