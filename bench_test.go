package tokensource_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/fintechauth/tokensource"
)

// The benchmarks set what users feel beside the x/oauth2 equivalent, in the
// same run:
//
//	go test -run '^$' -bench . -benchmem -count 10 . | benchstat -col /impl -
//
// A cached hit is a direct call of Token (impl=tokensource), which returns
// a copy of the token, and a call of the ReuseTokenSource that
// oauth2.NewClient sets over a source (impl=tokensource-in-NewClient).
func BenchmarkCachedToken(b *testing.B) {
	srv := newBenchServer(b)
	fliqa := &tokensource.FliqaConfig{APIKey: "k", APISecret: "s", Environment: tokensource.FliqaSandbox,
		TenantSlug: "t", BaseURL: srv.URL}
	sources := map[string]oauth2.TokenSource{
		"impl=tokensource":              fliqa.TokenSource(context.Background()),
		"impl=tokensource-in-NewClient": oauth2.ReuseTokenSource(nil, fliqa.TokenSource(context.Background())),
		"impl=x-oauth2": oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{
			AccessToken: "a", Expiry: timeIn(3600)})),
	}
	for _, impl := range []string{"impl=tokensource", "impl=tokensource-in-NewClient", "impl=x-oauth2"} {
		src := sources[impl]
		if _, err := src.Token(); err != nil {
			b.Fatal(err)
		}
		b.Run("serial/"+impl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := src.Token(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("parallel/"+impl, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := src.Token(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFetch is one full client-credentials fetch over loopback: ours
// posts JSON, x/oauth2's clientcredentials posts a form, and the same
// server answers both with the same body.
func BenchmarkFetch(b *testing.B) {
	srv := newBenchServer(b)
	ours := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "s", TokenURL: srv.URL + "/oauth/token"}
	theirs := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: srv.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInParams}
	ctx := context.Background()
	fetch := map[string]func() (*oauth2.Token, error){
		"impl=tokensource": func() (*oauth2.Token, error) { return ours.Token(ctx) },
		"impl=x-oauth2":    func() (*oauth2.Token, error) { return theirs.Token(ctx) },
	}
	for _, impl := range []string{"impl=tokensource", "impl=x-oauth2"} {
		b.Run(impl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fetch[impl](); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func newBenchServer(b testing.TB) *httptest.Server {
	body := []byte(`{"access_token":"eyJhbGciOiJIUzI1NiJ9.bench","token_type":"Bearer","expires_in":3600,"scope":"accounts"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func timeIn(seconds int) time.Time { return time.Now().Add(time.Duration(seconds) * time.Second) }

// BenchmarkIdleSourceMemory is what a cached source holding one token
// costs while nobody calls it, per source over 10,000 sources: ours beside
// oauth2.ReuseTokenSource over x/oauth2's clientcredentials, both fed by
// the same server.
//
//	go test -run '^$' -bench IdleSourceMemory -benchtime 1x -count 5 .
func BenchmarkIdleSourceMemory(b *testing.B) {
	srv := newBenchServer(b)
	ctx := context.Background()
	ours := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "s", TokenURL: srv.URL + "/oauth/token"}
	theirs := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: srv.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInParams}
	for _, impl := range []struct {
		name string
		new  func() oauth2.TokenSource
	}{
		{"impl=tokensource", func() oauth2.TokenSource { return ours.TokenSource(ctx) }},
		{"impl=x-oauth2", func() oauth2.TokenSource { return theirs.TokenSource(ctx) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			const n = 10_000
			for b.Loop() {
				sources := make([]oauth2.TokenSource, n)
				before := heapInUse()
				for i := range sources {
					sources[i] = impl.new()
					if _, err := sources[i].Token(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(heapInUse()-before)/n, "B/source")
				runtime.KeepAlive(sources)
			}
		})
	}
}

// heapInUse returns the bytes of live heap objects after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkTransport is one authorized request on a cached token, through
// our Transport and through oauth2.Transport over a ReuseTokenSource, to a
// base RoundTripper that answers at once, so that only what the transports
// themselves cost is measured:
//
//	go test -run '^$' -bench Transport -benchmem -count 10 . | benchstat -col /impl -
func BenchmarkTransport(b *testing.B) {
	srv := newBenchServer(b)
	ours := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "s", TokenURL: srv.URL + "/oauth/token"}
	theirs := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: srv.URL + "/oauth/token",
		AuthStyle: oauth2.AuthStyleInParams}
	ctx := context.Background()
	answer := answerAtOnce{}
	transports := map[string]http.RoundTripper{
		"impl=tokensource": &tokensource.Transport{Source: ours.TokenSource(ctx), Base: answer},
		"impl=x-oauth2":    &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, theirs.TokenSource(ctx)), Base: answer},
	}
	for _, impl := range []string{"impl=tokensource", "impl=x-oauth2"} {
		rt := transports[impl]
		req, _ := http.NewRequest(http.MethodGet, "https://api.example/accounts", nil)
		if _, err := rt.RoundTrip(req); err != nil { // the first token
			b.Fatal(err)
		}
		b.Run("serial/"+impl, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("parallel/"+impl, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := req.Clone(ctx)
				for pb.Next() {
					if _, err := rt.RoundTrip(req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// answerAtOnce is an API that answers every request 200 without a body.
type answerAtOnce struct{}

var okResponse = &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}

func (answerAtOnce) RoundTrip(*http.Request) (*http.Response, error) { return okResponse, nil }

// BenchmarkFetchAllocs is what one client-credentials fetch allocates
// beyond the HTTP exchange it makes, for ours and for x/oauth2's
// clientcredentials: each is set against a bare POST of the same JSON
// through the same client to the same server (impl=net-http), its body
// read, so the allocations of the client, the server and the connection
// cancel out and extra-allocs/op is the library's own.
//
//	go test -run '^$' -bench FetchAllocs -benchmem -count 5 .
func BenchmarkFetchAllocs(b *testing.B) {
	srv := newBenchServer(b)
	url := srv.URL + "/oauth/token"
	ours := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "s", TokenURL: url}
	theirs := &clientcredentials.Config{ClientID: "id", ClientSecret: "s", TokenURL: url, AuthStyle: oauth2.AuthStyleInParams}
	ctx := context.Background()
	bare := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"client_id":"id","client_secret":"s"}`))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	for _, impl := range []struct {
		name  string
		fetch func() error
	}{
		{"impl=tokensource", func() error { _, err := ours.Token(ctx); return err }},
		{"impl=x-oauth2", func() error { _, err := theirs.Token(ctx); return err }},
		{"impl=net-http", bare},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			mallocs := func(fetch func() error) uint64 {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				before := m.Mallocs
				for range b.N {
					if err := fetch(); err != nil {
						b.Fatal(err)
					}
				}
				runtime.ReadMemStats(&m)
				return m.Mallocs - before
			}
			b.StopTimer()
			floor := mallocs(bare)
			b.StartTimer()
			b.ResetTimer()
			own := mallocs(impl.fetch)
			b.ReportMetric((float64(own)-float64(floor))/float64(b.N), "extra-allocs/op")
		})
	}
}
