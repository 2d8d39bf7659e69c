package tokensource_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

func TestPoolContextBoundsTheWait(t *testing.T) {
	t.Run("for a new source", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMaker()
			m.block = make(chan struct{})
			p := tokensource.NewPool(m.newSource, nil)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := p.Token(ctx, "u")
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.EqualError(t, err, "tokensource: call ended while waiting for a new source: context deadline exceeded")
			close(m.block) // the call goes on, for the next callers
			synctest.Wait()
			tok, err := p.Token(context.Background(), "u")
			require.NoError(t, err)
			assert.Equal(t, "tok-u-1", tok.AccessToken)
			assert.Equal(t, 1, m.callsOf("u"))
		})
	})
	t.Run("for a token", func(t *testing.T) {
		entered, release := make(chan struct{}, 1), make(chan struct{})
		fake := tokensourcetest.NewFliqa(t)
		gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-release
			fake.ServeHTTP(w, r)
		}))
		t.Cleanup(gate.Close)
		p := tokensource.NewPool(func(slug string) (oauth2.TokenSource, error) {
			return (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret, Environment: fake.Environment,
				TenantSlug: slug, BaseURL: gate.URL}).TokenSource(context.Background()), nil
		}, nil)
		t.Cleanup(p.Close)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-entered
			cancel()
		}()
		_, err := p.Token(ctx, fake.TenantSlug)
		require.ErrorIs(t, err, context.Canceled)
		close(release)
		tok, err := p.Token(t.Context(), fake.TenantSlug)
		require.NoError(t, err)
		assert.NotEmpty(t, tok.AccessToken)
		assert.Equal(t, 1, fake.Requests(), "the fetch went on")
	})
}

func TestPoolHitWhileAnotherKeyIsMade(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMaker()
		p := tokensource.NewPool(m.newSource, nil)
		defer p.Close()
		_, err := p.Token(context.Background(), "held")
		require.NoError(t, err)
		m.block = make(chan struct{})
		go func() { _, _ = p.Token(context.Background(), "new") }()
		synctest.Wait() // newSource of "new" is blocked
		tok, err := p.Token(context.Background(), "held")
		require.NoError(t, err)
		assert.Equal(t, "tok-held-1", tok.AccessToken)
		close(m.block)
	})
}

func TestPoolCallsShareOneCallOfASourceThatNeverReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &hangingSource{release: make(chan struct{})}
		p := tokensource.NewPool(func(string) (oauth2.TokenSource, error) { return src, nil }, nil)
		defer p.Close()
		client := p.Client(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: echoAuth}), "u")
		var wg sync.WaitGroup
		for i := range 1000 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				defer cancel()
				var err error
				if i%2 == 0 {
					_, err = p.Token(ctx, "u")
				} else {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/", nil)
					_, err = client.Do(req)
				}
				assert.ErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		wg.Wait()
		synctest.Wait()
		assert.Equal(t, 1, stacksWith("(*hangingSource).Token("), "one call left behind, not one per call")
		assert.Equal(t, int32(1), src.calls.Load())

		got := make(chan *oauth2.Token, 2)
		for range 2 {
			go func() {
				tok, err := p.Token(context.Background(), "u")
				assert.NoError(t, err)
				got <- tok
			}()
		}
		synctest.Wait()
		close(src.release)
		a, b := <-got, <-got
		assert.Equal(t, "late", a.AccessToken)
		assert.NotSame(t, a, b, "each caller's token is its own")
		assert.Equal(t, int32(1), src.calls.Load())
	})
}
