// Package tokensourcetest provides fakes of the token endpoints that
// package tokensource talks to, for testing code that uses them without an
// account or a network beyond loopback.
//
// Each fake checks what the real endpoint checks (method, path, headers or
// JSON body fields, credentials) and answers with the provider's own
// success and error bodies. Its [Endpoint] counts and records requests and
// plays a fault script:
//
//	fake := tokensourcetest.NewFliqa(t) // closed when the test ends
//	fake.FailNext(2, http.StatusServiceUnavailable, "")
//	cfg := &tokensource.FliqaConfig{
//		APIKey: fake.APIKey, APISecret: fake.APISecret,
//		Environment: fake.Environment, TenantSlug: fake.TenantSlug,
//		BaseURL: fake.URL,
//	}
//
// The fakes use the standard library only. Each is also an http.Handler,
// and their paths do not overlap, so one server can mount all three, as
// [NewFliqaHandler], [NewFlinksHandler] and [NewAbbeyCrossHandler] give them.
// [NewStore] returns a Store that sources share in memory, as the
// replicas of a service share one through Redis.
package tokensourcetest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is a request an [Endpoint] received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Fields are the body's fields when it is a JSON object of strings.
	Fields map[string]string
}

// keep is how many requests an Endpoint remembers.
const keep = 100

// Endpoint is what every fake shares: the test server, the request count
// and record, the token lifetime and the fault script. Its methods are safe
// for concurrent use, and its zero value is ready to serve.
type Endpoint struct {
	// URL is the base URL of the fake's server, without a trailing slash;
	// empty when the fake is mounted on a server of your own.
	URL string

	srv      *httptest.Server
	mu       sync.Mutex
	count    int
	issued   int
	recent   []Request
	lifetime time.Duration
	latency  time.Duration
	faults   []fault
}

type fault struct {
	status     int
	retryAfter string
	drop       bool
}

// start serves h, the fake that embeds e, on a loopback test server,
// closed by tb's cleanup when tb is not nil.
func (e *Endpoint) start(tb testing.TB, h http.Handler) {
	e.srv = httptest.NewServer(h)
	e.URL = e.srv.URL
	if tb != nil {
		tb.Cleanup(e.Close)
	}
}

// Close shuts the fake's server down. It is safe to call more than once.
func (e *Endpoint) Close() {
	if e.srv != nil {
		e.srv.Close()
	}
}

// Requests returns how many requests the fake has received.
func (e *Endpoint) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count
}

// Recent returns the last requests received, oldest first, at most 100.
func (e *Endpoint) Recent() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.recent...)
}

// Last returns the last request received, or a zero Request.
func (e *Endpoint) Last() Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.recent) == 0 {
		return Request{}
	}
	return e.recent[len(e.recent)-1]
}

// SetLifetime sets the lifetime of the tokens issued from now on.
func (e *Endpoint) SetLifetime(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lifetime = d
}

// SetLatency delays every answer by d.
func (e *Endpoint) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// FailNext makes the next n requests answer status with the provider's
// error body, and a Retry-After header when retryAfter is not empty.
func (e *Endpoint) FailNext(n, status int, retryAfter string) {
	e.script(n, fault{status: status, retryAfter: retryAfter})
}

// DropNext makes the next n requests end with the connection closed and
// no answer.
func (e *Endpoint) DropNext(n int) { e.script(n, fault{drop: true}) }

func (e *Endpoint) script(n int, f fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range n {
		e.faults = append(e.faults, f)
	}
}

// answer is what a fake says to one request: a status and a JSON body.
type answer struct {
	status int
	body   any
}

// serve records r, plays the fault script, and otherwise answers with
// provider. fail writes the provider's error body for a scripted status.
func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request, provider func(Request) answer, fail func(status int) any) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	if json.Unmarshal(body, &req.Fields) != nil {
		req.Fields = nil
	}
	e.mu.Lock()
	e.count++
	e.recent = append(e.recent, req)
	if len(e.recent) > keep {
		e.recent = e.recent[1:]
	}
	latency := e.latency
	var f fault // the zero fault: answer normally
	if len(e.faults) > 0 {
		f, e.faults = e.faults[0], e.faults[1:]
	}
	e.mu.Unlock()

	if latency > 0 {
		time.Sleep(latency)
	}
	a := answer{}
	switch {
	case f.drop:
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // a reset, as a dropped connection gives
			}
			conn.Close()
		}
		return
	case f.status != 0:
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		a = answer{f.status, fail(f.status)}
	default:
		a = provider(req)
	}
	var out bytes.Buffer
	_ = json.NewEncoder(&out).Encode(a.body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = w.Write(out.Bytes())
}

// isJSON reports whether header declares a JSON body: a Content-Type of
// application/json in any casing, with any parameters, such as
// "application/json; charset=utf-8".
func isJSON(header http.Header) bool {
	mediaType, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	return err == nil && mediaType == "application/json"
}

// issue numbers a new token and returns the number and the lifetime, or
// def when none was set.
func (e *Endpoint) issue(def time.Duration) (int, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.issued++
	if e.lifetime > 0 {
		def = e.lifetime
	}
	return e.issued, def
}
