package tokensource_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func TestPoolNewSourceErrorIsNotKept(t *testing.T) {
	down := errors.New("database is down")
	calls := 0
	p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
		calls++
		if calls == 1 {
			return nil, down
		}
		if calls == 2 {
			return nil, nil
		}
		return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
	}, nil)
	t.Cleanup(p.Close)

	_, err := p.Token(t.Context(), "u")
	require.ErrorIs(t, err, down)
	assert.Equal(t, "tokensource: pool could not make a source: database is down", err.Error())
	assert.Equal(t, 0, p.Len())
	_, err = p.Token(t.Context(), "u")
	require.EqualError(t, err, "tokensource: newSource returned neither a source nor an error")
	assert.Equal(t, 0, p.Len())
	tok, err := p.Token(t.Context(), "u")
	require.NoError(t, err)
	assert.Equal(t, "tok", tok.AccessToken)
	assert.Equal(t, 3, calls)
	assert.Equal(t, 1, p.Len())
}

func TestPoolNewSourcePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		calls := 0
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			calls++
			if calls == 1 {
				<-release
				panic("boom")
			}
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
		}, nil)
		defer p.Close()
		var first any
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { first = recover() }()
			_, _ = p.Token(context.Background(), "u")
		}()
		synctest.Wait()
		var waiter error
		go func() { _, waiter = p.Token(context.Background(), "u") }()
		synctest.Wait()
		close(release)
		<-done
		synctest.Wait()
		assert.Equal(t, "boom", first, "the caller that made the call gets the panic")
		assert.EqualError(t, waiter, "tokensource: newSource panicked with a string")
		assert.Equal(t, 0, p.Len())
		_, err := p.Token(context.Background(), "u")
		require.NoError(t, err)
		assert.Equal(t, 2, calls)
	})
}

func TestPoolNewSourceThatEndsItsGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		calls := 0
		p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
			calls++
			if calls == 1 {
				<-release
				runtime.Goexit() // as t.Fatal or require in a helper does
			}
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
		}, nil)
		defer p.Close()
		go func() { _, _ = p.Token(context.Background(), "u") }()
		synctest.Wait()
		var waiter error
		go func() { _, waiter = p.Token(context.Background(), "u") }()
		synctest.Wait()
		close(release)
		synctest.Wait()
		assert.EqualError(t, waiter, "tokensource: newSource ended its goroutine (runtime.Goexit)")
		assert.Equal(t, 0, p.Len(), "nothing kept")
		_, err := p.Token(context.Background(), "u")
		require.NoError(t, err, "the next call makes the source")
		assert.Equal(t, 2, calls)
	})
}
