package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fintechauth/tokensource"
)

var _ tokensource.StoreClaimer = (*Store)(nil)

// claim reads a value and takes its lock in one round trip. KEYS: the
// value, its lock, its waiters' flag; ARGV: the lock's value, its ttl and
// the value's freshness, in ms. It answers the value and 0 (fresh: not
// locked), 1 (locked) or 2 (held by another, who is told to publish). A
// lock without a ttl was not set by a Store, which always sets one: it is
// taken over rather than waited on for ever.
var claim = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if v and redis.call("PTTL", KEYS[1]) > tonumber(ARGV[3]) then return {v, 0} end
if redis.call("SET", KEYS[2], ARGV[1], "NX", "PX", ARGV[2]) then return {v, 1} end
if redis.call("PTTL", KEYS[2]) == -1 then
	redis.call("SET", KEYS[2], ARGV[1], "PX", ARGV[2])
	return {v, 1}
end
redis.call("SET", KEYS[3], "1", "PX", ARGV[2])
return {v, 2}`)

// release stores a value, if ARGV[2] is not empty, and lets go of its
// lock if it still holds the taker's value, in one round trip; then it
// publishes the key if somebody waits for it. KEYS: as claim's; ARGV: the
// lock's value, the value, its ttl in ms, the channel, the key.
var release = redis.NewScript(`
if ARGV[2] ~= "" then redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3]) end
if redis.call("GET", KEYS[2]) == ARGV[1] then redis.call("DEL", KEYS[2]) end
if redis.call("DEL", KEYS[3]) == 1 then redis.call("PUBLISH", ARGV[4], ARGV[5]) end
return 1`)

// Claim implements [tokensource.StoreClaimer] in one round trip. A value
// that does not open is ErrUnreadable, and the lock is let go of. Waiters
// are told of the write through one subscription per Store, on the
// channel named Prefix + "written", which carries keys only.
func (s *Store) Claim(ctx context.Context, key string, ttl, fresh time.Duration) ([]byte,
	func(context.Context, []byte, time.Duration) error, <-chan struct{}, error) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	keys, token := s.names(key), hex.EncodeToString(b[:])
	ws := s.watch.register(key)
	var got []any
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		got, err = claim.Run(ctx, s.client, keys, token, ttl.Milliseconds(), fresh.Milliseconds()).Slice()
		return err
	})
	if err != nil {
		s.watch.done(key, ws)
		if !errors.Is(err, errNoTurn) { // the claim may still reach Redis
			go s.abandon(key, token)
		}
		return nil, nil, nil, err
	}
	var value []byte
	if v, ok := got[0].(string); ok {
		if value, err = s.open(keys[0], []byte(v)); err != nil {
			s.watch.done(key, ws)
			if got[1] == int64(1) {
				_ = s.releaser(key, keys, token)(ctx, nil, 0)
			}
			return nil, nil, nil, err
		}
	}
	switch got[1] {
	case int64(1):
		s.watch.done(key, ws)
		return value, s.holding(key, keys, token, ttl), nil, nil
	case int64(2):
		return value, nil, s.watch.written(ws), nil
	}
	s.watch.done(key, ws)
	return value, nil, nil, nil
}

// holding keeps the lock a claim took with token for as long as its
// holder holds it, up to maxHold, by extending it every third of its ttl:
// a fetch that outlasts the ttl (a slow hook) keeps it, and a holder that
// dies lets it expire within one ttl. It returns the lock's release,
// which stops the extension.
func (s *Store) holding(key string, keys []string, token string, ttl time.Duration) func(context.Context, []byte, time.Duration) error {
	stop := make(chan struct{})
	go s.extend(keys[1], token, ttl, stop)
	release := s.releaser(key, keys, token)
	var once sync.Once
	return func(ctx context.Context, value []byte, ttl time.Duration) error {
		once.Do(func() { close(stop) })
		return release(ctx, value, ttl)
	}
}

// maxHold is the longest a holder keeps its lock by extending it.
const maxHold = time.Minute

// extend extends the lock name while it holds token, until stop is closed,
// the lock is lost, or maxHold has passed.
func (s *Store) extend(name, token string, ttl time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(max(ttl/3, time.Millisecond))
	defer tick.Stop()
	for end := time.Now().Add(maxHold); time.Now().Before(end); {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var kept int64
		err := s.do(context.Background(), func(ctx context.Context) error {
			var err error
			kept, err = extension.Run(ctx, s.client, []string{name}, token, ttl.Milliseconds()).Int64()
			return err
		})
		if err == nil && kept == 0 {
			return // lost: expired, or taken over
		}
	}
}

// extension sets a lock's ttl again if it still holds its taker's value.
var extension = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// releaser returns the release of the lock a claim took with token.
func (s *Store) releaser(key string, keys []string, token string) func(context.Context, []byte, time.Duration) error {
	return func(ctx context.Context, value []byte, ttl time.Duration) error {
		var stored []byte
		if value != nil {
			stored = s.seal(keys[0], value)
		}
		return s.do(context.WithoutCancel(ctx), func(ctx context.Context) error {
			return release.Run(ctx, s.client, keys, token, stored, max(ttl.Milliseconds(), 1), s.watch.channel, key).Err()
		})
	}
}

// names returns the Redis keys of key: its value, its lock and its
// waiters' flag. They share key as their hash tag, so that a script that
// touches them all runs on one node of a Cluster.
func (s *Store) names(key string) []string {
	tagged := s.prefix + "{" + key + "}"
	return []string{tagged, tagged + ":lock", tagged + ":waiting"}
}
