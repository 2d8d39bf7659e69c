package tokensource_test

// Examples the README shows beside those of example_readme_test.go.

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// A source that logs what it does through log/slog: one fetch, hits that
// log nothing, and a token an API rejected.
func ExampleNewSlogObserver() {
	abbey := tokensourcetest.NewAbbeyCross(nil) // a local fake of AbbeyCross's token endpoint
	defer abbey.Close()
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { // no times: they vary from run to run
			if a.Key == slog.TimeKey || a.Key == "duration" || a.Key == "expiry" {
				return slog.Attr{}
			}
			return a
		},
	}))
	cfg := &tokensource.ClientCredentialsConfig{
		ClientID:     abbey.ClientID,
		ClientSecret: abbey.ClientSecret,
		TokenURL:     abbey.URL + "/v1/oauth/token",
		Observer:     tokensource.NewSlogObserver(logger),
	}
	src := cfg.TokenSource(context.Background())
	for range 3 { // one fetch, then two hits
		if _, err := src.Token(); err != nil {
			fmt.Println(err)
			return
		}
	}
	tok, _ := src.Token()
	tokensource.Invalidate(src, tok) // as the client does when an API answers 401
	// Output:
	// level=DEBUG msg="tokensource: fetch ended" kind=fetch_ended provider=client_credentials identity=abbeycross-test-client attempts=1
	// level=DEBUG msg="tokensource: waited for a token" kind=waited provider=client_credentials identity=abbeycross-test-client
	// level=INFO msg="tokensource: token invalidated" kind=invalidated provider=client_credentials identity=abbeycross-test-client
}
