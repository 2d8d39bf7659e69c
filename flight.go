package tokensource

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/oauth2"
)

// flight lets the callers of a source of the user's share one call of its
// Token: a caller that stops waiting leaves nothing behind but that call,
// even if the source never returns. Its zero value is ready.
type flight struct {
	mu  sync.Mutex // guards cur
	cur *tokenCall // the running call, nil if none
}

// tokenCall is one call of a source's Token, which its callers wait for.
type tokenCall struct {
	done     chan struct{} // closed when Token returned
	tok      *oauth2.Token // shared by the callers: none may write to it
	err      error
	panicked any // re-panicked in the caller that started the call, if it still waits
}

// sharedSource is a source of the user's that a [Pool] holds, with the
// flight its callers share.
type sharedSource struct {
	src   oauth2.TokenSource
	calls flight
}

func (s *sharedSource) Token() (*oauth2.Token, error) {
	tok, err := s.calls.token(context.Background(), s.src)
	if tok == nil {
		return nil, err
	}
	return new(*tok), nil // shared by the call's callers
}

// token returns a token of src, joining the running call of it or starting
// one, and waits for it no longer than ctx allows. A caller whose context
// cannot end makes the call on its own goroutine.
func (f *flight) token(ctx context.Context, src oauth2.TokenSource) (*oauth2.Token, error) {
	f.mu.Lock()
	c, mine := f.cur, false
	if c == nil {
		c, mine = &tokenCall{done: make(chan struct{})}, true
		f.cur = c
	}
	f.mu.Unlock()
	if mine {
		if ctx.Done() == nil {
			f.run(c, src)
		} else {
			go f.run(c, src)
		}
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("tokensource: request ended while waiting for a token: %w", context.Cause(ctx))
	}
	if mine && c.panicked != nil {
		panic(c.panicked)
	}
	return c.tok, c.err
}

// run calls src.Token and ends c, even if Token panics or ends its
// goroutine.
func (f *flight) run(c *tokenCall, src oauth2.TokenSource) {
	returned := false
	defer func() {
		if !returned {
			c.panicked = recover() // nil after runtime.Goexit
			c.err = fmt.Errorf("tokensource: the token source (%T) ended its goroutine (runtime.Goexit)", src)
			if c.panicked != nil {
				c.err = fmt.Errorf("tokensource: the token source (%T) panicked with a %T", src, c.panicked)
			}
		}
		f.mu.Lock()
		f.cur = nil
		f.mu.Unlock()
		close(c.done)
	}()
	c.tok, c.err = src.Token()
	returned = true
}

// running reports whether a call runs.
func (f *flight) running() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur != nil
}
