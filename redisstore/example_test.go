package redisstore_test

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

func ExampleNew() {
	abbey := tokensourcetest.NewAbbeyCross(nil) // a local fake of AbbeyCross's token endpoint
	defer abbey.Close()

	// In production: 32 random bytes from your secret store, the same in
	// every replica.
	key := []byte("an example key of 32 bytes, only")
	client := redis.NewClient(&redis.Options{Addr: exampleRedis})
	defer client.Close()
	store, err := redisstore.New(client, redisstore.Options{EncryptionKey: key})
	if err != nil {
		fmt.Println(err)
		return
	}

	cfg := &tokensource.ClientCredentialsConfig{
		ClientID:     abbey.ClientID,
		ClientSecret: abbey.ClientSecret,
		TokenURL:     abbey.URL + "/v1/oauth/token",
		Store:        store,
	}
	// Two sources, as in two replicas: the second takes the first's token
	// from Redis instead of asking AbbeyCross.
	first, err := cfg.TokenSource(context.Background()).Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	second, err := cfg.TokenSource(context.Background()).Token()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("same token:", first.AccessToken == second.AccessToken)
	fmt.Println("token requests:", abbey.Requests())
	// Output:
	// same token: true
	// token requests: 1
}

// Rotating the encryption key: in the middle of the rotation, replicas
// that seal with the old key and replicas that seal with the new one each
// open what the others sealed, so the fleet still fetches once.
func ExampleOptions_previousKeys() {
	abbey := tokensourcetest.NewAbbeyCross(nil)
	defer abbey.Close()

	oldKey := []byte("the old example key of 32 bytes!")
	newKey := []byte("the new example key of 32 bytes!")
	client := redis.NewClient(&redis.Options{Addr: exampleRedis})
	defer client.Close()
	// The first deploy adds the new key everywhere; the second makes it
	// the one that seals.
	adding, err := redisstore.New(client, redisstore.Options{EncryptionKey: oldKey, PreviousKeys: [][]byte{newKey}})
	if err != nil {
		fmt.Println(err)
		return
	}
	rotated, err := redisstore.New(client, redisstore.Options{EncryptionKey: newKey, PreviousKeys: [][]byte{oldKey}})
	if err != nil {
		fmt.Println(err)
		return
	}

	var tokens []string
	for _, store := range []*redisstore.Store{adding, rotated} {
		cfg := &tokensource.ClientCredentialsConfig{
			ClientID:     abbey.ClientID,
			ClientSecret: abbey.ClientSecret,
			TokenURL:     abbey.URL + "/v1/oauth/token",
			Store:        store,
		}
		tok, err := cfg.TokenSource(context.Background()).Token()
		if err != nil {
			fmt.Println(err)
			return
		}
		tokens = append(tokens, tok.AccessToken)
	}
	fmt.Println("same token:", tokens[0] == tokens[1])
	fmt.Println("token requests:", abbey.Requests())
	// Output:
	// same token: true
	// token requests: 1
}
