package tokensource

import (
	"context"
	"time"

	"golang.org/x/oauth2"
)

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

// held is a key and its source, as the pool tells of them once its locks
// are released.
type held[K comparable] struct {
	key K
	e   *entry
}

// sweep drops the sources unused since before now-IdleTimeout. Sources
// being made, or whose fetch runs, are in use: not idle.
func (p *pool[K]) sweep(now int64) {
	unused := func(e *entry) bool { return now-e.used.Load() >= int64(p.idle) && e.making.Load() == nil }
	var found, dropped []held[K]
	for i := range p.shards {
		s := &p.shards[i]
		found, dropped = found[:0], dropped[:0]
		s.mu.RLock()
		for key, e := range s.m {
			if unused(e) {
				found = append(found, held[K]{key, e})
			}
		}
		s.mu.RUnlock()
		for _, h := range found { // without the shard's lock: inUse takes the source's
			if !h.e.inUse() {
				dropped = append(dropped, h)
			}
		}
		if len(dropped) == 0 {
			continue
		}
		s.mu.Lock()
		kept := dropped[:0]
		for _, h := range dropped { // a call that took a source since has marked it used
			if s.m[h.key] == h.e && unused(h.e) {
				delete(s.m, h.key)
				kept = append(kept, h)
			}
		}
		dropped = kept
		p.n.Add(int64(-len(dropped)))
		s.mu.Unlock()
		p.free(int64(len(dropped)))
		for _, h := range dropped {
			p.tell(SourceDropped, "idle", h.key, h.e.src)
		}
	}
}

// close drops every source and stops the janitor, once.
func (p *pool[K]) close() {
	if !p.closed.CompareAndSwap(false, true) {
		return
	}
	p.wake() // calls waiting for a slot: the pool is closed
	p.janitorMu.Lock()
	stop, done := p.stop, p.done
	p.janitorMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	var made []held[K]
	for i := range p.shards {
		s := &p.shards[i]
		made = made[:0]
		s.mu.Lock()
		for key, e := range s.m {
			if mk := e.making.Load(); mk != nil {
				mk.dropped = "closed" // its slot is freed, and it is told, once made
			} else {
				made = append(made, held[K]{key, e})
			}
		}
		p.n.Add(int64(-len(s.m)))
		s.m = nil
		s.mu.Unlock()
		p.free(int64(len(made)))
		for _, h := range made {
			p.tell(SourceDropped, "closed", h.key, h.e.src)
		}
	}
	p.evictMu.Lock()
	p.victims, p.next = nil, 0
	p.evictMu.Unlock()
}

// tell tells the observer, if any, what the pool did with key's source
// src, naming src's provider and, through KeyName, key. A panic in either
// is recovered. No lock of the pool is held: the observer may call it.
func (p *pool[K]) tell(kind EventKind, reason string, key K, src oauth2.TokenSource) {
	if p.obs == nil {
		return
	}
	e := Event{Kind: kind, Reason: reason, Provider: providerOf(src), Context: context.Background()}
	if p.keyName != nil {
		_ = guard("PoolOptions.KeyName", func() { e.Key = p.keyName(key) })
	}
	report(p.obs, e)
}
