package tokensourceotel_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// BenchmarkTransportCachedToken is a request through a Transport on a
// cached token, without an observer and with this package's on an SDK
// meter and tracer provider, in the same run. The base answers at once, so
// that what is measured is the library's own cost, not the network's:
//
//	go test -run '^$' -bench . -benchmem -count 10 . | benchstat -col /observer -
func BenchmarkTransportCachedToken(b *testing.B) {
	fake := tokensourcetest.NewFliqa(b)
	observers := []struct {
		name string
		obs  tokensource.Observer
	}{
		{"observer=none", nil},
		{"observer=otel", newTelemetry(b).Observer},
	}
	for _, o := range observers {
		rt := &tokensource.Transport{Source: fliqaConfig(fake, o.obs).TokenSource(context.Background()), Base: answerAtOnce{}}
		req, _ := http.NewRequest(http.MethodGet, "https://api.example/accounts", nil)
		if _, err := rt.RoundTrip(req); err != nil { // the token, fetched once
			b.Fatal(err)
		}
		b.Run(o.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rt.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// answerAtOnce is an API that answers every request 200 without a body.
type answerAtOnce struct{}

var okResponse = &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}

func (answerAtOnce) RoundTrip(*http.Request) (*http.Response, error) { return okResponse, nil }
