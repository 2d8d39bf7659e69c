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
