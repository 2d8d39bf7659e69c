package redisstore_test

import (
	"testing"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

func TestStoreKeepsTheStoreContract(t *testing.T) {
	r := startRedis(t)
	for _, tc := range []struct {
		name string
		opts redisstore.Options
	}{
		{"sealed", redisstore.Options{EncryptionKey: testKey}},
		{"plaintext", redisstore.Options{Plaintext: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokensourcetest.TestStore(t, func(t *testing.T) tokensource.Store { return newStore(t, r, tc.opts) })
		})
	}
}
