package keyed_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fintechauth/tokensource/internal/keyed"
)

// recorder is a Maker of ints, each value a new number, that counts its
// calls by key and logs what the Map tells it. make, if set, makes the
// values instead.
type recorder struct {
	make func(key string) (int, error)

	mu     sync.Mutex
	calls  map[string]int
	busy   map[int]bool
	events []string // "added k v", "dropped k v why"
	last   atomic.Int64
}

func newRecorder() *recorder { return &recorder{calls: map[string]int{}, busy: map[int]bool{}} }

func (r *recorder) Make(key string) (int, error) {
	r.mu.Lock()
	r.calls[key]++
	r.mu.Unlock()
	if r.make != nil {
		return r.make(key)
	}
	return int(r.last.Add(1)), nil
}

func (r *recorder) Busy(v int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy[v]
}

func (r *recorder) Added(key string, v int) { r.log(fmt.Sprintf("added %s %d", key, v)) }

func (r *recorder) Dropped(key string, v int, why keyed.Reason) {
	r.log(fmt.Sprintf("dropped %s %d %s", key, v, why))
}

func (r *recorder) log(event string) {
	r.mu.Lock()
	r.events = append(r.events, event)
	r.mu.Unlock()
}

func (r *recorder) setBusy(v int, busy bool) {
	r.mu.Lock()
	r.busy[v] = busy
	r.mu.Unlock()
}

func (r *recorder) callsOf(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

// told returns the events logged since the last call.
func (r *recorder) told() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	events := r.events
	r.events = nil
	return events
}

// newMap returns a map of r's values, closed when t ends.
func newMap(t *testing.T, r *recorder, idle time.Duration, max int) *keyed.Map[string, int] {
	m := keyed.New[string, int](r, idle, max)
	t.Cleanup(m.Close)
	return m
}

// janitors counts the goroutines that maps run, in the whole process, by
// where they were created: one not yet running shows no other frame of its.
func janitors() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/fintechauth/tokensource/internal/keyed.(*Map[...]).startJanitor")
		}
		buf = make([]byte, 2*len(buf))
	}
}
