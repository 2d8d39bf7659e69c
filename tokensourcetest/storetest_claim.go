package tokensourcetest

import (
	"bytes"
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

// anyValue is the fresh of a claim that takes the lock whatever the key
// holds, as a source's is.
const anyValue = time.Duration(math.MaxInt64)

// release is the release a Claim returns.
type release = func(ctx context.Context, value []byte, ttl time.Duration) error

// testClaim runs the checks of Claim, if newStore's Stores implement it.
func testClaim(t *testing.T, newStore func(t *testing.T) tokensource.Store) {
	if _, ok := newStore(t).(tokensource.StoreClaimer); !ok {
		t.Log("the Store does not implement tokensource.StoreClaimer: nothing to check")
		return
	}
	claimer := func(t *testing.T) tokensource.StoreClaimer { return newStore(t).(tokensource.StoreClaimer) }
	t.Run("FreshValue", func(t *testing.T) { testClaimFreshValue(t, claimer(t)) })
	t.Run("Free", func(t *testing.T) { testClaimFree(t, claimer(t)) })
	t.Run("HeldUntilWritten", func(t *testing.T) { testClaimHeld(t, claimer(t), []byte("v2")) })
	t.Run("HeldUntilLetGo", func(t *testing.T) { testClaimHeld(t, claimer(t), nil) })
	t.Run("HeldByLock", func(t *testing.T) { testClaimHeldByLock(t, claimer(t)) })
	t.Run("ReleaseIsOneStep", func(t *testing.T) { testReleaseIsOneStep(t, claimer(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrentClaims(t, claimer(t)) })
}

func testClaimFreshValue(t *testing.T, s tokensource.StoreClaimer) {
	key := newKey()
	set(t, s, key, []byte("v"), time.Minute)
	value, rel, written := claim(t, s, key, 10*time.Second)
	if !bytes.Equal(value, []byte("v")) || rel != nil || written != nil {
		t.Fatalf("Claim of a value fresher than asked = %q, release %v, written %v; want %q and neither", value, rel != nil, written != nil, "v")
	}
	unlock := lock(t, s, key, time.Minute)
	if unlock == nil {
		t.Fatal("Claim of a fresh value took the lock")
	}
	unlock()
}

func testClaimFree(t *testing.T, s tokensource.StoreClaimer) {
	key := newKey()
	value, rel, written := claim(t, s, key, 0)
	if value != nil || rel == nil || written != nil {
		t.Fatalf("Claim of a missing key = %q, release %v, written %v; want nil, a release and no written", value, rel != nil, written != nil)
	}
	if other := lock(t, s, key, time.Minute); other != nil {
		t.Fatal("Lock after Claim took the lock returned an unlock: Claim and Lock share the lock named key")
	}
	releaseOrFail(t, rel, []byte("v1"))
	if got := get(t, s, key); !bytes.Equal(got, []byte("v1")) {
		t.Errorf("Get after release = %q, want %q", got, "v1")
	}

	// A value that expires within fresh is older than the caller's token:
	// the claim takes the lock, and returns it.
	value, rel, written = claim(t, s, key, 2*time.Minute)
	if !bytes.Equal(value, []byte("v1")) || rel == nil || written != nil {
		t.Fatalf("Claim of a stale value = %q, release %v, written %v; want %q, a release and no written", value, rel != nil, written != nil, "v1")
	}
	releaseOrFail(t, rel, nil)
	if got := get(t, s, key); !bytes.Equal(got, []byte("v1")) {
		t.Errorf("Get after release of nil = %q, want %q: nil stores nothing", got, "v1")
	}
	unlock := lock(t, s, key, time.Minute)
	if unlock == nil {
		t.Fatal("release did not let go of the lock")
	}
	unlock()
}

// testClaimHeld checks that a claim of a held lock gets written, closed
// once the holder releases value (nil: lets go without one).
func testClaimHeld(t *testing.T, s tokensource.StoreClaimer, value []byte) {
	key := newKey()
	set(t, s, key, []byte("v1"), time.Minute)
	_, holder, _ := claim(t, s, key, anyValue)
	if holder == nil {
		t.Fatal("Claim of a free lock returned no release")
	}
	got, rel, written := claim(t, s, key, anyValue)
	if !bytes.Equal(got, []byte("v1")) || rel != nil || written == nil {
		t.Fatalf("Claim of a held lock = %q, release %v, written %v; want %q, no release and a written", got, rel != nil, written != nil, "v1")
	}
	releaseOrFail(t, holder, value)
	await(t, written)
	if value == nil {
		_, rel, _ = claim(t, s, key, anyValue)
		if rel == nil {
			t.Fatal("Claim after the holder let go returned no release")
		}
		releaseOrFail(t, rel, nil)
		return
	}
	got, rel, written = claim(t, s, key, 10*time.Second)
	if !bytes.Equal(got, value) || rel != nil || written != nil {
		t.Errorf("Claim after the holder stored %q = %q, release %v, written %v; want the value alone", value, got, rel != nil, written != nil)
	}
}

// testClaimHeldByLock checks that Claim and Lock share the lock named key,
// and that a Claim's written closes once the key is written by Set or the
// lock let go of by Lock's unlock. It goes three rounds: a Store may tell
// late at first, as while a subscription starts.
func testClaimHeldByLock(t *testing.T, s tokensource.StoreClaimer) {
	for range 3 {
		key := newKey()
		unlock := lock(t, s, key, time.Minute)
		if unlock == nil {
			t.Fatal("Lock of a free lock returned a nil unlock")
		}
		_, rel, written := claim(t, s, key, anyValue)
		if rel != nil || written == nil {
			t.Fatalf("Claim of a lock that Lock holds: release %v, written %v; want no release and a written", rel != nil, written != nil)
		}
		set(t, s, key, []byte("v"), time.Minute)
		await(t, written)
		_, rel, written = claim(t, s, key, anyValue)
		if rel != nil || written == nil {
			t.Fatalf("Claim of a lock that Lock holds: release %v, written %v; want no release and a written", rel != nil, written != nil)
		}
		unlock()
		await(t, written)
		if _, rel, _ = claim(t, s, key, anyValue); rel == nil {
			t.Fatal("Claim after Lock's unlock returned no release")
		}
		releaseOrFail(t, rel, nil)
	}
}

// testReleaseIsOneStep checks that nobody takes a lock between its
// release's write and its letting go: every claim that takes the lock
// after the holder's release finds what the release stored.
func testReleaseIsOneStep(t *testing.T, s tokensource.StoreClaimer) {
	key := newKey()
	_, holder, _ := claim(t, s, key, anyValue)
	if holder == nil {
		t.Fatal("Claim of a free lock returned no release")
	}
	const n = 8
	var waiting, wg sync.WaitGroup
	waiting.Add(n)
	for range n {
		wg.Go(func() {
			first := true
			for end := time.Now().Add(StoreExpiryGrace); time.Now().Before(end); {
				value, rel, written, err := s.Claim(context.Background(), key, time.Minute, anyValue)
				switch {
				case err != nil:
					t.Errorf("Claim: %v", err)
				case rel != nil:
					if !bytes.Equal(value, []byte("outcome")) {
						t.Errorf("a Claim took the lock and found %q, not what the holder's release stored", value)
					}
					if err := rel(context.Background(), nil, 0); err != nil {
						t.Errorf("release: %v", err)
					}
				case written != nil:
					if first {
						first = false
						waiting.Done()
					}
					select {
					case <-written:
					case <-time.After(time.Until(end)):
					}
					continue
				}
				if first {
					waiting.Done()
				}
				return
			}
			t.Errorf("a Claim found the lock held, or its written open, for %v after the holder's release", StoreExpiryGrace)
		})
	}
	waiting.Wait() // each claimer found the lock held at least once
	releaseOrFail(t, holder, []byte("outcome"))
	wg.Wait()
}

func testConcurrentClaims(t *testing.T, s tokensource.StoreClaimer) {
	key := newKey()
	const n = 16
	releases := make([]release, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range releases {
		wg.Go(func() {
			<-start
			var err error
			_, releases[i], _, err = s.Claim(context.Background(), key, time.Minute, 0)
			if err != nil {
				t.Errorf("Claim: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, rel := range releases {
		if rel != nil {
			won++
			releaseOrFail(t, rel, nil)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent Claims of one key: %d took the lock, want 1", n, won)
	}
}

// testColdStart starts twenty sources, as of twenty processes, sharing s,
// all at once while the provider takes 100ms to answer: they cost one
// token request, and all get its token.
func testColdStart(t *testing.T, s tokensource.Store) {
	fake := NewAbbeyCross(t)
	fake.SetLatency(100 * time.Millisecond) // all ask while the first fetch is under way
	sources := make([]oauth2.TokenSource, 20)
	for i := range sources { // a config each: no cache in common
		cfg := &tokensource.ClientCredentialsConfig{ClientID: fake.ClientID, ClientSecret: fake.ClientSecret,
			TokenURL: fake.URL + "/v1/oauth/token", Store: s}
		sources[i] = cfg.TokenSource(t.Context())
	}
	tokens := make([]string, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Go(func() {
			tok, err := src.Token()
			if err != nil {
				t.Errorf("Token: %v", err)
				return
			}
			tokens[i] = tok.AccessToken
		})
	}
	wg.Wait()
	if n := fake.Requests(); n != 1 {
		t.Errorf("a cold start of %d sources sharing the Store cost %d token requests, want 1", len(sources), n)
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Errorf("the sources got different tokens: %q and %q", tokens[0], tok)
			break
		}
	}
}

func claim(t *testing.T, s tokensource.StoreClaimer, key string, fresh time.Duration) ([]byte, release, <-chan struct{}) {
	t.Helper()
	value, rel, written, err := s.Claim(context.Background(), key, time.Minute, fresh)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return value, rel, written
}

func releaseOrFail(t *testing.T, rel release, value []byte) {
	t.Helper()
	ttl := time.Minute
	if value == nil {
		ttl = 0 // as a source lets go without an outcome
	}
	if err := rel(context.Background(), value, ttl); err != nil {
		t.Fatalf("release: %v", err)
	}
}

// await waits for written to close, for StoreExpiryGrace at most.
func await(t *testing.T, written <-chan struct{}) {
	t.Helper()
	timer := time.NewTimer(StoreExpiryGrace)
	defer timer.Stop()
	select {
	case <-written:
	case <-timer.C:
		t.Fatalf("written did not close within %v of the key's write or its lock's letting go", StoreExpiryGrace)
	}
}
