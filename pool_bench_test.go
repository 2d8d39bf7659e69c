package tokensource_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fintechauth/tokensource"
)

// BenchmarkPoolMemory is what a key held with its token costs, over
// 100,000 keys, each a client of its own: a Pool of our sources
// (impl=pool), a plain map of our sources (impl=tokensource-map), and a
// plain map of oauth2.ReuseTokenSource over x/oauth2's clientcredentials
// (impl=x-oauth2-map), all fed by the same server. impl=pool-only is the
// pool's own cost per key: its entry, its map slot and the key, with one
// source shared by every key.
//
//	go test -run '^$' -bench PoolMemory -benchtime 1x -count 5 . | benchstat -col /impl -
func BenchmarkPoolMemory(b *testing.B) {
	const n = 100_000
	srv := newBenchServer(b)
	ctx := context.Background()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("tenant-%06d", i)
	}
	ours := func(key string) oauth2.TokenSource {
		return (&tokensource.ClientCredentialsConfig{ClientID: key, ClientSecret: "s",
			TokenURL: srv.URL + "/oauth/token"}).TokenSource(ctx)
	}
	theirs := func(key string) oauth2.TokenSource {
		return oauth2.ReuseTokenSource(nil, (&clientcredentials.Config{ClientID: key, ClientSecret: "s",
			TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}).TokenSource(ctx))
	}
	shared := tokensource.RetryTokenSource(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "a", Expiry: timeIn(3600)}), nil)
	opts := &tokensource.PoolOptions{MaxSources: n}
	for _, impl := range []struct {
		name string
		fill func() (any, error) // holds n keys with their tokens
	}{
		{"impl=pool", func() (any, error) {
			p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) { return ours(key), nil }, opts)
			return p, fill(func(i int) error { _, err := p.Token(ctx, keys[i]); return err })
		}},
		{"impl=tokensource-map", func() (any, error) { return sourceMap(keys, ours) }},
		{"impl=x-oauth2-map", func() (any, error) { return sourceMap(keys, theirs) }},
		{"impl=pool-only", func() (any, error) {
			p := tokensource.NewPool(func(string) (oauth2.TokenSource, error) { return shared, nil }, opts)
			return p, fill(func(i int) error { _, err := p.Token(ctx, keys[i]); return err })
		}},
	} {
		b.Run(impl.name, func(b *testing.B) {
			for b.Loop() {
				before := heapInUse()
				held, err := impl.fill()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(heapInUse()-before)/n, "B/key")
				if p, ok := held.(*tokensource.Pool[string]); ok {
					if p.Len() != n {
						b.Fatalf("the pool holds %d keys", p.Len())
					}
					p.Close()
				}
				runtime.KeepAlive(held)
			}
		})
	}
}

// sourceMap makes a map of a source per key, each with its token.
func sourceMap(keys []string, newSource func(string) oauth2.TokenSource) (map[string]oauth2.TokenSource, error) {
	sources := make([]oauth2.TokenSource, len(keys))
	err := fill(func(i int) error {
		sources[i] = newSource(keys[i])
		_, err := sources[i].Token()
		return err
	})
	m := make(map[string]oauth2.TokenSource) // grown as a service's map grows
	for i, key := range keys {
		m[key] = sources[i]
	}
	return m, err
}

// fill calls do for each key's index, on 8 goroutines: the fetches are
// what takes the time.
func fill(do func(i int) error) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < 100_000; i = int(next.Add(1) - 1) {
				if err := do(i); err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return fail
}

// BenchmarkPoolToken is a token for a key the pool holds, among 10,000
// keys, beside the same source's own Token: the pool's lookup, its
// record of the use, and the copy of the token that both make.
//
//	go test -run '^$' -bench PoolToken -count 10 . | benchstat -col /impl -
func BenchmarkPoolToken(b *testing.B) {
	srv := newBenchServer(b)
	ctx := context.Background()
	src := (&tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "s",
		TokenURL: srv.URL + "/oauth/token"}).TokenSource(ctx)
	other := tokensource.RetryTokenSource(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "a", Expiry: timeIn(3600)}), nil)
	p := tokensource.NewPool(func(key string) (oauth2.TokenSource, error) {
		if key == "tenant-held" {
			return src, nil
		}
		return other, nil
	}, nil)
	b.Cleanup(p.Close)
	for i := range 9_999 {
		if _, err := p.Token(ctx, fmt.Sprintf("tenant-%06d", i)); err != nil {
			b.Fatal(err)
		}
	}
	token := map[string]func() (*oauth2.Token, error){
		"impl=pool":   func() (*oauth2.Token, error) { return p.Token(ctx, "tenant-held") },
		"impl=direct": src.Token,
	}
	if _, err := token["impl=pool"](); err != nil {
		b.Fatal(err)
	}
	for _, impl := range []string{"impl=pool", "impl=direct"} {
		b.Run("serial/"+impl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := token[impl](); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("parallel/"+impl, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := token[impl](); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
