package tokensource

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// poolKey is the context key of a pool key of type K.
type poolKey[K comparable] struct{}

// ContextWithKey returns a copy of ctx that carries key, for
// [Pool.Transport] of a pool with keys of type K to authorize a request
// with that context.
func ContextWithKey[K comparable](ctx context.Context, key K) context.Context {
	return context.WithValue(ctx, poolKey[K]{}, key)
}

// poolTransport authorizes requests with tokens of a pool's sources: for
// key if fixed, else for the key of each request's context.
type poolTransport[K comparable] struct {
	p     *Pool[K] // the Pool itself: an unreachable Pool's cleanup closes its map
	base  http.RoundTripper
	key   K
	fixed bool
}

func (t *poolTransport[K]) RoundTrip(req *http.Request) (*http.Response, error) {
	key, ok := t.key, t.fixed
	if !ok {
		key, ok = req.Context().Value(poolKey[K]{}).(K)
	}
	if !ok {
		closeBody(req.Body)
		return nil, fmt.Errorf("tokensource: the request's context has no %T key for the pool; set one with ContextWithKey", key)
	}
	src, err := t.p.source(req.Context(), key)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	return (&Transport{Source: src, Base: t.base}).RoundTrip(req)
}

// closeBody closes a request's body, as a RoundTripper must even when it
// fails.
func closeBody(body io.ReadCloser) {
	if body != nil {
		body.Close()
	}
}
