package cache

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// store is the part of tokensource.Store that a source calls; that
// interface documents each method.
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

	guard atomic.Pointer[guard] // of Store, set on its first call
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
	// lockPoll is how often a process that waits for another's fetch reads
	// the key and tries the lock again, with a Store that is no claimer.
	lockPoll = 50 * time.Millisecond

	// maxEntryTTL is the longest a Store keeps an entry: a day, even for a
	// token that says it lives for years.
	maxEntryTTL = MaxWait
)

// obtain gets a new token. With a store, it first adopts what another
// process stored (a new token, or a failure still cooling down); else it
// fetches under the store's lock, so that one process fetches for all. A
// process that finds the lock taken waits, LockTTL at most, for the
// holder's outcome, or takes the lock if the holder lets go of it without
// one. If the store fails, the source fetches without it and reports
// StoreUnavailable: a store never fails a token.
//
// release, called once the outcome is recorded, stores it and lets go of
// the store's lock, if this process took it.
func (s *Source) obtain(probe bool) (o outcome, release func(outcome)) {
	sh := s.opts.Shared
	if sh == nil {
		return s.fetchFromProvider(probe), func(outcome) {}
	}
	key := s.fetcher.(Sharer).Key()
	if c, ok := sh.Store.(claimer); ok {
		return s.obtainByClaim(probe, key, c)
	}
	seen, err := s.loadEntry(key)
	if err != nil {
		return s.fetchWithoutStore(probe, err), func(outcome) {}
	}
	if o, ok := s.adoptable(seen); ok {
		return o, func(outcome) {}
	}
	for end := time.Now().Add(sh.LockTTL); ; {
		unlock, err := s.lockStore(key)
		switch {
		case err != nil:
			return s.fetchWithoutStore(probe, err), func(outcome) {}
		case unlock != nil:
			return s.fetchHoldingLock(probe, key, unlock)
		case !time.Now().Before(end):
			return s.fetchWithoutStore(probe, errors.New("no outcome from the process holding the lock")), func(outcome) {}
		}
		select { // another process is fetching: wait for what it brings
		case <-s.ctx.Done():
			return outcome{err: s.ctx.Err()}, func(outcome) {}
		case <-time.After(lockPoll):
		}
		e, err := s.loadEntry(key)
		if err != nil {
			return s.fetchWithoutStore(probe, err), func(outcome) {}
		}
		if e != nil && (seen == nil || e.Stamp != seen.Stamp) {
			if o, ok := s.adoptable(e); ok {
				return o, func(outcome) {}
			}
			seen = e
		}
	}
}

// fetchHoldingLock fetches while this process holds the store's lock on
// key. The function it returns stores the outcome, then lets go of the
// lock.
func (s *Source) fetchHoldingLock(probe bool, key string, unlock func()) (outcome, func(outcome)) {
	if e, err := s.loadEntry(key); err == nil {
		if o, ok := s.adoptable(e); ok { // stored just before this process took the lock
			s.unlockStore(unlock)
			return o, func(outcome) {}
		}
	}
	held := true
	defer func() {
		if held { // the fetch panicked or ended its goroutine
			s.unlockStore(unlock)
		}
	}()
	o := s.fetchFromProvider(probe)
	held = false
	return o, func(o outcome) {
		s.saveEntry(key, o)
		s.unlockStore(unlock)
	}
}

// fetchWithoutStore reports that the store failed with err, then fetches
// from the provider without it.
func (s *Source) fetchWithoutStore(probe bool, err error) outcome {
	s.reportStoreUnavailable(errorf("store unavailable, fetching without it: %w", err))
	return s.fetchFromProvider(probe)
}

// fetchFromProvider fetches a token from the provider through the Fetcher.
func (s *Source) fetchFromProvider(probe bool) outcome {
	tok, err := s.fetcher.Fetch(s.ctx, probe)
	return outcome{tok: tok, err: err}
}

// reportStoreUnavailable reports a StoreUnavailable event with err, unless
// the source's own context has ended.
func (s *Source) reportStoreUnavailable(err error) {
	if s.ctx.Err() == nil {
		s.Report(Event{Kind: StoreUnavailable, Err: err})
	}
}

// entry is the value a store holds for a source: its latest token or its
// latest failure, as JSON.
type entry struct {
	Version int            `json:"v"`
	Key     string         `json:"key"`   // the store key it was saved at: the identity it belongs to
	Stamp   int64          `json:"stamp"` // Unix ns, writer's clock, when saved: a new stamp means a new outcome
	Token   *sharedToken   `json:"token,omitempty"`
	Failure *sharedFailure `json:"failure,omitempty"`
}

// sharedToken is a token as an entry holds it; Lifetime is how long it
// lived when it was fetched.
type sharedToken struct {
	AccessToken string        `json:"access_token"`
	TokenType   string        `json:"token_type,omitempty"`
	Expiry      time.Time     `json:"expiry"`
	ExpiresIn   int64         `json:"expires_in,omitempty"`
	Scope       any           `json:"scope,omitempty"`
	Lifetime    time.Duration `json:"lifetime"`
}

// sharedFailure is a failure as an entry holds it: the Fetcher's encoding
// of the error, and the cool-down that followed it.
type sharedFailure struct {
	Err   json.RawMessage `json:"err"`
	Until time.Time       `json:"until"`
	Base  time.Duration   `json:"base"`
}

// entryVersion is the entry format written; entries of other versions
// are ignored.
const entryVersion = 2

// loadEntry reads the entry at key. A value it cannot read (another
// version, or garbage) counts as none, and the next outcome overwrites it.
func (s *Source) loadEntry(key string) (*entry, error) {
	var b []byte
	err := s.callStore(func(ctx context.Context) (err error) {
		b, err = s.opts.Shared.Store.Get(ctx, key)
		return err
	}, nil)
	if err != nil {
		return nil, err
	}
	return s.decodeEntry(key, b), nil
}

// decodeEntry returns the entry that b, read at key, holds, or nil for
// none, another version or garbage. An entry that names another key
// belongs to another identity (the Store returned the wrong value): it is
// ignored and reported as StoreUnavailable.
func (s *Source) decodeEntry(key string, b []byte) *entry {
	var e entry
	if b == nil || json.Unmarshal(b, &e) != nil || e.Version != entryVersion || (e.Token == nil) == (e.Failure == nil) ||
		(e.Token != nil && e.Token.AccessToken == "") {
		return nil
	}
	if e.Key != key {
		s.reportStoreUnavailable(errorf("store unavailable: the value it returned belongs to another identity, and is ignored"))
		return nil
	}
	return &e
}

// lockStore takes the store's lock on key. It returns a nil unlock if
// another process holds the lock.
func (s *Source) lockStore(key string) (unlock func(), err error) {
	var got func()
	err = s.callStore(func(ctx context.Context) (err error) {
		got, err = s.opts.Shared.Store.Lock(ctx, key, s.opts.Shared.LockTTL)
		return err
	}, func() { // the call was abandoned and took the lock later: let go of it at once
		if got != nil {
			got()
		}
	})
	if err != nil {
		// Do not read got: an abandoned call may still be writing it.
		return nil, err
	}
	return got, nil
}

// unlockStore calls unlock, which lets go of the store's lock, within
// storeTimeout; a panic in it counts as the store failing. It is tried
// even while an abandoned store call has not returned: a lock left held
// would make every process, this one too, wait for it to expire.
func (s *Source) unlockStore(unlock func()) {
	err := s.callStoreOutOfTurn(func(context.Context) error {
		return Protect("the store's unlock", func() error { unlock(); return nil })
	}, nil, false)
	if err != nil {
		s.reportStoreUnavailable(errorf("store unavailable: %w", err))
	}
}

// saveEntry stores the recorded outcome o of this process's fetch at key.
func (s *Source) saveEntry(key string, o outcome) {
	b, ttl := s.encodeEntry(key, o)
	if b == nil {
		return
	}
	err := s.callStore(func(ctx context.Context) error {
		return s.opts.Shared.Store.Set(ctx, key, b, ttl)
	}, nil)
	if err != nil {
		s.reportStoreUnavailable(errorf("store unavailable, the outcome stays in this process: %w", err))
	}
}

// encodeEntry returns the entry, as JSON, of the recorded outcome o of
// this process's fetch at key, and its ttl in the store: a token's until
// its expiry; a failure's until its cool-down ends plus MaxCoolDown (so
// that the next probe finds the cool-down to double); between a second
// and a day. It returns nil for an outcome with nothing to share.
func (s *Source) encodeEntry(key string, o outcome) ([]byte, time.Duration) {
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
