package tokensource_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

type panickingObserver struct{ calls atomic.Int32 }

func (o *panickingObserver) Observe(tokensource.Event) {
	o.calls.Add(1)
	panic("observer")
}

func TestPoolRecoversObserverPanic(t *testing.T) {
	obs := &panickingObserver{}
	m := newMaker()
	p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 1, Observer: obs})
	_, err := p.Token(t.Context(), "a")
	require.NoError(t, err)
	_, err = p.Token(t.Context(), "b")
	require.NoError(t, err)
	assert.True(t, p.Remove("b"))
	p.Close()
	assert.Equal(t, int32(4), obs.calls.Load(), "added a, added b, dropped a, removed b")
}

// callingObserver calls its pool's Token for a key of its own from the
// first SourceDropped of each reason, and records what it got.
type callingObserver struct {
	p    *tokensource.Pool[string]
	mu   sync.Mutex
	errs map[string]error
}

func (o *callingObserver) Observe(e tokensource.Event) {
	if e.Kind != tokensource.SourceDropped {
		return
	}
	o.mu.Lock()
	_, called := o.errs[e.Reason]
	if !called {
		o.errs[e.Reason] = nil
	}
	o.mu.Unlock()
	if called {
		return
	}
	_, err := o.p.Token(context.Background(), "observer-"+e.Reason)
	o.mu.Lock()
	o.errs[e.Reason] = err
	o.mu.Unlock()
}

func TestPoolObserverMayCallThePool(t *testing.T) {
	t.Run("capacity, removed, closed", func(t *testing.T) {
		m := newMaker()
		obs := &callingObserver{errs: map[string]error{}}
		p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{MaxSources: 2, Observer: obs})
		obs.p = p
		done := make(chan struct{})
		go func() { // a deadlock fails the test, not the run
			defer close(done)
			for _, key := range []string{"a", "b", "c"} { // c drops a: the observer adds a key, which drops b
				_, err := p.Token(context.Background(), key)
				assert.NoError(t, err)
			}
			assert.Equal(t, 2, p.Len())
			assert.True(t, p.Remove("c"))
			p.Close()
		}()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatal("the pool deadlocked: it told its observer under a lock")
		}
		assert.Equal(t, map[string]error{"capacity": nil, "removed": nil, "closed": tokensource.ErrPoolClosed}, obs.errs)
		assert.Equal(t, 1, m.callsOf("observer-capacity"))
		assert.Equal(t, 0, p.Len())
	})
	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m := newMaker()
			obs := &callingObserver{errs: map[string]error{}}
			p := tokensource.NewPool(m.newSource, &tokensource.PoolOptions{IdleTimeout: time.Minute, Observer: obs})
			obs.p = p
			defer p.Close()
			_, err := p.Token(context.Background(), "a")
			require.NoError(t, err)
			time.Sleep(90 * time.Second) // a goes at 60s; the observer's key would at 120s
			synctest.Wait()
			assert.Equal(t, map[string]error{"idle": nil}, obs.errs)
			assert.Equal(t, 1, p.Len(), "the observer's key")
		})
	})
}

func TestPoolEventsNameProviderAndKey(t *testing.T) {
	fake := tokensourcetest.NewFliqa(t)
	newSource := func(slug string) (oauth2.TokenSource, error) {
		if slug == "own" {
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "tok"}), nil
		}
		return (&tokensource.FliqaConfig{APIKey: fake.APIKey, APISecret: fake.APISecret, Environment: fake.Environment,
			TenantSlug: fake.TenantSlug, BaseURL: fake.URL}).TokenSource(context.Background()), nil // the fake's one tenant
	}
	for _, tc := range []struct {
		name    string
		keyName func(any) string
		want    []string
	}{
		{"keys unnamed by default", nil, []string{"source_added fliqa ", "source_added  ", "source_dropped fliqa ",
			"source_dropped  "}},
		{"keys named", func(k any) string { return "tenant " + k.(string) }, []string{"source_added fliqa tenant acme",
			"source_added  tenant own", "source_dropped fliqa tenant acme", "source_dropped  tenant own"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &told{}
			p := tokensource.NewPool(newSource, &tokensource.PoolOptions{Observer: obs, KeyName: tc.keyName})
			for _, key := range []string{"acme", "own"} {
				_, err := p.Token(t.Context(), key)
				require.NoError(t, err)
			}
			require.True(t, p.Remove("acme"))
			require.True(t, p.Remove("own"))
			var got []string
			for _, e := range obs.all() {
				got = append(got, e.Kind.String()+" "+string(e.Provider)+" "+e.Key)
			}
			assert.Equal(t, tc.want, got)
			p.Close()
		})
	}
}
