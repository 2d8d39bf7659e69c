package tokensourcetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/fintechauth/tokensource"
)

// TestStore checks that the Stores newStore returns keep the contract that
// package tokensource documents on [tokensource.Store] and, for a Store
// that implements [tokensource.StoreClaimer], on Claim; and that twenty
// sources sharing one cost a provider one token request on a cold start.
// Each check is a subtest. Run it from a test of the Store's own package,
// as golang.org/x/net/nettest.TestConn is run for a connection:
//
//	func TestMyStore(t *testing.T) {
//		tokensourcetest.TestStore(t, func(t *testing.T) tokensource.Store {
//			return mystore.New(db)
//		})
//	}
//
// newStore is called once per subtest, and should register any cleanup
// with t.Cleanup. Its Stores may share their data (one Redis, one table):
// every subtest uses random keys of its own, shaped as a source's.
//
// Values and locks are given ttls of a few hundred milliseconds and are
// checked, by the wall clock, to live at least that long and to be gone
// within [StoreExpiryGrace] after; a Store may round a ttl up, not down.
// The subtests run one after another, in under a second on a local
// Redis.
//
// Two parts of the contract are not checked, as no Store method can set
// them up: that Claim takes over a lock without expiry (a Store always
// sets one), and that a claimed lock that its holder stops extending
// expires (a holder cannot die within one process).
func TestStore(t *testing.T, newStore func(t *testing.T) tokensource.Store) {
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, newStore(t)) })
	t.Run("SetGet", func(t *testing.T) { testSetGet(t, newStore(t)) })
	t.Run("ValueExpires", func(t *testing.T) { testValueExpires(t, newStore(t)) })
	t.Run("LockIsExclusive", func(t *testing.T) { testLockIsExclusive(t, newStore(t)) })
	t.Run("LockExpires", func(t *testing.T) { testLockExpires(t, newStore(t)) })
	t.Run("LocksAndValuesApart", func(t *testing.T) { testLocksAndValuesApart(t, newStore(t)) })
	t.Run("ConcurrentLocks", func(t *testing.T) { testConcurrentLocks(t, newStore(t)) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, newStore) })
	t.Run("ColdStart", func(t *testing.T) { testColdStart(t, newStore(t)) })
}

// StoreExpiryGrace is how long after its ttl [TestStore] waits for a value
// or a lock to be gone.
const StoreExpiryGrace = 2 * time.Second

// shortTTL is the ttl of the values and locks that TestStore waits out.
const shortTTL = 150 * time.Millisecond

// newKey returns a random key shaped as a source's: a kind and a SHA-256
// hash in hex.
func newKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails
	return "oauth:" + hex.EncodeToString(b[:])
}

func testGetMissing(t *testing.T, s tokensource.Store) {
	got := get(t, s, newKey())
	if got != nil {
		t.Errorf("Get of a key never set = %q, want nil", got)
	}
}

func testSetGet(t *testing.T, s tokensource.Store) {
	key, other := newKey(), newKey()
	set(t, s, key, []byte(`{"token":"one"}`), time.Minute)
	if got := get(t, s, key); !bytes.Equal(got, []byte(`{"token":"one"}`)) {
		t.Errorf("Get after Set = %q, want %q", got, `{"token":"one"}`)
	}
	set(t, s, key, []byte(`{"token":"two"}`), time.Minute)
	if got := get(t, s, key); !bytes.Equal(got, []byte(`{"token":"two"}`)) {
		t.Errorf("Get after a second Set = %q, want %q", got, `{"token":"two"}`)
	}
	if got := get(t, s, other); got != nil {
		t.Errorf("Get of another key = %q, want nil", got)
	}
}

func testValueExpires(t *testing.T, s tokensource.Store) {
	key := newKey()
	start := time.Now()
	set(t, s, key, []byte("v"), shortTTL)
	expires(t, "the value", start, shortTTL, func() bool { return get(t, s, key) != nil })
}

func testLockIsExclusive(t *testing.T, s tokensource.Store) {
	key := newKey()
	first := lock(t, s, key, time.Minute)
	if first == nil {
		t.Fatal("Lock of a free lock returned a nil unlock")
	}
	if other := lock(t, s, key, time.Minute); other != nil {
		t.Fatal("Lock of a held lock returned an unlock")
	}
	first()
	second := lock(t, s, key, time.Minute)
	if second == nil {
		t.Fatal("Lock after unlock returned a nil unlock")
	}
	first() // no longer first's: it must not free second's lock
	if other := lock(t, s, key, time.Minute); other != nil {
		t.Error("a second call of an unlock freed the next holder's lock")
	}
	second()
}

func testLockExpires(t *testing.T, s tokensource.Store) {
	key := newKey()
	start := time.Now()
	expired := lock(t, s, key, shortTTL)
	if expired == nil {
		t.Fatal("Lock of a free lock returned a nil unlock")
	}
	var next func()
	expires(t, "the lock", start, shortTTL, func() bool {
		next = lock(t, s, key, time.Minute)
		return next == nil
	})
	if next == nil {
		return
	}
	expired() // too late: the lock is next's
	if other := lock(t, s, key, time.Minute); other != nil {
		t.Error("the unlock of an expired lock freed the lock of the one who took it over")
	}
	next()
}

func testLocksAndValuesApart(t *testing.T, s tokensource.Store) {
	key := newKey()
	unlock := lock(t, s, key, time.Minute)
	if unlock == nil {
		t.Fatal("Lock of a free lock returned a nil unlock")
	}
	if got := get(t, s, key); got != nil {
		t.Errorf("Get of a key whose lock is held = %q, want nil: a lock is no value", got)
	}
	set(t, s, key, []byte("v"), time.Minute)
	if other := lock(t, s, key, time.Minute); other != nil {
		t.Error("Set freed the lock of its key")
	}
	unlock()
	if got := get(t, s, key); !bytes.Equal(got, []byte("v")) {
		t.Errorf("Get after unlock of the key's lock = %q, want %q: unlock deletes no value", got, "v")
	}
	again := lock(t, s, key, time.Minute)
	if again == nil {
		t.Fatal("Lock of a key holding a value returned a nil unlock: a value is no lock")
	}
	defer again()
	if other := lock(t, s, newKey(), time.Minute); other == nil {
		t.Error("Lock of another key returned a nil unlock: locks are per key")
	}
}

func testConcurrentLocks(t *testing.T, s tokensource.Store) {
	key := newKey()
	const n = 16
	unlocks := make([]func(), n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range unlocks {
		wg.Go(func() {
			<-start
			var err error
			unlocks[i], err = s.Lock(context.Background(), key, time.Minute)
			if err != nil {
				t.Errorf("Lock: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, unlock := range unlocks {
		if unlock != nil {
			won++
			unlock()
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent Locks of one lock: %d took it, want 1", n, won)
	}
}

// expires checks that present reports true while less than ttl has passed
// since start, before the value or lock was stored, and false within
// StoreExpiryGrace after. A present that reports false ends the wait.
func expires(t *testing.T, what string, start time.Time, ttl time.Duration, present func() bool) {
	t.Helper()
	for {
		p := present()
		elapsed := time.Since(start) // the Store looked after start and before now
		switch {
		case !p && elapsed < ttl-ttl/20: // a twentieth for the Store's clock granularity
			t.Errorf("%s is gone %v after it was stored with a ttl of %v", what, elapsed, ttl)
			return
		case !p:
			return
		case elapsed > ttl+StoreExpiryGrace:
			t.Errorf("%s is still there %v after it was stored with a ttl of %v", what, elapsed, ttl)
			return
		}
		time.Sleep(5 * time.Millisecond) // the Store's clock, maybe Redis's: nothing to wait on but time
	}
}

func get(t *testing.T, s tokensource.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return v
}

func set(t *testing.T, s tokensource.Store, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), key, value, ttl); err != nil {
		t.Fatalf("Set: %v", err)
	}
}

func lock(t *testing.T, s tokensource.Store, key string, ttl time.Duration) func() {
	t.Helper()
	unlock, err := s.Lock(context.Background(), key, ttl)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	return unlock
}
