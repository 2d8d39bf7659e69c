package tokensource

import (
	"cmp"
	"slices"
)

// victim is an entry that a scan found among the least recently used.
type victim[K comparable] struct {
	key  K
	e    *entry
	used int64 // e.used when found: if it changed, e was used since
}

// evictOne drops the least recently used source made, to free a slot for
// a new key, and reports whether it dropped one. Sources being made are
// never dropped for a new key: each holds its slot until newSource
// returns. A source whose fetch runs is dropped only if every other
// candidate is too.
func (p *pool[K]) evictOne() bool {
	if p.makings.Load() >= p.max {
		return false // every slot is being made: nothing to drop
	}
	scanned := false
	var busy []victim[K]
	for {
		v, fresh, ok := p.nextVictim(&scanned)
		if !ok {
			break
		}
		// One found by this call's own scan is dropped even if used since:
		// it was among the oldest a moment ago, and a new key must not
		// wait while the pool holds sources it may drop.
		switch {
		case !fresh && v.e.used.Load() != v.used:
		case v.e.inUse():
			busy = append(busy, v)
		case p.drop(v.key, v.e, "capacity"):
			return true
		}
	}
	for _, v := range busy {
		if p.drop(v.key, v.e, "capacity") {
			return true
		}
	}
	return false
}

// nextVictim returns the next of the victims, scanning for more once per
// call (as *scanned records) when none is left; fresh says the victim
// comes from that scan.
func (p *pool[K]) nextVictim(scanned *bool) (v victim[K], fresh, ok bool) {
	p.evictMu.Lock()
	defer p.evictMu.Unlock()
	if p.next == len(p.victims) {
		if *scanned {
			return v, false, false
		}
		p.victims, p.next, *scanned = p.oldest(max(16, int(p.max/64)), p.victims[:0]), 0, true
		if len(p.victims) == 0 {
			return v, false, false
		}
	}
	v = p.victims[p.next]
	p.victims[p.next] = victim[K]{} // the pool holds no dropped entry
	p.next++
	return v, *scanned, true
}

// oldest returns the k least recently used entries that are made, oldest
// first, in buf.
func (p *pool[K]) oldest(k int, buf []victim[K]) []victim[K] {
	byUsed := func(a, b victim[K]) int { return cmp.Compare(a.used, b.used) }
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.RLock()
		for key, e := range s.m {
			if e.making.Load() != nil {
				continue
			}
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
