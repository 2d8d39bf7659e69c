// Package keyed holds values made on first use, one per key: a bounded map
// whose keys hash to shards, whose values are made by one call per key,
// and whose least recently used values make room for new keys and go when
// idle. It knows nothing of what its values are: a [Maker] makes them,
// says which are busy, and is called for each one added and dropped.
package keyed

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const (
	shardCount   = 64 // a power of two
	maxClockStep = time.Second
)

// Reason says why a [Map] dropped a value.
type Reason string

// The reasons a Map drops a value for.
const (
	Idle     Reason = "idle"     // unused for the idle timeout
	Capacity Reason = "capacity" // to make room for a new key
	Removed  Reason = "removed"  // by Remove
	Closed   Reason = "closed"   // by Close
)

// Maker makes the values of a [Map], and the Map reports to it each value
// added and dropped. The Map calls it with none of its locks held, so it
// may call the Map.
type Maker[K comparable, V any] interface {
	// Make returns key's new value, or an error that the calls waiting for
	// it get and that the Map does not keep.
	Make(key K) (V, error)
	// Busy reports whether v is in use: a busy value is never dropped as
	// idle, and for capacity only when every other candidate is busy too.
	Busy(v V) bool
	// Added is called for each value made, before the calls waiting for
	// it go on.
	Added(key K, v V)
	// Dropped is called once for each value made that the Map drops, after
	// its Added.
	Dropped(key K, v V, why Reason)
}

// ErrClosed is what [Map.Get] returns after Close.
var ErrClosed = errors.New("keyed: the map is closed")

// ErrGoexit is what the calls waiting for a value get when Make ended its
// goroutine (runtime.Goexit).
var ErrGoexit = errors.New("keyed: Make ended its goroutine (runtime.Goexit)")

// PanicError is what the calls waiting for a value get when Make panicked;
// the call that ran Make panics with Value itself.
type PanicError struct{ Value any }

func (e *PanicError) Error() string { return fmt.Sprintf("keyed: Make panicked with a %T", e.Value) }

// WaitError is what [Map.Get] returns when its context ends first: while
// waiting for a free slot, every slot taken by a value being made (Slot),
// or for the key's value being made.
type WaitError struct {
	Slot  bool
	Cause error // context.Cause of the call's context
}

func (e *WaitError) Error() string {
	if e.Slot {
		return "keyed: call ended while waiting for a slot: " + e.Cause.Error()
	}
	return "keyed: call ended while waiting for a new value: " + e.Cause.Error()
}

func (e *WaitError) Unwrap() error { return e.Cause }

// Map holds a value per key, at most max of them, those being made
// included. It is safe for concurrent use. A value held is found under the
// read lock of one of 64 shards, and its last use is recorded as an atomic
// store of a coarse clock that ticks every second (idle/16 if shorter),
// at most once a tick.
//
// One goroutine runs from the first value until Close: each tick it
// advances the clock, and every idle/16 it drops the values unused for
// idle, so a value goes between idle and idle·17/16 (plus a tick) after its
// last use.
type Map[K comparable, V any] struct {
	maker        Maker[K, V]
	idle         time.Duration
	tickEvery    time.Duration
	max          int64
	seed         maphash.Seed
	epoch        time.Time
	clock        atomic.Int64 // now, coarsely: nanoseconds since epoch
	entries      atomic.Int64 // entries held, those being made included
	slots        atomic.Int64 // slots taken, of max: entries made and held, and calls of Make running
	makesRunning atomic.Int64 // calls of Make running
	closed       atomic.Bool
	shards       [shardCount]shard[K, V]

	freedMu sync.Mutex    // guards freed
	freed   chan struct{} // closed when a slot may have come free; nil if none is waited for

	evictMu sync.Mutex     // guards victims and next
	victims []victim[K, V] // the oldest entries found by the last scan
	next    int            // the next of victims to try

	janitorMu sync.Mutex    // guards stop and done
	sweeping  atomic.Bool   // the janitor reports the values it dropped as idle
	stop      chan struct{} // nil until the janitor starts; closed to stop it
	done      chan struct{} // closed when the janitor has returned
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex // guards m, addPending, and making.dropped of its entries
	m  map[K]*entry[V]
	// addPending holds the entries made and held whose Added has not been
	// called yet, each with why it was dropped since ("" if it was not):
	// Dropped must wait for Added.
	addPending map[*entry[V]]Reason
	_          [24]byte // each shard's lock on its own cache line
}

// markAddPending records that e, made and held, awaits its Added call.
// s.mu must be held.
func (s *shard[K, V]) markAddPending(e *entry[V]) {
	if s.addPending == nil {
		s.addPending = make(map[*entry[V]]Reason)
	}
	s.addPending[e] = ""
}

// dropReportable is called when e, made, has just been dropped for why. It
// returns whether Dropped may be called now; if e's Added is still
// pending, it keeps why instead, for settle to report after Added. s.mu
// must be held.
func (s *shard[K, V]) dropReportable(e *entry[V], why Reason) bool {
	if _, ok := s.addPending[e]; ok {
		s.addPending[e] = why
		return false
	}
	return true
}

// addReported records that e's Added was called, and returns why e was
// dropped meanwhile ("" if it was not).
func (s *shard[K, V]) addReported(e *entry[V]) Reason {
	s.mu.Lock()
	defer s.mu.Unlock()
	why := s.addPending[e]
	delete(s.addPending, e)
	return why
}

// entry is what a Map holds for a key: its value, once made.
type entry[V any] struct {
	used   atomic.Int64 // the clock at the key's last use
	val    V
	making atomic.Pointer[making] // until val is set; kept if Make failed
}

// making is one call of Make, which the calls for a new key wait for.
type making struct {
	done     chan struct{} // closed when Make returned
	err      error
	panicked any
	dropped  Reason // why the entry was dropped while being made, if it was
}

// New returns a map of the values that mk makes, holding at most max and
// dropping those unused for idle. Both must be positive.
func New[K comparable, V any](mk Maker[K, V], idle time.Duration, max int) *Map[K, V] {
	if mk == nil || idle <= 0 || max <= 0 {
		panic("keyed: New needs a Maker, a positive idle timeout and a positive max")
	}
	return &Map[K, V]{maker: mk, idle: idle, tickEvery: min(maxClockStep, idle/16), max: int64(max),
		seed: maphash.MakeSeed(), epoch: time.Now()}
}

// Get returns key's value, making it if the map does not hold it. ctx
// bounds the wait, for a slot and for the value; the value is made even
// if ctx ends, for the other calls (on a goroutine of its own, unless ctx
// cannot end: then Make runs on the caller's). A value held costs no wait.
func (m *Map[K, V]) Get(ctx context.Context, key K) (V, error) {
	s := m.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	mine := false
	if e == nil {
		var err error
		if e, mine, err = m.add(ctx, s, key); err != nil {
			var zero V
			return zero, err
		}
	}
	if now := m.clock.Load(); e.used.Load() != now {
		e.used.Store(now) // at most once a tick: hits do not write a shared line
	}
	mk := e.making.Load()
	if mk == nil {
		return e.val, nil
	}
	return m.await(ctx, s, key, e, mk, mine)
}

// await waits for mk, the making of e, key's entry, running Make first if
// the call is the one that added e (mine).
func (m *Map[K, V]) await(ctx context.Context, s *shard[K, V], key K, e *entry[V], mk *making, mine bool) (V, error) {
	var zero V
	if mine {
		if ctx.Done() == nil {
			m.makeValue(s, key, e, mk)
		} else {
			go m.makeValue(s, key, e, mk)
		}
	}
	select {
	case <-mk.done:
	case <-ctx.Done():
		return zero, &WaitError{Cause: context.Cause(ctx)}
	}
	if mine && mk.panicked != nil {
		panic(mk.panicked)
	}
	if mk.err != nil {
		return zero, mk.err
	}
	return e.val, nil
}

// shard returns key's shard.
func (m *Map[K, V]) shard(key K) *shard[K, V] {
	return &m.shards[maphash.Comparable(m.seed, key)&(shardCount-1)]
}

// Remove drops key's value, and reports whether the map held one. An
// entry being made keeps its slot until Make returns.
func (m *Map[K, V]) Remove(key K) bool {
	s := m.shard(key)
	s.mu.RLock()
	e := s.m[key]
	s.mu.RUnlock()
	return e != nil && m.drop(key, e, Removed)
}

// Len returns how many values the map holds, those being made included.
func (m *Map[K, V]) Len() int { return int(m.entries.Load()) }
