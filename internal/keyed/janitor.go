package keyed

import "time"

// tick advances the clock to now, and returns it.
func (m *Map[K, V]) tick() int64 {
	now := int64(time.Since(m.epoch))
	for {
		c := m.clock.Load()
		if c >= now || m.clock.CompareAndSwap(c, now) {
			return max(c, now)
		}
	}
}

// startJanitor starts the map's goroutine, unless it runs or the map is
// closed.
func (m *Map[K, V]) startJanitor() {
	m.janitorMu.Lock()
	defer m.janitorMu.Unlock()
	if m.stop == nil && !m.closed.Load() {
		m.stop, m.done = make(chan struct{}), make(chan struct{})
		go m.janitor(m.stop, m.done)
	}
}

// janitor advances the clock every tick and drops idle values every
// idle/16, until stop is closed.
func (m *Map[K, V]) janitor(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(m.tickEvery)
	defer t.Stop()
	every := int64(m.idle / 16)
	next := m.tick() + every
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if now := m.tick(); now >= next {
			m.sweep(now)
			next = now + every
		}
	}
}

// keyEntry is a key and its entry, kept to report a drop once the
// shard's lock is released.
type keyEntry[K comparable, V any] struct {
	key K
	e   *entry[V]
}

// sweep drops the values unused since before now-idle. Values being made,
// or busy, are in use: not idle.
func (m *Map[K, V]) sweep(now int64) {
	unused := func(e *entry[V]) bool { return now-e.used.Load() >= int64(m.idle) && e.making.Load() == nil }
	var found, dropped []keyEntry[K, V]
	for i := range m.shards {
		s := &m.shards[i]
		found, dropped = found[:0], dropped[:0]
		s.mu.RLock()
		for key, e := range s.m {
			if unused(e) {
				found = append(found, keyEntry[K, V]{key, e})
			}
		}
		s.mu.RUnlock()
		for _, h := range found { // without the shard's lock: Busy may take the value's
			if !m.maker.Busy(h.e.val) {
				dropped = append(dropped, h)
			}
		}
		if len(dropped) == 0 {
			continue
		}
		s.mu.Lock()
		gone, report := 0, dropped[:0]
		for _, h := range dropped { // a call that took a value since has marked it used
			if s.m[h.key] == h.e && unused(h.e) {
				delete(s.m, h.key)
				gone++
				if s.dropReportable(h.e, Idle) {
					report = append(report, h)
				}
			}
		}
		m.entries.Add(int64(-gone))
		s.mu.Unlock()
		m.free(int64(gone))
		m.sweeping.Store(true)
		for _, h := range report {
			m.maker.Dropped(h.key, h.e.val, Idle)
		}
		m.sweeping.Store(false)
	}
}

// Close drops every value, stops the map's goroutine and returns once it
// has ended (or, while it reports values it dropped as idle, as Close may
// be called from such a report, once it is told to end); later calls of
// Close do nothing. Calls already waiting for a
// value get it; calls waiting for a free slot, and later calls of Get, get
// ErrClosed. A value being made is reported as dropped once it is made.
func (m *Map[K, V]) Close() {
	if !m.closed.CompareAndSwap(false, true) {
		return
	}
	m.wake() // calls waiting for a slot: the map is closed
	m.janitorMu.Lock()
	stop, done := m.stop, m.done
	m.janitorMu.Unlock()
	if stop != nil {
		close(stop)
		if !m.sweeping.Load() { // else Close may be called from the janitor's own report: it ends right after
			<-done
		}
	}
	var report []keyEntry[K, V]
	for i := range m.shards {
		s := &m.shards[i]
		madeCount := 0 // entries whose value is made: their slots are freed now
		report = report[:0]
		s.mu.Lock()
		for key, e := range s.m {
			if mk := e.making.Load(); mk != nil {
				mk.dropped = Closed // its slot is freed, and its drop reported, once made
				continue
			}
			madeCount++
			if s.dropReportable(e, Closed) {
				report = append(report, keyEntry[K, V]{key, e})
			}
		}
		m.entries.Add(int64(-len(s.m)))
		s.m = nil
		s.mu.Unlock()
		m.free(int64(madeCount))
		for _, h := range report {
			m.maker.Dropped(h.key, h.e.val, Closed)
		}
	}
	m.evictMu.Lock()
	m.victims, m.next = nil, 0
	m.evictMu.Unlock()
}
