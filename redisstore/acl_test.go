package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
)

// documentedACL returns the ACL SETUSER line that the godoc of
// Options.Plaintext shows, as arguments.
func documentedACL(t *testing.T) []any {
	src, err := os.ReadFile("redisstore.go")
	require.NoError(t, err)
	for line := range strings.Lines(string(src)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//\tACL SETUSER "); ok {
			var args []any
			for _, f := range strings.Fields(rest) {
				args = append(args, f)
			}
			return append([]any{"ACL", "SETUSER"}, args...)
		}
	}
	t.Fatal("no ACL SETUSER line in the godoc of Options.Plaintext")
	return nil
}

// TestTheDocumentedACLGivesThePrefixToTheServiceAlone runs a plaintext
// fleet as the Redis user the godoc's ACL makes, and tries the prefix as
// another user, whose ACL allows every command on keys and channels of its
// own.
func TestTheDocumentedACLGivesThePrefixToTheServiceAlone(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	admin := r.client(t)
	acl := documentedACL(t)
	require.Equal(t, "tokens", acl[2])
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	assert.Contains(t, string(readme), "\n"+strings.TrimSpace(fmt.Sprintln(acl...))+"\n", "the README shows the same ACL")
	require.NoError(t, admin.Do(ctx, acl...).Err())
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "other", "on", ">other-password", "resetkeys", "~other:*",
		"resetchannels", "&other:*", "+@all").Err())
	require.NoError(t, admin.Do(ctx, "ACL", "LOG", "RESET").Err())
	as := func(user, password string) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: r.addr, Username: user, Password: password})
		t.Cleanup(func() { c.Close() })
		return c
	}

	var stores []tokensource.Store
	for range 3 {
		s, err := redisstore.New(as("tokens", "password"), redisstore.Options{Plaintext: true})
		require.NoError(t, err)
		stores = append(stores, s)
	}
	fleet := startReplicas(t, stores, 2, 2*time.Second)
	fleet.waitRequests(t, 3)
	fleet.halt()
	assert.Empty(t, fleet.failed())
	assert.Empty(t, fleet.unshared(), "the service's user shares every token")
	denied, err := admin.Do(ctx, "ACL", "LOG").Slice()
	require.NoError(t, err)
	assert.Empty(t, denied, "nothing the Store runs is denied")

	keys, err := admin.Keys(ctx, "tokensource:{oauth:*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	other := as("other", "other-password")
	for name, cmd := range map[string][]any{
		"read":              {"GET", keys[0]},
		"write":             {"SET", keys[0], "\x00{}"},
		"delete":            {"DEL", keys[0]},
		"write a lock":      {"SET", "tokensource:lock:x", "1", "NX", "PX", "60000"},
		"read in a script":  {"EVAL", `return redis.call("GET", KEYS[1])`, "1", keys[0]},
		"write in a script": {"EVAL", `return redis.call("SET", KEYS[1], ARGV[1])`, "1", keys[0], "\x00{}"},
		"publish":           {"PUBLISH", "tokensource:x", "1"},
	} {
		err := other.Do(ctx, cmd...).Err()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "NOPERM", name)
	}
	sub := other.Subscribe(ctx, "tokensource:x")
	defer sub.Close()
	_, err = sub.Receive(ctx)
	require.Error(t, err, "subscribe")
	assert.Contains(t, err.Error(), "NOPERM")
	require.NoError(t, other.Set(ctx, "other:k", "1", time.Minute).Err(), "its own keys it can write")
}
