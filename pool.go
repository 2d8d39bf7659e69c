package tokensource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
)

// ErrPoolClosed is returned, through errors.Is, by every call of a [Pool]
// after Close.
var ErrPoolClosed = errors.New("tokensource: pool is closed")

const (
	defaultIdleTimeout = 30 * time.Minute
	defaultMaxSources  = 10_000
	shardCount         = 64 // a power of two
	maxClockStep       = time.Second
)

// PoolOptions say how a [Pool] bounds what it holds. A nil *PoolOptions
// means the defaults.
type PoolOptions struct {
	// IdleTimeout is how long a source may go unused (no Token, no request
	// through the pool's clients) before it is dropped. Optional; default
	// 30 minutes: a user who pauses for less keeps the source and its
	// token; after that, a token of 5 minutes (Flinks) has expired and one
	// of an hour is half gone, so a new source costs at most one token
	// request per key per half hour of idleness, or none with a Store.
	IdleTimeout time.Duration
	// MaxSources is how many sources the pool holds at most, those being
	// made included; a new key over it drops the least recently used
	// source. Optional; default 10,000: about 12 MB of sources with their
	// tokens, a bound a service can hold whoever sends it keys.
	MaxSources int
	// Observer, if set, is told of each source the pool adds
	// (SourceAdded) and drops (SourceDropped, with Reason "idle",
	// "capacity", "removed" or "closed"). Events name no key. Optional.
	Observer Observer
}

// Pool holds one source per key, such as a tenant, a user or a partner,
// made on first use by the newSource given to [NewPool] and dropped when
// idle, over MaxSources, removed, or when the pool is closed. It is safe
// for concurrent use.
//
// One source per key: calls for a key that the pool does not hold wait
// for one call of newSource, whose error (the database is down, the user
// is unknown) they all get and which is not kept, so the next call tries
// again. A source held is found under a read lock of one of 64 shards,
// never a pool-wide lock, and its last use is recorded as an atomic store
// of a clock that ticks every second (IdleTimeout/16 if shorter).
//
// Dropping a source only forgets it: a fetch it runs completes for its
// callers, and a Flinks OnNewToken runs once; the key's next use makes a
// new source. With a Store on the config, that source adopts the token the
// old one shared instead of fetching.
//
// Least recently used, for MaxSources, means the source whose key was last
// used longest ago, exact at the clock's resolution (ties in no particular
// order). Finding it costs, amortized, a look at 64 sources: a scan keeps
// the oldest MaxSources/64 as the next ones to drop, skipping those used
// since.
//
// A pool runs one goroutine from its first source until Close: each tick
// it advances the clock, and every IdleTimeout/16 it drops the sources
// unused for IdleTimeout, so a source goes between IdleTimeout and
// IdleTimeout·17/16 (plus a tick) after its last use. There is no timer
// per key. A pool that becomes unreachable without Close stops it too,
// unless what it holds (newSource, a hook) refers to the pool.
type Pool[K comparable] struct {
	*pool[K] // what the janitor holds: without the Pool, it can be stopped
}

type pool[K comparable] struct {
	newSource func(K) (oauth2.TokenSource, error)
	err       error // a config error: every call returns it
	idle      time.Duration
	tickEvery time.Duration
	max       int64
	obs       Observer
	seed      maphash.Seed
	epoch     time.Time
	clock     atomic.Int64 // now, coarsely: nanoseconds since epoch
	n         atomic.Int64 // entries held
	closed    atomic.Bool
	shards    [shardCount]shard[K]

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

// victim is an entry that a scan found among the least recently used.
type victim[K comparable] struct {
	key  K
	e    *entry
	used int64 // e.used when found: if it changed, e was used since
}

// NewPool returns a pool whose sources newSource makes, one per key, with
// the bounds of opts (nil means the defaults). newSource is typically a
// config's TokenSource method on a copy of the config for the key; for
// Flinks, with the key's token loaded from the app's store and an
// OnNewToken that saves it under the key. A nil newSource or a negative
// option is a config error that every call returns, with no request.
func NewPool[K comparable](newSource func(key K) (oauth2.TokenSource, error), opts *PoolOptions) *Pool[K] {
	if opts == nil {
		opts = &PoolOptions{}
	}
	in := &pool[K]{newSource: newSource, obs: opts.Observer, seed: maphash.MakeSeed(), epoch: time.Now(),
		idle: cmp.Or(opts.IdleTimeout, defaultIdleTimeout), max: int64(cmp.Or(opts.MaxSources, defaultMaxSources))}
	in.tickEvery = min(maxClockStep, in.idle/16)
	switch {
	case newSource == nil:
		in.err = errors.New("tokensource: NewPool needs a newSource function")
	case opts.IdleTimeout < 0:
		in.err = invalid("PoolOptions", "IdleTimeout", "must not be negative")
	case opts.MaxSources < 0:
		in.err = invalid("PoolOptions", "MaxSources", "must not be negative")
	case in.tickEvery <= 0:
		in.err = invalid("PoolOptions", "IdleTimeout", "must be 16ns or more")
	}
	p := &Pool[K]{in}
	runtime.AddCleanup(p, func(in *pool[K]) { in.close() }, in)
	return p
}

// Token returns a token from key's source, making the source if the pool
// does not hold it. ctx bounds the wait, for the source and for its
// token, as a request's context does in [Transport]: when ctx ends first,
// Token returns an error wrapping its cause, and the work goes on for the
// other callers. A token found valid costs no wait. The token is the
// caller's to keep.
func (p *Pool[K]) Token(ctx context.Context, key K) (*oauth2.Token, error) {
	src, err := p.source(ctx, key)
	if err != nil {
		return nil, err
	}
	t := Transport{Source: src} // waited for as a request waits
	tok, err := t.token(ctx)
	if _, own := src.(*cache.Source); own && err == nil {
		tok = new(*tok) // a cached source's token is its own
	}
	return tok, err
}

// Client returns an HTTP client that authorizes each request with a token
// from key's source, as the configs' Client does: through a [Transport],
// on the transport of the oauth2.HTTPClient value of ctx, so a request
// waits no longer than its context allows and one rejected with 401 is
// sent again once with a new token. The source is looked up for each
// request, so the client keeps working after its source is dropped.
func (p *Pool[K]) Client(ctx context.Context, key K) *http.Client {
	c := httpClient(ctx, nil)
	return withTransport(c, &poolTransport[K]{p: p, base: c.Transport, key: key, fixed: true})
}

// Transport returns an http.RoundTripper for requests of every key: each
// request is authorized as Client's are, with a token for the key that
// [ContextWithKey] set on its context, and sent with base (nil means
// http.DefaultTransport). A request without such a key fails with a
// tokensource: error and is not sent.
func (p *Pool[K]) Transport(base http.RoundTripper) http.RoundTripper {
	return &poolTransport[K]{p: p, base: base}
}

// poolKey is the context key of a pool key of type K.
type poolKey[K comparable] struct{}

// ContextWithKey returns a copy of ctx that carries key, for
// [Pool.Transport] of a pool with keys of type K to authorize a request
// with that context.
func ContextWithKey[K comparable](ctx context.Context, key K) context.Context {
	return context.WithValue(ctx, poolKey[K]{}, key)
}

// Remove drops key's source, as when a user disconnects, and reports
// whether the pool held one. A fetch it runs completes for its callers.
func (p *Pool[K]) Remove(key K) bool {
	s := p.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	return e != nil && p.drop(key, e, "removed")
}

// Len returns how many sources the pool holds, those being made included.
func (p *Pool[K]) Len() int { return int(p.n.Load()) }

// Close drops every source, stops the pool's goroutine and returns once it
// has ended. Later calls return [ErrPoolClosed]. Calls already waiting for
// a source get it.
func (p *Pool[K]) Close() { p.close() }

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
		if e, mine, err = p.add(s, key); err != nil {
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

// add returns key's entry, adding one to be made (mine) if s has none.
func (p *pool[K]) add(s *shard[K], key K) (e *entry, mine bool, err error) {
	s.mu.Lock()
	if p.closed.Load() {
		s.mu.Unlock()
		return nil, false, ErrPoolClosed
	}
	if e = s.m[key]; e != nil { // added since the read lock
		s.mu.Unlock()
		return e, false, nil
	}
	e = &entry{}
	e.used.Store(p.tick())
	e.making.Store(&making{done: make(chan struct{})})
	if s.m == nil {
		s.m = make(map[K]*entry)
	}
	s.m[key] = e
	p.n.Add(1)
	s.mu.Unlock()
	p.startJanitor()
	p.evictOver(e)
	return e, true, nil
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
// runs: e gets the source, or leaves s with the error.
func (p *pool[K]) made(s *shard[K], key K, e *entry, mk *making, srcp *oauth2.TokenSource, errp *error) {
	src, err := *srcp, *errp
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
	mk.err = err
	close(mk.done)
	if err == nil {
		p.tell(SourceAdded, "")
		if !held {
			p.tell(SourceDropped, dropped)
		}
	}
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

// drop forgets e, key's entry, if the pool still holds it.
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
		mk.dropped = reason // told by make, once the source exists
	}
	s.mu.Unlock()
	if mk == nil {
		p.tell(SourceDropped, reason)
	}
	return true
}

// evictOver drops least recently used entries, other than except, while
// the pool holds more than its maximum.
func (p *pool[K]) evictOver(except *entry) {
	if p.n.Load() <= p.max {
		return
	}
	p.evictMu.Lock()
	defer p.evictMu.Unlock()
	scanned := false
	for p.n.Load() > p.max {
		if p.next == len(p.victims) {
			if scanned {
				return // nothing else to drop
			}
			p.victims, p.next, scanned = p.oldest(max(16, int(p.max/64)), p.victims[:0]), 0, true
		}
		v := p.victims[p.next]
		p.victims[p.next] = victim[K]{} // the pool holds no dropped entry
		p.next++
		if v.e != except && v.e.used.Load() == v.used {
			p.drop(v.key, v.e, "capacity")
		}
	}
}

// oldest returns the k least recently used entries, oldest first, in buf.
func (p *pool[K]) oldest(k int, buf []victim[K]) []victim[K] {
	byUsed := func(a, b victim[K]) int { return cmp.Compare(a.used, b.used) }
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.RLock()
		for key, e := range s.m {
			buf = append(buf, victim[K]{key, e, e.used.Load()})
			if len(buf) == 2*k {
				slices.SortFunc(buf, byUsed)
				clear(buf[k:])
				buf = buf[:k]
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(buf, byUsed)
	return buf[:min(k, len(buf))]
}

// tick advances the clock to now, and returns it.
func (p *pool[K]) tick() int64 {
	now := int64(time.Since(p.epoch))
	for {
		c := p.clock.Load()
		if c >= now || p.clock.CompareAndSwap(c, now) {
			return max(c, now)
		}
	}
}

// startJanitor starts the pool's goroutine, unless it runs or the pool is
// closed.
func (p *pool[K]) startJanitor() {
	p.janitorMu.Lock()
	defer p.janitorMu.Unlock()
	if p.stop == nil && !p.closed.Load() {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.janitor(p.stop, p.done)
	}
}

// janitor advances the clock every tick and drops idle sources every
// IdleTimeout/16, until stop is closed.
func (p *pool[K]) janitor(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(p.tickEvery)
	defer t.Stop()
	every := int64(p.idle / 16)
	next := p.tick() + every
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if now := p.tick(); now >= next {
			p.sweep(now)
			next = now + every
		}
	}
}

// sweep drops the sources unused since before now-IdleTimeout. Sources
// being made are not idle.
func (p *pool[K]) sweep(now int64) {
	idle := func(e *entry) bool { return now-e.used.Load() >= int64(p.idle) && e.making.Load() == nil }
	var keys []K
	for i := range p.shards {
		s := &p.shards[i]
		keys = keys[:0]
		s.mu.RLock()
		for key, e := range s.m {
			if idle(e) {
				keys = append(keys, key)
			}
		}
		s.mu.RUnlock()
		if len(keys) == 0 {
			continue
		}
		dropped := 0
		s.mu.Lock()
		for _, key := range keys {
			if e := s.m[key]; e != nil && idle(e) {
				delete(s.m, key)
				dropped++
			}
		}
		p.n.Add(int64(-dropped))
		s.mu.Unlock()
		for range dropped {
			p.tell(SourceDropped, "idle")
		}
	}
}

// close drops every source and stops the janitor, once.
func (p *pool[K]) close() {
	if !p.closed.CompareAndSwap(false, true) {
		return
	}
	p.janitorMu.Lock()
	stop, done := p.stop, p.done
	p.janitorMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		made := 0
		for _, e := range s.m {
			if mk := e.making.Load(); mk != nil {
				mk.dropped = "closed"
			} else {
				made++
			}
		}
		p.n.Add(int64(-len(s.m)))
		s.m = nil
		s.mu.Unlock()
		for range made {
			p.tell(SourceDropped, "closed")
		}
	}
	p.evictMu.Lock()
	p.victims, p.next = nil, 0
	p.evictMu.Unlock()
}

// tell tells the observer, if any, what the pool did; a panic in it is
// recovered.
func (p *pool[K]) tell(kind EventKind, reason string) {
	if p.obs == nil {
		return
	}
	defer func() { _ = recover() }()
	p.obs.Observe(Event{Kind: kind, Reason: reason})
}

// poolTransport authorizes requests with tokens of a pool's sources: for
// key if fixed, else for the key of each request's context.
type poolTransport[K comparable] struct {
	p     *Pool[K] // not its pool: the Pool must stay reachable while in use
	base  http.RoundTripper
	key   K
	fixed bool
}

func (t *poolTransport[K]) RoundTrip(req *http.Request) (*http.Response, error) {
	key, ok := t.key, t.fixed
	if !ok {
		key, ok = req.Context().Value(poolKey[K]{}).(K)
	}
	if !ok {
		closeBody(req.Body)
		return nil, fmt.Errorf("tokensource: the request's context has no %T key for the pool; set one with ContextWithKey", key)
	}
	src, err := t.p.source(req.Context(), key)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	return (&Transport{Source: src, Base: t.base}).RoundTrip(req)
}

// closeBody closes a request's body, as a RoundTripper must even when it
// fails.
func closeBody(body io.ReadCloser) {
	if body != nil {
		body.Close()
	}
}
