package cache

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// provider stands for the code above a Source: each fetch takes the next
// answer from its answers channel (or from answer, if set), and every
// event is kept.
type provider struct {
	answers chan answer
	answer  func(n int) answer // used when set, instead of answers

	mu      sync.Mutex
	fetches int
	probes  int
	events  []Kind
}

type answer struct {
	tok   *oauth2.Token
	err   error
	panic any
}

func (p *provider) Fetch(ctx context.Context, probe bool) (*oauth2.Token, error) {
	p.mu.Lock()
	p.fetches++
	n := p.fetches
	if probe {
		p.probes++
	}
	p.mu.Unlock()
	var a answer
	if p.answer != nil {
		a = p.answer(n)
	} else {
		a = <-p.answers
	}
	if a.panic != nil {
		panic(a.panic)
	}
	return a.tok, a.err
}

func (p *provider) RetryAfter(error) time.Duration { return 0 }

func (p *provider) Report(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, e.Kind)
}

func (p *provider) counts() (fetches, probes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches, p.probes
}

func (p *provider) reported(k Kind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if e == k {
			return true
		}
	}
	return false
}

// lasting answers with a token named name that lives d from now.
func lasting(name string, d time.Duration) answer {
	return answer{tok: &oauth2.Token{AccessToken: name, Expiry: time.Now().Add(d)}}
}

func newSource(p *provider) *Source {
	return New(context.Background(), p, nil, &Options{ExpiryDelta: 10 * time.Second, CoolDown: 2 * time.Second,
		MaxCoolDown: time.Minute})
}

func TestAHitAsksNothingAndTokenGivesACopy(t *testing.T) {
	p := &provider{answer: func(n int) answer { return lasting("a", time.Hour) }}
	s := newSource(p)
	first, err := s.TokenContext(context.Background())
	require.NoError(t, err)
	for range 100 {
		tok, err := s.TokenContext(context.Background())
		require.NoError(t, err)
		assert.Same(t, first, tok, "the source's own token, no copy")
	}
	a, err := s.Token()
	require.NoError(t, err)
	b, err := s.Token()
	require.NoError(t, err)
	assert.NotSame(t, a, b, "each caller of Token gets a copy of its own")
	assert.NotSame(t, first, a)
	assert.Equal(t, *first, *a)
	fetches, _ := p.counts()
	assert.Equal(t, 1, fetches)
}

func TestCallersOfAMissShareOneFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &provider{answers: make(chan answer)}
		s := newSource(p)
		var wg sync.WaitGroup
		got := make([]string, 16)
		for i := range got {
			wg.Go(func() {
				tok, err := s.TokenContext(context.Background())
				if assert.NoError(t, err) {
					got[i] = tok.AccessToken
				}
			})
		}
		synctest.Wait() // every caller waits on the one fetch
		assert.True(t, s.Fetching())
		p.answers <- lasting("a", time.Hour)
		wg.Wait()
		for _, g := range got {
			assert.Equal(t, "a", g)
		}
		fetches, _ := p.counts()
		assert.Equal(t, 1, fetches)
	})
}

func TestARenewalStartsInTheWindowAndNobodyWaitsForIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &provider{answers: make(chan answer, 1)}
		s := newSource(p)
		p.answers <- lasting("a", 10*time.Minute) // window: its last 5 minutes
		_, err := s.TokenContext(context.Background())
		require.NoError(t, err)

		time.Sleep(4*time.Minute + 59*time.Second)
		tok, _ := s.TokenContext(context.Background())
		assert.Equal(t, "a", tok.AccessToken)
		synctest.Wait()
		fetches, _ := p.counts()
		assert.Equal(t, 1, fetches, "outside the window, a call renews nothing")

		time.Sleep(2 * time.Second)
		tok, _ = s.TokenContext(context.Background()) // the renewal starts, and blocks on answers
		assert.Equal(t, "a", tok.AccessToken, "the call is served the current token")
		synctest.Wait()
		assert.True(t, s.Fetching())
		assert.True(t, p.reported(RenewalStarted))
		tok, _ = s.TokenContext(context.Background())
		assert.Equal(t, "a", tok.AccessToken, "so are the calls during the renewal")

		p.answers <- lasting("b", 10*time.Minute)
		synctest.Wait()
		tok, _ = s.TokenContext(context.Background())
		assert.Equal(t, "b", tok.AccessToken)
		fetches, _ = p.counts()
		assert.Equal(t, 2, fetches)
	})
}

func TestPastItsMarginATokenIsNotServed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &provider{answers: make(chan answer, 1)}
		s := newSource(p)
		p.answers <- lasting("a", 10*time.Minute)
		_, err := s.TokenContext(context.Background())
		require.NoError(t, err)

		time.Sleep(10*time.Minute - 5*time.Second) // nobody called in its window; now within its 10 s margin
		p.answers <- lasting("b", 10*time.Minute)
		tok, err := s.TokenContext(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "b", tok.AccessToken, "the call waited for a new token")
		assert.True(t, p.reported(Waited))
	})
}

func TestAFailedFetchCoolsDownThenOneProbeIsSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failure := errors.New("tokensource: provider down")
		p := &provider{answers: make(chan answer, 1)}
		s := newSource(p)
		p.answers <- answer{err: failure}
		_, err := s.TokenContext(context.Background())
		require.ErrorIs(t, err, failure)

		_, err = s.TokenContext(context.Background())
		assert.ErrorIs(t, err, ErrCoolingDown, "answered from the cool-down")
		assert.ErrorIs(t, err, failure, "with the failure inside")
		fetches, _ := p.counts()
		assert.Equal(t, 1, fetches, "no request during the cool-down")

		time.Sleep(3 * time.Second) // CoolDown 2 s, ±25%
		p.answers <- lasting("a", time.Hour)
		tok, err := s.TokenContext(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "a", tok.AccessToken)
		fetches, probes := p.counts()
		assert.Equal(t, 2, fetches)
		assert.Equal(t, 1, probes, "the first fetch after a cool-down is a probe")
	})
}

func TestInvalidateDropsATokenThenPausesBeforeTheNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &provider{answer: func(n int) answer { return lasting(string(rune('a'+n-1)), time.Hour) }}
		s := newSource(p)
		a, _ := s.TokenContext(context.Background())
		assert.False(t, s.Invalidate(&oauth2.Token{AccessToken: "another"}), "not the current token")
		assert.True(t, s.Invalidate(a))
		b, _ := s.TokenContext(context.Background())
		assert.Equal(t, "b", b.AccessToken)
		assert.True(t, p.reported(Invalidated))

		assert.False(t, s.Invalidate(b), "within the pause (CoolDown) after a drop, the token stays")
		time.Sleep(2 * time.Second)
		assert.True(t, s.Invalidate(b))
		c, _ := s.TokenContext(context.Background())
		assert.Equal(t, "c", c.AccessToken)
		assert.False(t, s.Invalidate(c), "the pause has doubled")
		time.Sleep(3 * time.Second)
		assert.False(t, s.Invalidate(c))
		time.Sleep(time.Second)
		assert.True(t, s.Invalidate(c))
	})
}

func TestACallerThatStopsWaitingLeavesTheFetchToTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &provider{answers: make(chan answer)}
		s := newSource(p)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := s.TokenContext(ctx)
			done <- err
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		assert.True(t, s.Fetching(), "the fetch goes on")

		p.answers <- lasting("a", time.Hour)
		synctest.Wait()
		tok, err := s.TokenContext(context.Background())
		require.NoError(t, err)
		assert.Equal(t, "a", tok.AccessToken)
		fetches, _ := p.counts()
		assert.Equal(t, 1, fetches, "its outcome serves the next caller")
	})
}

func TestAPanicInAFetchReachesTheCallerThatStartedIt(t *testing.T) {
	p := &provider{answers: make(chan answer, 1)}
	s := newSource(p)
	p.answers <- answer{panic: "disk full"}
	assert.PanicsWithValue(t, "disk full", func() { _, _ = s.TokenContext(context.Background()) })
	_, err := s.TokenContext(context.Background())
	assert.ErrorIs(t, err, ErrCoolingDown, "the panic is a failure that cools down, not a fetch per call")
	fetches, _ := p.counts()
	assert.Equal(t, 1, fetches)
}
