package tokensource_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/internal/wire"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// badGateway answers as a proxy does: 502, an HTML page, no error code.
func badGateway(w http.ResponseWriter, _ int) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
}

// assertRetrieveError asserts that err answers errors.As for an
// *oauth2.RetrieveError whose Error method, which reads Response, works.
func assertRetrieveError(t *testing.T, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	require.NotNil(t, re.Response)
	assert.Equal(t, http.StatusBadGateway, re.Response.StatusCode)
	assert.Equal(t, "502 Bad Gateway", re.Response.Status)
	var msg string
	require.NotPanics(t, func() { msg = re.Error() })
	assert.Contains(t, msg, "502 Bad Gateway")
}

func TestEveryRetrieveErrorHasAResponse(t *testing.T) {
	srv := newFliqaServer(t, "", badGateway)
	type path struct {
		name string
		err  error
	}
	var paths []path
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := tokensourcetest.NewStore()
		source := func() oauth2.TokenSource {
			cfg := srv.config("")
			cfg.HTTPClient = client
			cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1, MaxInterval: time.Second}
			cfg.Store = store
			return cfg.TokenSource(t.Context())
		}
		ours, theirs := source(), source() // two processes sharing a store
		call := func(name string, src oauth2.TokenSource, wantRequests int32, wantText string) {
			_, err := src.Token()
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), wantText, name)
			assert.Equal(t, wantRequests, srv.requests.Load(), name)
			paths = append(paths, path{name, err})
		}
		call("own failure", ours, 1, "502 Bad Gateway")
		call("shared failure", theirs, 1, "another process's fetch failed")
		call("cool-down of a shared failure", theirs, 1, "next attempt in")
		call("cool-down", ours, 1, "next attempt in")
		time.Sleep(time.Minute) // past every cool-down
		call("probe", ours, 2, "502 Bad Gateway")
	})
	require.Len(t, paths, 5)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) { assertRetrieveError(t, p.err) })
	}
}

func TestAnErrorWithoutResponseStillAnswersAsRetrieveError(t *testing.T) {
	err := error(&tokensource.Error{StatusCode: http.StatusBadGateway})
	assertRetrieveError(t, err)
	assert.True(t, errors.As(err, new(*tokensource.Error)))
}

func TestNilConfigsFailClearly(t *testing.T) {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(api.Close)
	ctx := context.Background()
	tok := &oauth2.Token{AccessToken: "a", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}
	get := func(c *http.Client) error {
		resp, err := c.Get(api.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	var (
		fliqa  *tokensource.FliqaConfig
		flinks *tokensource.FlinksConfig
		cc     *tokensource.ClientCredentialsConfig
	)
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"FliqaConfig.Token", "FliqaConfig", func() error { _, err := fliqa.Token(ctx); return err }},
		{"FliqaConfig.TokenSource", "FliqaConfig", func() error { _, err := fliqa.TokenSource(ctx).Token(); return err }},
		{"FliqaConfig.Client", "FliqaConfig", func() error { return get(fliqa.Client(ctx)) }},
		{"FlinksConfig.Exchange", "FlinksConfig", func() error { _, err := flinks.Exchange(ctx, "code"); return err }},
		{"FlinksConfig.TokenSource", "FlinksConfig", func() error { _, err := flinks.TokenSource(ctx, tok).Token(); return err }},
		{"FlinksConfig.Client", "FlinksConfig", func() error { return get(flinks.Client(ctx, tok)) }},
		{"FlinksConfig.ClientCredentialsTokenSource", "FlinksConfig", func() error {
			_, err := flinks.ClientCredentialsTokenSource(ctx).Token()
			return err
		}},
		{"ClientCredentialsConfig.Token", "ClientCredentialsConfig", func() error { _, err := cc.Token(ctx); return err }},
		{"ClientCredentialsConfig.TokenSource", "ClientCredentialsConfig", func() error {
			_, err := cc.TokenSource(ctx).Token()
			return err
		}},
		{"ClientCredentialsConfig.Client", "ClientCredentialsConfig", func() error { return get(cc.Client(ctx)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // every call, not only the first
				var err error
				require.NotPanics(t, func() { err = tc.call() })
				require.Error(t, err)
				assert.Contains(t, err.Error(), "tokensource: nil *"+tc.want)
			}
		})
	}
	assert.Zero(t, requests.Load(), "nothing was sent")
}

func TestErrRedirectMatchesARefusedRedirect(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	srv := newCCServer(t, nil, func(w http.ResponseWriter, _ int) {
		w.Header().Set("Location", other.URL+"/v1/oauth/token")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	_, err := srv.config().Token(t.Context())
	require.ErrorIs(t, err, tokensource.ErrRedirect)
	assert.Zero(t, elsewhere.Load())
	assert.Equal(t, int32(1), srv.requests.Load(), "not retried")
}

// hugeMessage is a provider's error message of nearly 1 MiB, with the
// characters that forge log lines or triple in size when escaped.
var hugeMessage = strings.Repeat("bad\u0085 \nINFO forged \x1b[2J\r\u202e ", (wire.MaxBody-256)/36)

// hugeError is a provider's 400 with hugeMessage as its OAuth error_description.
func hugeError(t *testing.T) []byte {
	body, err := json.Marshal(map[string]string{"error": "invalid_request", "error_description": hugeMessage})
	require.NoError(t, err)
	require.Less(t, len(body), wire.MaxBody)
	return body
}

// assertBoundedText asserts that msg is short, one line and free of
// controls, and marks where it was cut.
func assertBoundedText(t *testing.T, msg string) {
	t.Helper()
	require.Less(t, len(msg), 4<<10, "the text is bounded")
	assert.Contains(t, msg, "…[truncated]")
	assert.False(t, strings.ContainsFunc(msg, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }), "a raw control in %q", msg)
	assert.Contains(t, msg, `bad\u0085 \nINFO forged \x1b[2J\r\u202e`)
}

func TestErrorTextIsBoundedWhateverTheProviderSends(t *testing.T) {
	body := hugeError(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	cfg := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "secret-1", TokenURL: srv.URL + "/token"}
	src := cfg.TokenSource(t.Context())
	_, err := src.Token()
	var e *tokensource.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, hugeMessage, e.Message, "the fields keep all the provider said")
	assert.Equal(t, string(body), string(e.Body))
	assertBoundedText(t, err.Error())
	for range 3 {
		_, err = src.Token()
		require.ErrorIs(t, err, tokensource.ErrCoolingDown)
		assertBoundedText(t, err.Error())
	}
}

// BenchmarkCoolDownErrorText measures the text of a cool-down answer whose
// failure carries a 1 MiB message, as a log line of each answer reads it.
func BenchmarkCoolDownErrorText(b *testing.B) {
	body, err := json.Marshal(map[string]string{"error": "invalid_request", "error_description": hugeMessage})
	require.NoError(b, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	cfg := &tokensource.ClientCredentialsConfig{ClientID: "id", ClientSecret: "secret-1", TokenURL: srv.URL + "/token"}
	src := cfg.TokenSource(b.Context())
	_, _ = src.Token()
	for b.Loop() {
		_, err := src.Token()
		_ = err.Error()
	}
}
