package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// Store is where sources in many processes share tokens and failures; the
// package tokensource documents it.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// Shared says how a source shares through a Store.
type Shared struct {
	Store Store
	// Key names the source's identity in the store, as it is when a fetch
	// starts (a Flinks refresh token may change it); it holds no secret.
	Key func() string
	// LockTTL is how long a fetch may hold the store's lock: the fetch's
	// budget and a margin. A process that waits for another's fetch waits
	// this long at most.
	LockTTL time.Duration
	// EncodeErr and DecodeErr carry a failure to another process.
	EncodeErr func(error) json.RawMessage
	DecodeErr func(json.RawMessage) error
	// Adopt, if set, readies a token another process fetched, as the
	// source's own fetch would have.
	Adopt func(*oauth2.Token) *oauth2.Token
}

const (
	// poll is how often a process waiting for another's fetch looks for
	// its outcome, and for its lock.
	poll = 50 * time.Millisecond

	// storeTimeout bounds each call of a Store.
	storeTimeout = time.Second
)

// obtain gets a new token: from the store if another process has just
// obtained one, or has just failed and is cooling down; else by fetching,
// under the store's lock so that one process fetches for all. A process
// that finds the lock taken waits for the outcome, or takes the lock once
// its holder lets go of it without one (it died, or gave up), for LockTTL
// at most. Trouble with the store never fails a token: the source fetches
// on its own, and tells Notify.
func (s *Source) obtain(probe bool) outcome {
	sh := s.opts.Shared
	if sh == nil {
		tok, err := s.fetch(s.ctx, probe)
		return outcome{tok: tok, err: err}
	}
	key := sh.Key()
	seen, err := s.load(key)
	if err != nil {
		return s.alone(probe, err)
	}
	if o, ok := s.adoptable(seen); ok {
		return o
	}
	for end := time.Now().Add(sh.LockTTL); ; {
		ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
		unlock, err := sh.Store.Lock(ctx, key, sh.LockTTL)
		cancel()
		switch {
		case err != nil:
			return s.alone(probe, err)
		case unlock != nil:
			return s.locked(probe, key, unlock)
		case !time.Now().Before(end):
			return s.alone(probe, errors.New("tokensource: store: no outcome from the process holding the lock"))
		}
		select { // another process is fetching: wait for what it brings
		case <-s.ctx.Done():
			return outcome{err: s.ctx.Err()}
		case <-time.After(poll):
		}
		e, err := s.load(key)
		if err != nil {
			return s.alone(probe, err)
		}
		if e != nil && (seen == nil || e.Stamp != seen.Stamp) {
			if o, ok := s.adoptable(e); ok {
				return o
			}
			seen = e
		}
	}
}

// locked fetches holding the store's lock on key, and shares the outcome
// before letting go of it.
func (s *Source) locked(probe bool, key string, unlock func()) outcome {
	if e, err := s.load(key); err == nil {
		if o, ok := s.adoptable(e); ok { // it came just before the lock
			unlock()
			return o
		}
	}
	held := true
	defer func() {
		if held { // the fetch panicked
			unlock()
		}
	}()
	tok, err := s.fetch(s.ctx, probe)
	held = false
	return outcome{tok: tok, err: err, share: func(o outcome) {
		defer unlock()
		s.save(key, o)
	}}
}

// alone fetches without the store, after trouble with it.
func (s *Source) alone(probe bool, trouble error) outcome {
	if s.opts.Notify != nil && s.ctx.Err() == nil {
		s.opts.Notify(fmt.Errorf("tokensource: store unavailable, fetching without it: %w", trouble), 0)
	}
	tok, err := s.fetch(s.ctx, probe)
	return outcome{tok: tok, err: err}
}

// entry is what the store holds for a source: its latest token or its
// latest failure.
type entry struct {
	Version int            `json:"v"`
	Stamp   int64          `json:"stamp"` // when it was saved, in ns: tells a waiter that an outcome came
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

const entryVersion = 1

// load reads the source's entry; a value it cannot read (another version,
// or garbage) counts as none, and is overwritten by the next outcome.
func (s *Source) load(key string) (*entry, error) {
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	b, err := s.opts.Shared.Store.Get(ctx, key)
	if err != nil || b == nil {
		return nil, err
	}
	var e entry
	if json.Unmarshal(b, &e) != nil || e.Version != entryVersion || (e.Token == nil) == (e.Failure == nil) ||
		(e.Token != nil && e.Token.AccessToken == "") {
		return nil, nil
	}
	return &e, nil
}

// adoptable returns the outcome e holds if this source should take it
// rather than fetch: a token that is usable and newer than its own and
// than the one it was last told the API rejected, or a failure still
// cooling down (for MaxWait at most, whatever another process's clock
// says).
func (s *Source) adoptable(e *entry) (outcome, bool) {
	now := time.Now()
	switch {
	case e == nil:
	case e.Failure != nil && now.Before(e.Failure.Until):
		until := e.Failure.Until
		if limit := now.Add(MaxWait); until.After(limit) {
			until = limit
		}
		return outcome{err: s.opts.Shared.DecodeErr(e.Failure.Err), until: until, base: e.Failure.Base}, true
	case e.Token != nil:
		t := e.Token
		margin := min(s.opts.ExpiryDelta, t.Lifetime/4)
		if !now.Before(t.Expiry.Add(-margin)) || !newer(t, s.tok.Load()) || !newer(t, s.rejected.Load()) {
			break
		}
		tok := (&oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, Expiry: t.Expiry, ExpiresIn: t.ExpiresIn}).
			WithExtra(map[string]any{"scope": t.Scope})
		if s.opts.Shared.Adopt != nil {
			tok = s.opts.Shared.Adopt(tok)
		}
		return outcome{tok: tok, lifetime: t.Lifetime}, true
	}
	return outcome{}, false
}

// newer reports whether t is another token than ref, and expires later.
func newer(t *sharedToken, ref *oauth2.Token) bool {
	return ref == nil || (t.AccessToken != ref.AccessToken && t.Expiry.After(ref.Expiry))
}

// save shares a recorded outcome of this process's fetch at key.
func (s *Source) save(key string, o outcome) {
	e := entry{Version: entryVersion, Stamp: time.Now().UnixNano()}
	var ttl time.Duration
	switch {
	case o.tok != nil:
		e.Token = &sharedToken{AccessToken: o.tok.AccessToken, TokenType: o.tok.TokenType, Expiry: o.tok.Expiry,
			ExpiresIn: o.tok.ExpiresIn, Scope: o.tok.Extra("scope"), Lifetime: o.lifetime}
		ttl = time.Until(o.tok.Expiry)
	case !o.until.IsZero():
		e.Failure = &sharedFailure{Err: s.opts.Shared.EncodeErr(o.err), Until: o.until, Base: o.base}
		ttl = time.Until(o.until) + s.opts.MaxCoolDown // the next prober finds the base to double
	default:
		return // cut short by the source's context: nothing to share
	}
	b, err := json.Marshal(e)
	if err == nil {
		ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
		err = s.opts.Shared.Store.Set(ctx, key, b, max(ttl, time.Second))
		cancel()
	}
	if err != nil && s.opts.Notify != nil {
		s.opts.Notify(fmt.Errorf("tokensource: store unavailable, the outcome stays in this process: %w", err), 0)
	}
}
