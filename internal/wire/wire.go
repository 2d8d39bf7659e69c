// Package wire is the token request on the wire: sending it, reading and
// decoding the answer, and keeping the request's secrets out of whatever is
// reported. It knows nothing of retries or caches.
package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

const (
	// MaxBody is the largest response body read. A larger success body is
	// a failure, never a truncated token; a larger error body is kept
	// truncated.
	MaxBody = 1 << 20

	// DefaultLifetime is how long a token lives when its response says
	// nothing about its expiry.
	DefaultLifetime = 5 * time.Minute

	// MaxLifetime is the longest a token is kept by the expiry its
	// response states: a later one, such as a year-9999 "never", is cut to
	// it, so a token is fetched again at least daily and nothing stored for
	// it outlives it by years.
	MaxLifetime = 24 * time.Hour

	// MaxRetryAfter is the longest wait a Retry-After header can ask for;
	// a longer one, such as a value in milliseconds by mistake, is cut to it.
	MaxRetryAfter = 24 * time.Hour
)

// Request is one token request, prepared once and sent once per attempt:
// a GET without a Body, a POST with one.
type Request struct {
	URL      string
	Header   http.Header
	Body     []byte        // nil for no body
	Secrets  []string      // values to redact from anything reported
	Lifetime time.Duration // of a token whose response gives no expiry; 0 means DefaultLifetime
}

// jsonHeader is the header of every JSON request, shared by all of them:
// Send copies it into each request.
var jsonHeader = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}

// JSONRequest returns a POST of body as JSON to url.
func JSONRequest(url string, body map[string]string, secrets ...string) *Request {
	if body == nil {
		body = map[string]string{} // an object, never null
	}
	b, _ := json.Marshal(body) // a map of strings always marshals
	return &Request{
		URL:     url,
		Header:  jsonHeader,
		Body:    b,
		Secrets: secrets,
	}
}

// Failure is a response that did not yield a token: any non-2xx status,
// and a 2xx whose body is not a usable token. Its fields are read from the
// redacted body.
type Failure struct {
	Response *http.Response // its body read and closed
	Body     []byte         // at most MaxBody bytes, the request's secrets and the body's tokens redacted (see Redact)
	Fields
	RetryAfter time.Duration
	Err        error // why a 2xx is unusable; nil for non-2xx
}

func (f *Failure) Error() string {
	return fmt.Sprintf("token endpoint answered %d", f.Response.StatusCode)
}

// Send makes one HTTP request and turns its response into a token. A
// response that is not a usable token is a [*Failure]; a failure to get a
// response wraps the HTTP client's error.
func (r *Request) Send(ctx context.Context, client *http.Client) (*oauth2.Token, error) {
	req, err := r.build(ctx)
	if err != nil {
		return nil, fmt.Errorf("tokensource: building token request: %w", hideURL(err))
	}
	sent := time.Now()
	resp, err := sameHost(client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokensource: token request failed: %w", hideURL(err))
	}
	raw, tooLarge, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("tokensource: reading token response: %w", err)
	}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		err = nil
	case tooLarge:
		err = fmt.Errorf("response body exceeds %d bytes", MaxBody)
	default:
		var tok *oauth2.Token
		if tok, err = DecodeToken(raw, sent, r.Lifetime); err == nil {
			return tok, nil
		}
	}
	return nil, newFailure(resp, raw, r.Secrets, err)
}

// build returns the HTTP request of r, with a *bytes.Reader of Body and
// its own copy of the header.
func (r *Request) build(ctx context.Context) (*http.Request, error) {
	method := http.MethodGet
	if r.Body != nil {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, nil)
	if err != nil {
		return nil, err
	}
	if r.Header != nil {
		req.Header = r.Header.Clone() // a RoundTripper may write to it, never to r's
	}
	if r.Body == nil {
		return req, nil
	}
	b := r.Body
	req.GetBody = func() (io.ReadCloser, error) { // for a 307 or 308
		if len(b) == 0 {
			return http.NoBody, nil
		}
		return &bytesBody{*bytes.NewReader(b)}, nil
	}
	req.ContentLength = int64(len(b))
	req.Body, _ = req.GetBody()
	return req, nil
}

// RedactURL returns u as a string with its password and its query
// replaced by "xxxxx", as url.URL.Redacted does for the password alone: a
// token URL's query may carry a signature (?sig=…).
func RedactURL(u *url.URL) string {
	if u == nil || u.RawQuery == "" {
		return u.Redacted()
	}
	c := *u
	c.RawQuery = "xxxxx"
	return c.Redacted()
}

// hideURL masks, as RedactURL does, the URL named by err, an error of an
// HTTP client or of url.Parse, which is this request's own.
func hideURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = RedactURL(u)
		} else {
			ue.URL = "[unparsable URL]"
		}
	}
	return err
}

// bytesBody is a request body read from memory: its Close does nothing,
// and it takes one allocation.
type bytesBody struct{ bytes.Reader }

func (*bytesBody) Close() error { return nil }

// ErrRedirect refuses a redirect that would carry credentials elsewhere;
// package tokensource sets it to its own ErrRedirect.
var ErrRedirect = errors.New("tokensource: redirect to another host or to plain http refused: it would carry the credentials there")

// sameHost returns a copy of c that follows a token endpoint's redirects
// only on the same host and never from https to http: net/http would
// forward headers such as Api-Secret, and resend a 307's JSON body, to any
// host. c's own redirect rule still applies.
func sameHost(c *http.Client) *http.Client {
	limited := *c
	limited.CheckRedirect = sameHostOnly // without a closure: the copy is the one allocation
	if c.CheckRedirect != nil {
		limited.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if !sameOrigin(req, via) {
				return ErrRedirect
			}
			return c.CheckRedirect(req, via)
		}
	}
	return &limited
}

// sameHostOnly is the redirect rule of sameHost for a client without one,
// with net/http's default limit of 10 redirects.
func sameHostOnly(req *http.Request, via []*http.Request) error {
	if !sameOrigin(req, via) {
		return ErrRedirect
	}
	if len(via) >= 10 {
		return errors.New("tokensource: stopped after 10 redirects")
	}
	return nil
}

// sameOrigin reports whether the redirect req stays on the first request's
// host and port, and on https if that was.
func sameOrigin(req *http.Request, via []*http.Request) bool { return SameOrigin(via[0].URL, req.URL) }

// SameOrigin reports whether a request to next may carry the credentials
// of a request to first, which redirected to it: it goes to the same host
// and port, and not from https to plain http. The host is compared without
// case and the port with the scheme's default filled in, so
// "https://API.example" and "https://api.example:443" are one origin. It is
// the one rule for the token request's redirects and Transport's.
func SameOrigin(first, next *url.URL) bool {
	return hostPort(first) == hostPort(next) && (first.Scheme != "https" || next.Scheme == "https")
}

// hostPort is u's host and port, the scheme's default port if u has none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// readBody reads at most MaxBody bytes of rc, whose length is size if not
// negative, drains a little more so the connection can be reused, and
// closes it.
func readBody(rc io.ReadCloser, size int64) (body []byte, tooLarge bool, err error) {
	defer rc.Close()
	n := 512
	if size >= 0 && size <= MaxBody {
		n = int(size) + 1 // the byte past the end, so that io.EOF needs no larger array
	}
	body = make([]byte, 0, n)
	for len(body) <= MaxBody {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)] // let append choose the growth
		}
		var m int
		m, err = rc.Read(body[len(body):min(cap(body), MaxBody+1)])
		body = body[:len(body)+m]
		if err == io.EOF {
			if len(body) > MaxBody {
				break // a body that ends one byte over is too large all the same
			}
			return body, false, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	return body[:MaxBody], true, nil
}

// newFailure describes a response with body raw that did not yield a
// token. It redacts secrets and the tokens raw carries from the body, reads
// the fields from all of the redacted body, and keeps at most MaxBody bytes
// of it.
func newFailure(resp *http.Response, raw []byte, secrets []string, cause error) *Failure {
	body := Redact(raw, append(tokensIn(raw), secrets...))
	return &Failure{
		Response:   resp,
		Body:       body[:min(len(body), MaxBody)],
		Fields:     ErrorFields(body),
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After")),
		Err:        cause,
	}
}
