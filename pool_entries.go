package tokensource

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
)

// pool is what a Pool holds: the keyed map of its entries, the slots they
// take, and what its eviction and its janitor keep.
type pool[K comparable] struct {
	newSource func(K) (oauth2.TokenSource, error)
	err       error // a config error: every call returns it
	idle      time.Duration
	tickEvery time.Duration
	max       int64
	obs       Observer
	keyName   func(any) string
	seed      maphash.Seed
	epoch     time.Time
	clock     atomic.Int64 // now, coarsely: nanoseconds since epoch
	n         atomic.Int64 // entries held
	slots     atomic.Int64 // slots taken, of max: entries made and held, and calls of newSource running
	makings   atomic.Int64 // calls of newSource running
	closed    atomic.Bool
	shards    [shardCount]shard[K]

	freedMu sync.Mutex    // guards freed
	freed   chan struct{} // closed when a slot may have come free; nil if none is waited for

	evictMu sync.Mutex  // guards victims and next
	victims []victim[K] // the oldest entries found by the last scan
	next    int         // the next of victims to try

	janitorMu sync.Mutex    // guards stop and done
	stop      chan struct{} // nil until the janitor starts; closed to stop it
	done      chan struct{} // closed when the janitor has returned
}

type shard[K comparable] struct {
	mu sync.RWMutex // guards m, and making.dropped of its entries
	m  map[K]*entry
	_  [32]byte // each shard's lock on its own cache line
}

// entry is what a pool holds for a key: its source, once made.
type entry struct {
	used   atomic.Int64 // the clock at the key's last use
	src    oauth2.TokenSource
	making atomic.Pointer[making] // until src is set; kept if newSource failed
}

// making is one call of newSource, which the callers of a new key wait for.
type making struct {
	done     chan struct{} // closed when it returned
	err      error
	panicked any
	dropped  string // why the entry was dropped while being made, if it was
}

// source returns key's source, making it if the pool does not hold it.
func (p *pool[K]) source(ctx context.Context, key K) (oauth2.TokenSource, error) {
	if p.err != nil {
		return nil, p.err
	}
	s := p.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	mine := false
	if e == nil {
		var err error
		if e, mine, err = p.add(ctx, s, key); err != nil {
			return nil, err
		}
	}
	if now := p.clock.Load(); e.used.Load() != now {
		e.used.Store(now) // at most once a tick: hits do not write a shared line
	}
	mk := e.making.Load()
	if mk == nil {
		return e.src, nil
	}
	if mine {
		if ctx.Done() == nil {
			p.make(s, key, e, mk)
		} else {
			go p.make(s, key, e, mk)
		}
	}
	select {
	case <-mk.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("tokensource: call ended while waiting for a new source: %w", context.Cause(ctx))
	}
	if mine && mk.panicked != nil {
		panic(mk.panicked)
	}
	if mk.err != nil {
		return nil, mk.err
	}
	return e.src, nil
}

// shard returns key's shard.
func (p *pool[K]) shard(key K) *shard[K] {
	return &p.shards[maphash.Comparable(p.seed, key)&(shardCount-1)]
}

// add returns key's entry, adding one to be made (mine) if s has none. With
// no slot free, it drops the least recently used source made, or waits for
// a slot until ctx ends.
func (p *pool[K]) add(ctx context.Context, s *shard[K], key K) (e *entry, mine bool, err error) {
	var freed <-chan struct{}
	for {
		if e, mine, err = p.insert(s, key); e != nil || err != nil {
			if mine {
				p.startJanitor()
			}
			return e, mine, err
		}
		if freed == nil {
			freed = p.freedChan()
			continue // look again: a slot freed from now on closes freed
		}
		if p.evictOne() {
			continue
		}
		select {
		case <-freed:
			freed = nil
		case <-ctx.Done():
			return nil, false, fmt.Errorf("tokensource: call ended while waiting for a slot in the pool, every other "+
				"source being made: %w", context.Cause(ctx))
		}
	}
}

// insert returns key's entry, adding one to be made (mine) if s has none
// and a slot is free; else it returns no entry.
func (p *pool[K]) insert(s *shard[K], key K) (*entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.closed.Load() {
		return nil, false, ErrPoolClosed
	}
	if e := s.m[key]; e != nil {
		return e, false, nil
	}
	if !p.reserve() {
		return nil, false, nil
	}
	e := &entry{}
	e.used.Store(p.tick())
	e.making.Store(&making{done: make(chan struct{})})
	if s.m == nil {
		s.m = make(map[K]*entry)
	}
	s.m[key] = e
	p.n.Add(1)
	p.makings.Add(1)
	return e, true, nil
}

// reserve takes a slot, if one is free.
func (p *pool[K]) reserve() bool {
	for {
		n := p.slots.Load()
		if n >= p.max {
			return false
		}
		if p.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// free gives back n slots, and wakes the calls waiting for one.
func (p *pool[K]) free(n int64) {
	p.slots.Add(-n)
	p.wake()
}

// freedChan returns a channel closed when a slot may have come free.
func (p *pool[K]) freedChan() <-chan struct{} {
	p.freedMu.Lock()
	defer p.freedMu.Unlock()
	if p.freed == nil {
		p.freed = make(chan struct{})
	}
	return p.freed
}

// wake wakes the calls waiting for a slot, if any.
func (p *pool[K]) wake() {
	p.freedMu.Lock()
	if p.freed != nil {
		close(p.freed)
		p.freed = nil
	}
	p.freedMu.Unlock()
}

// make calls newSource for key and ends mk, even if newSource ends its
// goroutine.
func (p *pool[K]) make(s *shard[K], key K, e *entry, mk *making) {
	var src oauth2.TokenSource
	err := errors.New("tokensource: newSource ended its goroutine (runtime.Goexit)")
	defer p.made(s, key, e, mk, &src, &err) // runs on runtime.Goexit too
	src, err = p.call(key, mk)
}

// made ends mk with what newSource brought, *srcp or *errp, read when it
// runs: e gets the source, or leaves s with the error. Its slot stays
// taken only by a source made and held.
func (p *pool[K]) made(s *shard[K], key K, e *entry, mk *making, srcp *oauth2.TokenSource, errp *error) {
	src, err := *srcp, *errp
	if _, own := src.(*cache.Source); !own && err == nil {
		src = &sharedSource{src: src}
	}
	s.mu.Lock()
	held := s.m[key] == e
	if err == nil {
		e.src = src
		e.making.Store(nil)
	} else if held {
		delete(s.m, key)
		p.n.Add(-1)
	}
	dropped := mk.dropped
	s.mu.Unlock()
	p.makings.Add(-1)
	if err == nil && held {
		p.wake() // e may be dropped for a new key now
	} else {
		p.free(1)
	}
	if err == nil { // before the callers waiting for the source are let go
		p.tell(SourceAdded, "", key, src)
		if !held {
			p.tell(SourceDropped, dropped, key, src)
		}
	}
	mk.err = err
	close(mk.done)
}

// call calls newSource, turning a panic into an error for the waiting
// callers; the caller that made the call gets the panic.
func (p *pool[K]) call(key K, mk *making) (src oauth2.TokenSource, err error) {
	defer func() {
		if r := recover(); r != nil {
			mk.panicked = r
			src, err = nil, fmt.Errorf("tokensource: newSource panicked with a %T", r)
		}
	}()
	src, err = p.newSource(key)
	switch {
	case err != nil:
		return nil, wrap(err, "pool could not make a source")
	case src == nil:
		return nil, errors.New("tokensource: newSource returned neither a source nor an error")
	}
	return src, nil
}

// drop forgets e, key's entry, if the pool still holds it. An entry being
// made keeps its slot until newSource returns.
func (p *pool[K]) drop(key K, e *entry, reason string) bool {
	s := p.shard(key)
	s.mu.Lock()
	if s.m[key] != e {
		s.mu.Unlock()
		return false
	}
	delete(s.m, key)
	p.n.Add(-1)
	mk := e.making.Load()
	if mk != nil {
		mk.dropped = reason // told by made, once the source exists
	}
	s.mu.Unlock()
	if mk == nil {
		p.free(1)
		p.tell(SourceDropped, reason, key, e.src)
	}
	return true
}

// inUse reports whether e's source runs a fetch, or a call of a source of
// the user's.
func (e *entry) inUse() bool {
	switch src := e.src.(type) {
	case *cache.Source:
		return src.Fetching()
	case *sharedSource:
		return src.calls.running()
	}
	return false
}

// providerOf returns the provider of src, a source a pool holds, if it is
// a source of this package; else "".
func providerOf(src oauth2.TokenSource) string {
	if s, ok := src.(*cache.Source); ok {
		if f, ok := s.Fetcher().(*fetcher); ok {
			return f.provider
		}
	}
	return ""
}
