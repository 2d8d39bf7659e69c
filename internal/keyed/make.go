package keyed

import "context"

// add returns key's entry, adding one to be made (mine) if s has none. With
// no slot free, it drops the least recently used value made, or waits for
// a slot until ctx ends.
func (m *Map[K, V]) add(ctx context.Context, s *shard[K, V], key K) (e *entry[V], mine bool, err error) {
	var freed <-chan struct{}
	for {
		if e, mine, err = m.insert(s, key); e != nil || err != nil {
			if mine {
				m.startJanitor()
			}
			return e, mine, err
		}
		if freed == nil {
			freed = m.freedChan()
			continue // look again: a slot freed from now on closes freed
		}
		if m.evictOne() {
			continue
		}
		select {
		case <-freed:
			freed = nil
		case <-ctx.Done():
			return nil, false, &WaitError{Slot: true, Cause: context.Cause(ctx)}
		}
	}
}

// insert returns key's entry, adding one to be made (mine) if s has none
// and a slot is free; else it returns no entry.
func (m *Map[K, V]) insert(s *shard[K, V], key K) (*entry[V], bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return nil, false, ErrClosed
	}
	if e := s.m[key]; e != nil {
		return e, false, nil
	}
	if !m.reserve() {
		return nil, false, nil
	}
	e := &entry[V]{}
	e.used.Store(m.tick())
	e.making.Store(&making{done: make(chan struct{})})
	if s.m == nil {
		s.m = make(map[K]*entry[V])
	}
	s.m[key] = e
	m.entries.Add(1)
	m.makesRunning.Add(1)
	return e, true, nil
}

// reserve takes a slot, if one is free.
func (m *Map[K, V]) reserve() bool {
	for {
		n := m.slots.Load()
		if n >= m.max {
			return false
		}
		if m.slots.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// free gives back n slots, and wakes the calls waiting for one.
func (m *Map[K, V]) free(n int64) {
	m.slots.Add(-n)
	m.wake()
}

// freedChan returns a channel closed when a slot may have come free.
func (m *Map[K, V]) freedChan() <-chan struct{} {
	m.freedMu.Lock()
	defer m.freedMu.Unlock()
	if m.freed == nil {
		m.freed = make(chan struct{})
	}
	return m.freed
}

// wake wakes the calls waiting for a slot, if any.
func (m *Map[K, V]) wake() {
	m.freedMu.Lock()
	if m.freed != nil {
		close(m.freed)
		m.freed = nil
	}
	m.freedMu.Unlock()
}

// makeValue runs Make for key and settles mk, even if Make ends its
// goroutine.
func (m *Map[K, V]) makeValue(s *shard[K, V], key K, e *entry[V], mk *making) {
	var v V
	err := ErrGoexit
	defer func() { m.settle(s, key, e, mk, v, err) }() // runs on runtime.Goexit too
	v, err = m.callMake(key, mk)
}

// callMake calls Make, turning a panic into an error for the waiting
// calls; the call that ran Make gets the panic.
func (m *Map[K, V]) callMake(key K, mk *making) (v V, err error) {
	defer func() {
		if r := recover(); r != nil {
			mk.panicked = r
			var zero V
			v, err = zero, &PanicError{Value: r}
		}
	}()
	return m.maker.Make(key)
}

// settle ends mk with what Make returned: on success e gets the value; on
// failure e is removed from s. The slot stays taken only if the value was
// made and s still holds e.
func (m *Map[K, V]) settle(s *shard[K, V], key K, e *entry[V], mk *making, v V, err error) {
	s.mu.Lock()
	held := s.m[key] == e
	if err == nil {
		e.val = v
		e.making.Store(nil)
		if held {
			s.markAddPending(e) // a drop from now on is reported after Added
		}
	} else if held {
		delete(s.m, key)
		m.entries.Add(-1)
	}
	dropped := mk.dropped
	s.mu.Unlock()
	m.makesRunning.Add(-1)
	if err == nil && held {
		m.wake() // e may be dropped for a new key now
	} else {
		m.free(1)
	}
	if err == nil { // before the calls waiting for the value are let go
		m.maker.Added(key, v)
		if held {
			dropped = s.addReported(e)
		}
		if dropped != "" {
			m.maker.Dropped(key, v, dropped)
		}
	}
	mk.err = err
	close(mk.done)
}

// drop forgets e, key's entry, if the map still holds it. An entry being
// made keeps its slot until Make returns, and its drop is reported once
// it is made.
func (m *Map[K, V]) drop(key K, e *entry[V], why Reason) bool {
	s := m.shard(key)
	s.mu.Lock()
	if s.m[key] != e {
		s.mu.Unlock()
		return false
	}
	delete(s.m, key)
	m.entries.Add(-1)
	mk := e.making.Load()
	report := false
	if mk != nil {
		mk.dropped = why // reported by settle, once the value exists
	} else {
		report = s.dropReportable(e, why)
	}
	s.mu.Unlock()
	if mk == nil {
		m.free(1)
	}
	if report {
		m.maker.Dropped(key, e.val, why)
	}
	return true
}
