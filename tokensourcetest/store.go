package tokensourcetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Store is an in-memory tokensource.Store, for testing code that shares
// tokens without Redis: give one Store to several configs, as Redis is
// shared by several processes. It counts what it is asked, and is safe for
// concurrent use.
//
// The zero Store is empty and ready to use, as [NewStore]'s is.
//
// Values and locks expire after their ttl by time.Now, so in a
// testing/synctest bubble they follow the bubble's fake clock; create the
// Store inside the bubble then. Locks have names of their own: a lock and
// a value may share a key.
type Store struct {
	mu     sync.Mutex
	values map[string]stored
	locks  map[string]held
	lastID uint64 // of the last lock taken
	gets   int
	sets   int
}

type stored struct {
	value   []byte
	expires time.Time
}

type held struct {
	id      uint64
	expires time.Time
}

// NewStore returns an empty Store.
func NewStore() *Store { return &Store{} }

// Get returns a copy of the value stored at key, or nil if there is none
// or it has expired. It never fails.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	v, ok := s.values[key]
	if !ok || !time.Now().Before(v.expires) {
		delete(s.values, key)
		return nil, nil
	}
	return slices.Clone(v.value), nil
}

// Set stores a copy of value at key, to expire after ttl. It returns an
// error, and stores nothing, for a ttl that is not positive.
func (s *Store) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("tokensource: tokensourcetest.Store.Set: ttl must be positive, not %v", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets++
	if s.values == nil {
		s.values = map[string]stored{}
	}
	s.values[key] = stored{value: slices.Clone(value), expires: time.Now().Add(ttl)}
	return nil
}

// Lock takes the lock named key for ttl if nobody holds it, and returns a
// function that releases it while this call still holds it: not after it
// expired and another call took it. It returns a nil function if somebody
// holds the lock, and an error for a ttl that is not positive.
func (s *Store) Lock(_ context.Context, key string, ttl time.Duration) (func(), error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("tokensource: tokensourcetest.Store.Lock: ttl must be positive, not %v", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if l, ok := s.locks[key]; ok && now.Before(l.expires) {
		return nil, nil
	}
	if s.locks == nil {
		s.locks = map[string]held{}
	}
	s.lastID++
	id := s.lastID
	s.locks[key] = held{id: id, expires: now.Add(ttl)}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.locks[key].id == id {
			delete(s.locks, key)
		}
	}, nil
}

// Keys returns the keys that hold a value that has not expired, sorted.
func (s *Store) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var keys []string
	for k, v := range s.values {
		if now.Before(v.expires) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Gets returns how many times Get has been called, yours included.
func (s *Store) Gets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// Sets returns how many values Set has stored.
func (s *Store) Sets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets
}
