package tokensource_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/fintechauth/tokensource"
)

// endpoint is a token endpoint for one test: check asserts what every
// request must carry, and respond answers request n (from 1), given its
// JSON body. It counts requests and connections and records bodies.
type endpoint struct {
	*httptest.Server
	requests atomic.Int32
	conns    atomic.Int32
	mu       sync.Mutex
	bodies   []map[string]string
}

func newEndpoint(t *testing.T, check func(*http.Request), respond func(w http.ResponseWriter, body map[string]string, n int)) *endpoint {
	t.Helper()
	s := &endpoint{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.requests.Add(1))
		check(r)
		raw, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		var body map[string]string
		if len(raw) > 0 {
			assert.NoError(t, json.Unmarshal(raw, &body), "a JSON object of strings")
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, body)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		respond(w, body, n)
	}))
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// body returns the JSON body of request i (from 0).
func (s *endpoint) body(i int) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[i]
}

// ignoringBody adapts a responder that needs only the request number.
func ignoringBody(respond func(http.ResponseWriter, int)) func(http.ResponseWriter, map[string]string, int) {
	return func(w http.ResponseWriter, _ map[string]string, n int) { respond(w, n) }
}

// told records what Notify and an Observer are told; each panics once it
// has recorded, while its switch is set. Any test's Observer can be one.
type told struct {
	notifyPanics, observerPanics atomic.Bool

	mu     sync.Mutex
	notes  []string
	events []tokensource.Event
}

func (r *told) Notify(err error, _ time.Duration) {
	r.mu.Lock()
	r.notes = append(r.notes, err.Error())
	r.mu.Unlock()
	if r.notifyPanics.Load() {
		panic("notify: log full")
	}
}

func (r *told) Observe(e tokensource.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if r.observerPanics.Load() {
		panic("observer: exporter down")
	}
}

// notified returns what Notify was told, a line each.
func (r *told) notified() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.notes, "\n")
}

// all returns the events told so far.
func (r *told) all() []tokensource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// seen returns the events of kind k.
func (r *told) seen(k tokensource.EventKind) []tokensource.Event {
	var got []tokensource.Event
	for _, e := range r.all() {
		if e.Kind == k {
			got = append(got, e)
		}
	}
	return got
}

// counts returns how many events were told, by "kind" or "kind/reason".
func (r *told) counts() map[string]int {
	var got map[string]int
	for _, e := range r.all() {
		if got == nil {
			got = map[string]int{}
		}
		got[strings.TrimSuffix(e.Kind.String()+"/"+e.Reason, "/")]++
	}
	return got
}
