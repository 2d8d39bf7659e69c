package tokensourceotel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// BenchmarkTransportCachedToken is a request through the configs' Client on
// a cached token, without an observer and with this package's on an SDK
// meter provider, in the same run:
//
//	go test -run '^$' -bench . -benchmem -count 10 . | benchstat -col /observer -
func BenchmarkTransportCachedToken(b *testing.B) {
	fake := tokensourcetest.NewFliqa(b)
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Cleanup(api.Close)
	observers := []struct {
		name string
		obs  tokensource.Observer
	}{
		{"observer=none", nil},
		{"observer=otel", newTelemetry(b).Observer},
	}
	for _, o := range observers {
		client := fliqaConfig(fake, o.obs).Client(context.Background())
		get := func() {
			resp, err := client.Get(api.URL)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		get() // the token, fetched once
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				get()
			}
		})
	}
}
