package redisstore_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// replicas runs a fleet in one test process: each replica has its own
// Redis client and Store, as separate processes have, and a source per
// identity (an AbbeyCross fake each) that a caller asks for a token every
// 10ms. It records which replica served which token, and when first.
type replicas struct {
	fakes []*tokensourcetest.AbbeyCross
	n     int
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	served   map[issued]map[int]time.Time
	failures []string
}

// issued names a token: the identity (the index of its fake) and its
// number, in the order the fake issued them.
type issued struct{ identity, n int }

// startReplicas starts a replica per store, on fakes whose tokens live
// lifetime; it stops them when t ends, if stop was not called.
func startReplicas(t *testing.T, stores []tokensource.Store, identities int, lifetime time.Duration) *replicas {
	r := &replicas{n: len(stores), stop: make(chan struct{}), served: map[issued]map[int]time.Time{}}
	for range identities {
		fake := tokensourcetest.NewAbbeyCross(t)
		fake.SetLifetime(lifetime)
		fake.SetLatency(20 * time.Millisecond)
		r.fakes = append(r.fakes, fake)
	}
	for i, store := range stores {
		for j, fake := range r.fakes {
			src := replicaConfig(fake, store).TokenSource(context.Background())
			r.wg.Go(func() { r.call(i, j, src) })
		}
	}
	t.Cleanup(r.halt)
	return r
}

// replicaConfig is an AbbeyCross config for a replica of a fleet: a
// budget short enough to go on without a store that stalls.
func replicaConfig(fake *tokensourcetest.AbbeyCross, store tokensource.Store) *tokensource.ClientCredentialsConfig {
	return &tokensource.ClientCredentialsConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
		TokenURL: fake.URL + "/v1/oauth/token", Store: store, ExpiryDelta: 500 * time.Millisecond,
		Retry: &tokensource.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond,
			MaxElapsedTime: 500 * time.Millisecond, MaxCoolDown: 400 * time.Millisecond}}
}

func (r *replicas) call(replica, identity int, src oauth2.TokenSource) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		tok, err := src.Token()
		now := time.Now()
		r.mu.Lock()
		if err != nil {
			r.failures = append(r.failures, fmt.Sprintf("replica %d, identity %d: %v", replica, identity, err))
		} else {
			n, _ := strconv.Atoi(strings.TrimPrefix(tok.AccessToken, "abbeycross-access-"))
			k := issued{identity, n}
			if r.served[k] == nil {
				r.served[k] = map[int]time.Time{}
			}
			if _, ok := r.served[k][replica]; !ok {
				r.served[k][replica] = now
			}
		}
		r.mu.Unlock()
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
	}
}

// halt stops the callers and waits for them.
func (r *replicas) halt() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
}

// requests returns the token requests each identity's fake got.
func (r *replicas) requests() []int {
	var out []int
	for _, f := range r.fakes {
		out = append(out, f.Requests())
	}
	return out
}

// waitRequests waits, a minute at most, until every identity's fake got n
// requests.
func (r *replicas) waitRequests(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(time.Minute); slices.Min(r.requests()) < n; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(end), "token requests %v, waiting for %d each", r.requests(), n)
	}
}

// unshared returns the tokens, but the last of each identity, that some
// replica never served, with when they were first served. When a
// rollover costs one fetch, every replica serves its token; a second fetch
// in a rollover gives a token that some replica never serves, as a token
// fetched alone does. The last token may not have reached every replica
// yet.
func (r *replicas) unshared() map[issued]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	last := map[int]int{}
	for k := range r.served {
		last[k.identity] = max(last[k.identity], k.n)
	}
	out := map[issued]time.Time{}
	for k, by := range r.served {
		if k.n < last[k.identity] && len(by) != r.n {
			out[k] = slices.MinFunc(slices.Collect(maps.Values(by)), time.Time.Compare)
		}
	}
	return out
}

// firstShared returns when a token that was first served after since was
// served by a second replica, the earliest such time; zero if none was.
func (r *replicas) firstShared(since time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first time.Time
	for _, by := range r.served {
		times := slices.SortedFunc(maps.Values(by), time.Time.Compare)
		if len(times) >= 2 && times[0].After(since) && (first.IsZero() || times[1].Before(first)) {
			first = times[1]
		}
	}
	return first
}

// failed returns the calls that failed.
func (r *replicas) failed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}
