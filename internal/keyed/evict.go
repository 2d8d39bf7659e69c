package keyed

import (
	"cmp"
	"slices"
)

// victim is an entry that a scan found among the least recently used.
type victim[K comparable, V any] struct {
	key  K
	e    *entry[V]
	used int64 // e.used when found: if it changed, e was used since
}

// evictOne drops the least recently used value made, to free a slot for a
// new key, and reports whether it dropped one. Values being made are never
// dropped for a new key: each holds its slot until Make returns. A busy
// value is dropped only if every other candidate is busy too.
//
// Least recently used means used longest ago, exact at the clock's
// resolution (ties in no particular order). Finding it costs, amortized, a
// look at 64 entries: a scan keeps the oldest max/64 as the next ones to
// drop, skipping those used since.
func (m *Map[K, V]) evictOne() bool {
	if m.makesRunning.Load() >= m.max {
		return false // every slot is being made: nothing to drop
	}
	scanned := false
	var busy []victim[K, V]
	for {
		v, fresh, ok := m.nextVictim(&scanned)
		if !ok {
			break
		}
		// One found by this call's own scan is dropped even if used since:
		// it was among the oldest a moment ago, and a new key must not
		// wait while the map holds values it may drop.
		switch {
		case !fresh && v.e.used.Load() != v.used:
		case m.maker.Busy(v.e.val):
			busy = append(busy, v)
		case m.drop(v.key, v.e, Capacity):
			return true
		}
	}
	for _, v := range busy {
		if m.drop(v.key, v.e, Capacity) {
			return true
		}
	}
	return false
}

// nextVictim returns the next of the victims, scanning for more once per
// call (as *scanned records) when none is left; fresh says the victim
// comes from that scan.
func (m *Map[K, V]) nextVictim(scanned *bool) (v victim[K, V], fresh, ok bool) {
	m.evictMu.Lock()
	defer m.evictMu.Unlock()
	if m.next == len(m.victims) {
		if *scanned {
			return v, false, false
		}
		m.victims, m.next, *scanned = m.oldest(max(16, int(m.max/64)), m.victims[:0]), 0, true
		if len(m.victims) == 0 {
			return v, false, false
		}
	}
	v = m.victims[m.next]
	m.victims[m.next] = victim[K, V]{} // the map holds no dropped entry
	m.next++
	return v, *scanned, true
}

// oldest returns the k least recently used entries that are made, oldest
// first, in buf.
func (m *Map[K, V]) oldest(k int, buf []victim[K, V]) []victim[K, V] {
	byUsed := func(a, b victim[K, V]) int { return cmp.Compare(a.used, b.used) }
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for key, e := range s.m {
			if e.making.Load() != nil {
				continue
			}
			buf = append(buf, victim[K, V]{key, e, e.used.Load()})
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
