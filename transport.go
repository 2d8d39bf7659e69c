package tokensource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
	"github.com/fintechauth/tokensource/internal/wire"
)

// Transport is an http.RoundTripper that authorizes each request with a
// token from Source, as oauth2.Transport does, and does three things more:
//
//   - A request waits for a token only as long as its context allows: when
//     the context ends first, RoundTrip returns an error wrapping its cause,
//     and the fetch goes on for the other callers. With a cached source of
//     this package, a request that finds a valid token does not wait at all.
//     Over any other source, the requests share one call of its Token at a
//     time, so a source that never returns holds one goroutine, not one
//     per request.
//   - When the API answers 401, the token the request carried is
//     invalidated (see [Invalidate]) and the request is sent once more with
//     a new token, if its body can be sent again: it has none, or
//     Request.GetBody is set (http.NewRequest sets it for a bytes.Reader,
//     bytes.Buffer or strings.Reader). A 401 means the request was not
//     processed, so this is safe for any method. A second 401, or one whose
//     body cannot be replayed, is returned as it is. A 403 is a permission
//     answer and is returned as it is. The body of a 401 that is replayed
//     is closed unread, so an API that never finishes it cannot hold the
//     request; the replay may need a new connection.
//   - A redirect carries the token only to the host and port of the
//     original request, and never from https to plain http. Elsewhere the
//     redirected request is sent without it, as net/http drops a caller's
//     Authorization header there; the answer, typically 401, is returned
//     as it is and invalidates nothing. oauth2.Transport adds the token on
//     every hop.
//
// The configs' Client methods use it. A Transport must not be copied after
// first use.
type Transport struct {
	// Source supplies the tokens. Required.
	Source oauth2.TokenSource
	// Base sends the requests. Optional; default http.DefaultTransport.
	Base http.RoundTripper

	calls flight // of Source, unless it is a cached source of this package
}

// RoundTrip authorizes req and sends it, as described at [Transport].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		return nil, errors.New("tokensource: Transport.RoundTrip needs a request with a URL")
	}
	bodyClosed := false // by the base RoundTripper, once it has req
	if req.Body != nil {
		defer func() {
			if !bodyClosed {
				req.Body.Close()
			}
		}()
	}
	if t.Source == nil {
		return nil, errors.New("tokensource: Transport.Source is nil")
	}
	if !sameOrigin(req) {
		bodyClosed = true
		return t.roundTrip(req)
	}
	tok, err := t.token(req.Context())
	if err != nil {
		return nil, err
	}
	bodyClosed = true
	resp, err := t.send(req, req.Body, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	Invalidate(t.Source, tok)
	body := req.Body // nil or http.NoBody: nothing to replay
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	fresh, err := t.token(req.Context())
	if err != nil || fresh.AccessToken == tok.AccessToken {
		if body != nil {
			body.Close()
		}
		return resp, nil // no other token to try: the 401 stands
	}
	if resp.Body != nil {
		resp.Body.Close() // unread: an API may never finish it, and the replay must not wait for it
	}
	return t.send(req, body, fresh)
}

// token returns a token for a request with ctx, as waitToken does; send
// only reads it.
func (t *Transport) token(ctx context.Context) (*oauth2.Token, error) {
	return tokenOf(ctx, t.Source, &t.calls)
}

// tokenOf returns a token of src for a call with ctx, as waitToken does,
// with calls as src's flight, unless src is a pool's, which has its own
// (calls may then be nil).
func tokenOf(ctx context.Context, src oauth2.TokenSource, calls *flight) (*oauth2.Token, error) {
	if s, ok := src.(*sharedSource); ok { // shared by all the pool's requests for its key
		src, calls = s.src, &s.calls
	}
	tok, err := waitToken(ctx, src, calls)
	if tok == nil && err == nil {
		return nil, fmt.Errorf("tokensource: Transport.Source (%T) returned neither a token nor an error", src)
	}
	return tok, err
}

// waitToken returns a token of src, waiting for a fetch no longer than ctx
// allows; the fetch goes on for the other callers. A cached source of this
// package waits without a goroutine; any other source is called through
// calls, one call at a time. The token is shared with other callers, who
// must copy it before handing it out.
func waitToken(ctx context.Context, src oauth2.TokenSource, calls *flight) (*oauth2.Token, error) {
	if s, ok := src.(*cache.Source); ok {
		return s.TokenContext(ctx)
	}
	return calls.token(ctx, src)
}

// send sends a copy of req with body, authorized by tok. The copy is
// shallow but for its header, which is all it changes, as in
// oauth2.Transport: a RoundTripper must not modify the request.
func (t *Transport) send(req *http.Request, body io.ReadCloser, tok *oauth2.Token) (*http.Response, error) {
	r := *req
	r.Body = body
	r.Header = req.Header.Clone()
	if r.Header == nil { // as an http.Client would have set it
		r.Header = make(http.Header, 1)
	}
	tok.SetAuthHeader(&r)
	return t.roundTrip(&r)
}

// roundTrip sends req through Base, or http.DefaultTransport.
func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if resp == nil && err == nil {
		return nil, fmt.Errorf("tokensource: Transport.Base (%T) returned neither a response nor an error", base)
	}
	return resp, err
}

// sameOrigin reports whether req may carry a token: it is not a redirect,
// or it goes to the host and port of the request that was first redirected,
// and not from https to http. An http.Client sets req.Response on each
// redirected request, and the Transport sets Response.Request.
func sameOrigin(req *http.Request) bool {
	first := req
	for hops := 0; first.Response != nil; hops++ {
		if first.Response.Request == nil || first.Response.Request.URL == nil || hops > 100 {
			return false // where the chain began is unknown
		}
		first = first.Response.Request
	}
	for r := req; r != first; r = r.Response.Request { // once stripped, never put back
		if !wire.SameOrigin(first.URL, r.URL) {
			return false
		}
	}
	return true
}

// Invalidate tells src, a cached source of this package, that an API
// rejected tok: if tok is still src's current token, src drops it and its
// next call fetches another. Callers that already hold tok keep it. It
// reports whether src dropped tok: false when tok had already been
// replaced (so that many requests rejected for one token cost one new
// fetch), when src is not a cached source of this package, or within the
// pause after src dropped another token. That pause is
// RetryPolicy.CoolDown at first and doubles, up to MaxCoolDown, while
// the API rejects each new token too, so that an API that rejects every
// token does not cost a token request per API request.
// [Transport] calls it on every 401.
func Invalidate(src oauth2.TokenSource, tok *oauth2.Token) bool {
	s, ok := src.(*cache.Source)
	return ok && s.Invalidate(tok)
}

// NewClient returns an HTTP client that authorizes its requests with
// tokens from src through a [Transport], on the transport of the
// oauth2.HTTPClient value of ctx, as oauth2.NewClient does. Prefer it to
// oauth2.NewClient: a request rejected with 401 is sent again once with a
// new token, its context bounds its wait for a token, a redirect elsewhere
// does not carry the token, and no second cache hides src's renewal ahead
// of expiry. The configs' Client methods use it; it serves
// [RetryTokenSource] and any other source as well.
func NewClient(ctx context.Context, src oauth2.TokenSource) *http.Client {
	c := httpClient(ctx, nil)
	return withTransport(c, &Transport{Source: src, Base: c.Transport})
}

// withTransport returns a client with c's settings that sends with rt.
func withTransport(c *http.Client, rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: rt, CheckRedirect: c.CheckRedirect, Jar: c.Jar, Timeout: c.Timeout}
}
