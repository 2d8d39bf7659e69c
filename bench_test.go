package tokensource_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
func BenchmarkCachedToken(b *testing.B) {
	srv := newBenchServer(b)
	sources := map[string]oauth2.TokenSource{
		"impl=tokensource": (&tokensource.FliqaConfig{APIKey: "k", APISecret: "s", Environment: tokensource.FliqaSandbox,
			TenantSlug: "t", BaseURL: srv.URL}).TokenSource(context.Background()),
		"impl=x-oauth2": oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{
			AccessToken: "a", Expiry: timeIn(3600)})),
	}
	for _, impl := range []string{"impl=tokensource", "impl=x-oauth2"} {
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

func newBenchServer(b *testing.B) *httptest.Server {
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
