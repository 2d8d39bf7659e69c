// Package redisstore is a [tokensource.Store] on Redis, so that the
// replicas of a service share their tokens and failures: a fleet asks a
// provider for a token once per rollover, and probes a failing provider as
// often as one process would.
//
//	store, err := redisstore.New(redis.NewClient(&redis.Options{Addr: addr}),
//		redisstore.Options{EncryptionKey: key}) // 32 bytes, the same in every replica
//	cfg.Store = store
//
// Tokens are sealed with AES-256-GCM before they reach Redis, bound to
// their key, so a value that was tampered with, sealed with another key, or
// copied to another key is never served: reading it fails with
// [ErrUnreadable] (once per key for a key it does not hold, see
// Options.PreviousKeys), and the sources fetch on their own and say so.
// Keys hold no secret. An operation times out once Redis has answered nothing for
// Options.Timeout, and the sources fetch on their own while Redis is away.
//
// A Store is a [tokensource.StoreClaimer]: a rollover costs each replica
// about one round trip. A Lua script reads a key and takes its lock at
// once; another writes the outcome, lets go of the lock and, only if a
// replica waits, publishes the key on the channel Prefix + "written", to
// which each Store subscribes once, on its first Claim, with a connection
// of its own. A holder extends its lock while its fetch runs. The keys of
// one identity (Prefix{key}, Prefix{key}:lock, Prefix{key}:waiting) share a
// hash tag, so the scripts run on a Redis Cluster. docs/SCALE.md gives the
// load of a fleet, measured.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fintechauth/tokensource"
)

// Options configure a [Store].
type Options struct {
	// Prefix is put before every key, which follows it in braces (a hash
	// tag), and names the Store's channel. It must not hold { or }.
	// Optional; default "tokensource:".
	Prefix string
	// EncryptionKey, 32 bytes, seals every value with AES-256-GCM before it
	// reaches Redis. Every replica that shares tokens needs the same key,
	// or this one among its PreviousKeys. Required unless Plaintext is set.
	EncryptionKey []byte
	// PreviousKeys, 32 bytes each, still open the values they sealed,
	// while EncryptionKey seals every new one. Optional; default none.
	//
	// Rotate the key in two deploys, so that replicas of both read each
	// other's values: first add the new key to PreviousKeys everywhere;
	// then make it the EncryptionKey, with the old key in PreviousKeys.
	// Drop the old key in a later deploy.
	//
	// Each value names the key that sealed it by an id (an HMAC of a label
	// under the key, never the key). A value sealed with a key the Store
	// does not hold fails one Get per key id with ErrUnreadable, and counts
	// as none after that.
	//
	// Versions before PreviousKeys kept values under other key names: while
	// a deploy mixes them with this one, the two share nothing, and each
	// fetches on its own; no call fails.
	PreviousKeys [][]byte
	// Plaintext stores values unencrypted. It must be set explicitly when
	// EncryptionKey is empty, and excludes EncryptionKey and PreviousKeys.
	// Optional; default false.
	//
	// It trusts every Redis user who can read the prefix with the tokens,
	// and every one who can write it with the fleet: whoever writes a value
	// under the prefix chooses the token every replica sends, and the
	// cool-downs that keep them from asking for another. Give the prefix
	// to the service's own Redis user alone (its keys and pub/sub channels,
	// and the commands the Store runs, in its Lua scripts too), and let no
	// other user's key or channel patterns match it, the default user's
	// included:
	//
	//	ACL SETUSER tokens on >password resetkeys ~tokensource:* resetchannels &tokensource:* nocommands +get +set +del +pttl +eval +evalsha +publish +subscribe +unsubscribe +ping
	//
	// A Cluster client also needs +cluster|slots.
	Plaintext bool
	// Timeout bounds how long an operation waits while Redis answers
	// nothing, whatever the client's own timeouts; past it the sources
	// fetch on their own. An operation waiting for a connection of the
	// client's pool, or behind others while Redis answers them (a burst),
	// waits longer: that is not Redis being away. Optional; default 250ms.
	Timeout time.Duration
}

// Store is a tokensource.Store on Redis. It is safe for concurrent use.
type Store struct {
	client   redis.UniversalClient
	prefix   string
	keys     *keyring // nil for plaintext
	timeout  time.Duration
	turns    chan struct{} // one per connection of the client's pool: a command holds one while it runs
	answered atomic.Int64  // Unix ns of Redis's last answer
	watch    *watch
}

var _ tokensource.Store = (*Store)(nil)

// New returns a Store on client. It returns an error for a key that is not
// 32 bytes long or that repeats another, for neither a key nor Plaintext,
// and for a Prefix with a brace. It adds a hook to client that notes when
// Redis last answered (a connection made, a command answered); it runs as
// many operations at once as the client's pool has connections.
func New(client redis.UniversalClient, opts Options) (*Store, error) {
	s := &Store{client: client, prefix: opts.Prefix, timeout: opts.Timeout}
	switch {
	case client == nil:
		return nil, errors.New("redisstore: a Redis client is required")
	case opts.Timeout < 0:
		return nil, errors.New("redisstore: Options.Timeout must not be negative")
	case len(opts.EncryptionKey) == 0 && !opts.Plaintext:
		return nil, errors.New("redisstore: Options.EncryptionKey is required; set Options.Plaintext to store tokens unencrypted")
	case len(opts.EncryptionKey) != 0 && opts.Plaintext:
		return nil, errors.New("redisstore: Options.EncryptionKey and Options.Plaintext exclude each other")
	case strings.ContainsAny(opts.Prefix, "{}"):
		return nil, errors.New("redisstore: Options.Prefix must not hold { or }: each key's hash tag follows it")
	}
	var err error
	if s.keys, err = newKeyring(opts); err != nil {
		return nil, err
	}
	if s.prefix == "" {
		s.prefix = "tokensource:"
	}
	if s.timeout == 0 {
		s.timeout = 250 * time.Millisecond
	}
	s.turns = make(chan struct{}, poolSize(client))
	client.AddHook(progress{&s.answered})
	s.watch = &watch{client: client, channel: s.prefix + "written", waiting: map[string]*waits{}}
	return s, nil
}

// ErrUnreadable is matched, through errors.Is, by the error of a Get whose
// value this Store cannot open: sealed with another EncryptionKey (a
// replica configured apart from the others, or a key rotation under way),
// tampered with, or written in the other mode. The source then fetches on
// its own and tells its Notify and Observer, so that the mismatch shows;
// the value is never served. A value sealed with a key that is neither the
// EncryptionKey nor one of the PreviousKeys fails one Get per key id, and
// counts as none after that, so that the next token overwrites it.
var ErrUnreadable = errors.New("redisstore: a stored value does not open: another EncryptionKey, Plaintext setting or Prefix wrote it, or it was tampered with")

// Get returns the value at key, nil if there is none, or ErrUnreadable if
// it cannot be opened.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var sealed []byte
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		sealed, err = s.client.Get(ctx, s.names(key)[0]).Bytes()
		if errors.Is(err, redis.Nil) {
			sealed, err = nil, nil
		}
		return err
	})
	if err != nil || sealed == nil {
		return nil, err
	}
	return s.open(s.names(key)[0], sealed)
}

// Set seals value and stores it at key for ttl, and wakes the claims that
// wait for key.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	names := s.names(key)
	sealed := s.seal(names[0], value)
	return s.do(ctx, func(ctx context.Context) error {
		return set.Run(ctx, s.client, []string{names[0], names[2]}, sealed, max(ttl.Milliseconds(), 1), s.watch.channel, key).Err()
	})
}

// Lock takes the lock named key for ttl with SET NX (or over a lock without
// a ttl, which no Store set), and returns a function that deletes it only
// while it holds this call's random value, and wakes the claims waiting for
// key. When Lock fails (Redis slow or away) after it was sent, it deletes
// the lock in the background should its SET NX reach Redis after all.
func (s *Store) Lock(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	name, value := s.names(key)[1], hex.EncodeToString(b[:])
	var taken bool
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		taken, err = lock.Run(ctx, s.client, []string{name}, value, ttl.Milliseconds()).Bool()
		return err
	})
	if err != nil {
		if !errors.Is(err, errNoTurn) { // the SET NX may still reach Redis
			go s.abandon(key, value)
		}
		return nil, err
	}
	if !taken {
		return nil, nil
	}
	return func() {
		_ = s.do(context.WithoutCancel(ctx), func(ctx context.Context) error {
			return unlock.Run(ctx, s.client, s.names(key)[1:], value, s.watch.channel, key).Err()
		})
	}, nil
}

// abandon deletes key's lock if it holds value: a SET NX that failed or
// timed out on this side may still reach Redis, and leave a lock nobody
// lets go of until its ttl. It tries five times over about a second (more
// if Redis is slow), and stops once it has deleted it; a lock it misses
// expires with its ttl, as a dead holder's does.
func (s *Store) abandon(key, value string) {
	for wait := 50 * time.Millisecond; wait <= 800*time.Millisecond; wait *= 2 {
		var deleted int64
		err := s.do(context.Background(), func(ctx context.Context) error {
			var err error
			deleted, err = unlock.Run(ctx, s.client, s.names(key)[1:], value, s.watch.channel, key).Int64()
			return err
		})
		if err == nil && deleted == 1 {
			return
		}
		time.Sleep(wait)
	}
}

// lock takes a lock with SET NX PX; a lock without a ttl was not set by a
// Store, which always sets one, and is taken over rather than waited on.
var lock = redis.NewScript(`
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then return 1 end
if redis.call("PTTL", KEYS[1]) == -1 then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
return 0`)

// unlock deletes a lock only if it still holds the value of its taker,
// and then publishes the key if a claim waits for it. KEYS: the lock, its
// waiters' flag; ARGV: the taker's value, the channel, the key.
var unlock = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
if redis.call("DEL", KEYS[2]) == 1 then redis.call("PUBLISH", ARGV[2], ARGV[3]) end
return 1`)

// set stores a value, then publishes its key if a claim waits for it.
// KEYS: the value, its waiters' flag; ARGV: the value, its ttl in ms, the
// channel, the key.
var set = redis.NewScript(`redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
if redis.call("DEL", KEYS[2]) == 1 then redis.call("PUBLISH", ARGV[3], ARGV[4]) end return 1`)

// errNoTurn is the error of a call that never reached Redis: it waited for
// a turn until its context ended.
var errNoTurn = errors.New("redisstore: no connection free before the call ended")

// do runs op with the Store's timeout, and returns at the timeout even if
// the client does not heed its context. The timeout runs from op's turn,
// and only while Redis answers nothing: a command waiting for a
// connection of the client's pool, or behind others, while Redis answers
// them (a burst) waits for as long as ctx allows, and is not counted as
// Redis being away.
func (s *Store) do(ctx context.Context, op func(context.Context) error) error {
	wait := ctx
	if _, ok := ctx.Deadline(); !ok { // the Store's own background calls: a minute at most
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, maxHold)
		defer cancel()
	}
	select {
	case s.turns <- struct{}{}:
	case <-wait.Done():
		return fmt.Errorf("%w: %w", errNoTurn, context.Cause(wait))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() { <-s.turns }()
		err := op(ctx)
		if err == nil || errors.Is(err, redis.Nil) {
			s.answered.Store(time.Now().UnixNano())
		}
		done <- err
	}()
	silence := time.NewTimer(s.timeout)
	defer silence.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("redisstore: %w", err)
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("redisstore: no answer from Redis before the call ended: %w", context.Cause(ctx))
		case <-silence.C:
			if quiet := time.Since(time.Unix(0, s.answered.Load())); quiet < s.timeout {
				silence.Reset(s.timeout - quiet) // Redis answers others: a burst, not trouble
				continue
			}
			return fmt.Errorf("redisstore: no answer from Redis within %v: %w", s.timeout, context.DeadlineExceeded)
		}
	}
}

// progress is the client hook that tells a Store that Redis answers: a
// connection made, or a command answered.
type progress struct{ answered *atomic.Int64 }

func (p progress) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err == nil {
			p.answered.Store(time.Now().UnixNano())
		}
		return c, err
	}
}

func (p progress) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (p progress) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// poolSize is the size of client's pool of connections (per node of a
// Cluster), or go-redis's default.
func poolSize(client redis.UniversalClient) int {
	size := 0
	switch c := client.(type) {
	case *redis.Client:
		size = c.Options().PoolSize
	case *redis.ClusterClient:
		size = c.Options().PoolSize
	case *redis.Ring:
		size = c.Options().PoolSize
	}
	if size <= 0 {
		size = 10 * runtime.GOMAXPROCS(0)
	}
	return size
}
