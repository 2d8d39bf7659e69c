package benchmarks

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fintechauth/tokensource"
)

const (
	lifetime = 2 * time.Second        // of each token
	delta    = 500 * time.Millisecond // ours: ExpiryDelta; x/oauth2: its early expiry
	early    = time.Second            // Google's ExpireEarly: its refresh starts where ours does, L/2 ahead
	latency  = 100 * time.Millisecond // of the token endpoint
)

// tokenCall is one call of an implementation's cached token: its access
// token, or an error.
type tokenCall func() (string, error)

// peers are the implementations measured, each over the same client
// credentials endpoint at url.
func peers(url string) []struct {
	name string
	new  func() tokenCall
} {
	ctx := context.Background()
	cc := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: url, AuthStyle: oauth2.AuthStyleInParams}
	fromOAuth2 := func(src oauth2.TokenSource) tokenCall {
		return func() (string, error) {
			tok, err := src.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}
	}
	return []struct {
		name string
		new  func() tokenCall
	}{
		{"impl=tokensource", func() tokenCall {
			return fromOAuth2((&tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "s", TokenURL: url,
				ExpiryDelta: delta}).TokenSource(ctx))
		}},
		{"impl=x-oauth2", func() tokenCall {
			return fromOAuth2(oauth2.ReuseTokenSourceWithExpiry(nil, cc.TokenSource(ctx), delta))
		}},
		{"impl=google-async", func() tokenCall {
			p := auth.NewCachedTokenProvider(ccProvider{cc}, &auth.CachedTokenProviderOptions{ExpireEarly: early})
			return func() (string, error) {
				tok, err := p.Token(ctx)
				if err != nil {
					return "", err
				}
				return tok.Value, nil
			}
		}},
	}
}

// ccProvider is x/oauth2's client credentials fetch as an auth.TokenProvider.
type ccProvider struct{ cc *clientcredentials.Config }

func (p ccProvider) Token(ctx context.Context) (*auth.Token, error) {
	t, err := p.cc.Token(ctx)
	if err != nil {
		return nil, err
	}
	return &auth.Token{Value: t.AccessToken, Type: t.Type(), Expiry: t.Expiry}, nil
}

// tokenServer is a client credentials endpoint that answers after latency
// with tokens of lifetime, counting requests.
func tokenServer(b *testing.B, latency, lifetime time.Duration) (*httptest.Server, *atomic.Int64) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		time.Sleep(latency)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":%d}`, n, int(lifetime/time.Second))
	}))
	b.Cleanup(srv.Close)
	return srv, &requests
}

// BenchmarkRollover has 64 callers call each implementation's cached
// token every 2 ms for 8 s, over an endpoint that takes 100 ms and issues
// 2 s tokens, so that a run holds several rollovers. It reports the calls'
// latency percentiles after the first token, and the token requests per
// rollover.
func BenchmarkRollover(b *testing.B) {
	const (
		callers = 64
		run     = 8 * time.Second
	)
	srv, requests := tokenServer(b, latency, lifetime)
	for _, impl := range peers(srv.URL) {
		b.Run(impl.name, func(b *testing.B) {
			for b.Loop() {
				call := impl.new()
				if _, err := call(); err != nil {
					b.Fatal(err)
				}
				before := requests.Load()
				var (
					mu        sync.Mutex
					latencies []time.Duration
					tokens    = map[string]bool{}
					wg        sync.WaitGroup
				)
				for range callers {
					wg.Go(func() {
						var mine []time.Duration
						seen := map[string]bool{}
						for end := time.Now().Add(run); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
							start := time.Now()
							tok, err := call()
							mine = append(mine, time.Since(start))
							if err != nil {
								b.Error(err)
								return
							}
							seen[tok] = true
						}
						mu.Lock()
						latencies = append(latencies, mine...)
						maps.Copy(tokens, seen)
						mu.Unlock()
					})
				}
				wg.Wait()
				slices.Sort(latencies)
				at := func(q float64) float64 { return float64(latencies[int(q*float64(len(latencies)-1))]) / 1e3 }
				b.ReportMetric(at(0.5), "p50-µs")
				b.ReportMetric(at(0.99), "p99-µs")
				b.ReportMetric(at(0.999), "p99.9-µs")
				b.ReportMetric(at(1), "max-µs")
				b.ReportMetric(float64(requests.Load()-before)/float64(len(tokens)-1), "requests/rollover")
			}
		})
	}
}

// BenchmarkHit is one call of each implementation's cached token, an
// hour-long token outside any renewal window.
func BenchmarkHit(b *testing.B) {
	srv, _ := tokenServer(b, 0, time.Hour)
	for _, impl := range peers(srv.URL) {
		call := impl.new()
		if _, err := call(); err != nil {
			b.Fatal(err)
		}
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := call(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
