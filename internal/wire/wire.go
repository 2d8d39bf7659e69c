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
	"net/http"
	"slices"
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

// Request is one token request, prepared once and sent once per attempt.
type Request struct {
	Method   string
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
	b, _ := json.Marshal(body) // a map of strings always marshals
	return &Request{
		Method:  http.MethodPost,
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
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, body)
	if err != nil {
		return nil, fmt.Errorf("tokensource: building token request: %w", err)
	}
	for k, v := range r.Header {
		req.Header[k] = slices.Clone(v) // a RoundTripper may write to it
	}
	sent := time.Now()
	resp, err := sameHost(client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokensource: token request failed: %w", err)
	}
	raw, tooLarge, err := readBody(resp.Body)
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

// ErrRedirect refuses a redirect that would carry credentials elsewhere.
var ErrRedirect = errors.New("tokensource: redirect to another host or to plain http refused: it would carry the credentials there")

// sameHost returns a copy of c that follows a token endpoint's redirects
// only on the same host and never from https to http: net/http would
// forward headers such as Api-Secret, and resend a 307's JSON body, to any
// host. c's own redirect rule still applies.
func sameHost(c *http.Client) *http.Client {
	limited := *c
	limited.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != via[0].URL.Host || (via[0].URL.Scheme == "https" && req.URL.Scheme != "https") {
			return ErrRedirect
		}
		if c.CheckRedirect != nil {
			return c.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("tokensource: stopped after 10 redirects")
		}
		return nil
	}
	return &limited
}

// readBody reads at most MaxBody bytes of rc, drains a little more so the
// connection can be reused, and closes it.
func readBody(rc io.ReadCloser) (body []byte, tooLarge bool, err error) {
	defer rc.Close()
	body, err = io.ReadAll(io.LimitReader(rc, MaxBody+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > MaxBody {
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
		return body[:MaxBody], true, nil
	}
	return body, false, nil
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
