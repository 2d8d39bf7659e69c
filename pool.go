package tokensource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
	"github.com/fintechauth/tokensource/internal/keyed"
)

// ErrPoolClosed is returned, through errors.Is, by every call of a [Pool]
// after Close.
var ErrPoolClosed = errors.New("tokensource: pool is closed")

const (
	defaultIdleTimeout = 30 * time.Minute
	minIdleTimeout     = 100 * time.Millisecond // the pool's goroutine wakes every IdleTimeout/16 at most
	defaultMaxSources  = 10_000
)

// PoolOptions say how a [Pool] bounds what it holds. A nil *PoolOptions
// means the defaults.
type PoolOptions struct {
	// IdleTimeout is how long a source may go unused (no Token, no request
	// through the pool's clients, no fetch running) before it is dropped.
	// Optional; default 30 minutes: a user who pauses for less keeps the
	// source and its token; after that, a token of 5 minutes (Flinks) has
	// expired and one of an hour is half gone, so a new source costs at
	// most one token request per key per half hour of idleness, or none
	// with a Store. Below 100ms it is a config error: the pool's goroutine
	// would wake more than 160 times a second.
	IdleTimeout time.Duration
	// MaxSources is how many sources the pool holds at most, those being
	// made included. A new key over it drops the least recently used
	// source, preferring one whose fetch is not running. Optional; default
	// 10,000: a bound of a few megabytes of sources with their tokens,
	// which a service can hold whoever sends it keys.
	MaxSources int
	// Observer, if set, is told of each source the pool adds
	// (SourceAdded) and drops (SourceDropped, with Reason "idle",
	// "capacity", "removed" or "closed"), with the source's provider when
	// it is a source of this package. Optional.
	Observer Observer
	// KeyName, if set, gives the Key of the pool's events: the name of the
	// key of type K an event concerns, such as a tenant's slug. Optional;
	// by default events name no key, as keys may be personal data. A
	// source's own events come from its config's Observer, which newSource
	// can set to one that names the key.
	KeyName func(key any) string
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
// A source being made takes one of MaxSources until newSource returns,
// even if its key is dropped meanwhile, so a newSource that hangs holds
// MaxSources goroutines at most. A call for a new key while every slot is
// taken by a source being made waits for one of them to be made (or to
// fail) until its context ends, and then returns an error wrapping its
// cause.
//
// Dropping a source only forgets it: a fetch it runs completes for its
// callers, and a Flinks OnNewToken runs once; the key's next use makes a
// new source. With a Store on the config, that source adopts the token the
// old one shared instead of fetching. A source whose fetch runs is in use:
// it is never dropped as idle.
//
// Over a source that is not a cached source of this package, the pool's
// callers of a key share one call of its Token at a time, as a
// [Transport]'s requests do.
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
// unless what it holds (newSource, a hook) refers to the pool. The
// Observer is told of the pool's events with no lock of the pool held, so
// it may call the pool, Close included.
type Pool[K comparable] struct {
	// sources is nil if err is set. Its goroutine holds it, not the Pool,
	// so that an unreachable Pool can be stopped.
	sources *keyed.Map[K, oauth2.TokenSource]
	err     error // a config error: every call returns it
}

// NewPool returns a pool whose sources newSource makes, one per key, with
// the bounds of opts (nil means the defaults). newSource is typically a
// config's TokenSource method on a copy of the config for the key; for
// Flinks, with the key's token loaded from the app's store and an
// OnNewToken that saves it under the key. A nil newSource or an option out
// of range is a [*ConfigError] that every call returns, with no request.
func NewPool[K comparable](newSource func(key K) (oauth2.TokenSource, error), opts *PoolOptions) *Pool[K] {
	if opts == nil {
		opts = &PoolOptions{}
	}
	idle := cmp.Or(opts.IdleTimeout, defaultIdleTimeout)
	switch {
	case newSource == nil:
		return &Pool[K]{err: invalid("NewPool", "newSource", "is required")}
	case opts.IdleTimeout < 0:
		return &Pool[K]{err: invalid("PoolOptions", "IdleTimeout", "must not be negative")}
	case idle < minIdleTimeout:
		return &Pool[K]{err: invalid("PoolOptions", "IdleTimeout", "must be 100ms or more")}
	case opts.MaxSources < 0:
		return &Pool[K]{err: invalid("PoolOptions", "MaxSources", "must not be negative")}
	}
	mk := &poolSources[K]{newSource: newSource, obs: opts.Observer, keyName: opts.KeyName}
	p := &Pool[K]{sources: keyed.New(mk, idle, cmp.Or(opts.MaxSources, defaultMaxSources))}
	runtime.AddCleanup(p, (*keyed.Map[K, oauth2.TokenSource]).Close, p.sources)
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
	tok, err := tokenOf(ctx, src, nil) // as a Transport waits for a request's token
	if err != nil {
		return nil, err
	}
	return new(*tok), nil // the source's, or shared by the callers of one call
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

// Remove drops key's source, as when a user disconnects, and reports
// whether the pool held one. A fetch it runs completes for its callers.
func (p *Pool[K]) Remove(key K) bool { return p.sources != nil && p.sources.Remove(key) }

// Len returns how many sources the pool holds, those being made included.
func (p *Pool[K]) Len() int {
	if p.sources == nil {
		return 0
	}
	return p.sources.Len()
}

// Close drops every source, stops the pool's goroutine and returns once it
// has ended. Later calls return [ErrPoolClosed]. Calls already waiting for
// a source get it; calls waiting for a free slot get ErrPoolClosed.
func (p *Pool[K]) Close() {
	if p.sources != nil {
		p.sources.Close()
	}
}

// source returns key's source, making it if the pool does not hold it.
func (p *Pool[K]) source(ctx context.Context, key K) (oauth2.TokenSource, error) {
	if p.err != nil {
		return nil, p.err
	}
	src, err := p.sources.Get(ctx, key)
	if err != nil {
		return nil, poolError(err)
	}
	return src, nil
}

// poolError returns err, from the pool's map, as the pool's own error.
func poolError(err error) error {
	var wait *keyed.WaitError
	var panicked *keyed.PanicError
	switch {
	case errors.Is(err, keyed.ErrClosed):
		return ErrPoolClosed
	case errors.As(err, &wait) && wait.Slot:
		return fmt.Errorf("tokensource: call ended while waiting for a slot in the pool, every other "+
			"source being made: %w", wait.Cause)
	case errors.As(err, &wait):
		return fmt.Errorf("tokensource: call ended while waiting for a new source: %w", wait.Cause)
	case errors.As(err, &panicked):
		return fmt.Errorf("tokensource: newSource panicked with a %T", panicked.Value)
	case errors.Is(err, keyed.ErrGoexit):
		return errors.New("tokensource: newSource ended its goroutine (runtime.Goexit)")
	}
	return err // newSource's, as poolSources.Make wrapped it
}

// poolSources makes a pool's sources with newSource and tells its Observer
// what becomes of them.
type poolSources[K comparable] struct {
	newSource func(K) (oauth2.TokenSource, error)
	obs       Observer
	keyName   func(any) string
}

// Make calls newSource. A source of the user's is wrapped so that the
// pool's callers of key share one call of its Token at a time.
func (ps *poolSources[K]) Make(key K) (oauth2.TokenSource, error) {
	src, err := ps.newSource(key)
	switch {
	case err != nil:
		return nil, wrap(err, "pool could not make a source")
	case src == nil:
		return nil, errors.New("tokensource: newSource returned neither a source nor an error")
	}
	if _, own := src.(*cache.Source); !own {
		src = &sharedSource{src: src}
	}
	return src, nil
}

// Busy reports whether src runs a fetch, or a call of a source of the
// user's.
func (ps *poolSources[K]) Busy(src oauth2.TokenSource) bool {
	switch src := src.(type) {
	case *cache.Source:
		return src.Fetching()
	case *sharedSource:
		return src.calls.running()
	}
	return false
}

func (ps *poolSources[K]) Added(key K, src oauth2.TokenSource) { ps.report(SourceAdded, "", key, src) }

func (ps *poolSources[K]) Dropped(key K, src oauth2.TokenSource, why keyed.Reason) {
	ps.report(SourceDropped, string(why), key, src)
}

// report tells the observer, if any, what the pool did with key's source
// src, naming src's provider and, through KeyName, key. A panic in either
// is recovered. No lock of the pool is held: the observer may call it.
func (ps *poolSources[K]) report(kind EventKind, reason string, key K, src oauth2.TokenSource) {
	if ps.obs == nil {
		return
	}
	e := Event{Kind: kind, Reason: reason, Provider: providerOf(src), Context: context.Background()}
	if ps.keyName != nil {
		_ = guard("PoolOptions.KeyName", func() { e.Key = ps.keyName(key) })
	}
	report(ps.obs, e)
}

// providerOf returns the provider of src, a source a pool holds, if it is
// a source of this package; else "".
func providerOf(src oauth2.TokenSource) Provider {
	if s, ok := src.(*cache.Source); ok {
		if f, ok := s.Fetcher().(*fetcher); ok {
			return f.provider
		}
	}
	return ""
}
