package tokensource

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/safeprint"
	"github.com/fintechauth/tokensource/internal/wire"
)

// Fliqa environments. An API key and secret belong to one of them.
const (
	FliqaProduction = "production"
	FliqaSandbox    = "sandbox"
)

// FliqaConfig gets access tokens from Fliqa's
// GET {BaseURL}/service/auth/token/{Environment}/{TenantSlug}, which takes
// the API key and secret in headers and has no refresh grant: a new token is
// a new request.
//
// The response's accessToken, expiresIn (or else expires) and scope become
// the token; [Scopes] returns the scope list.
type FliqaConfig struct {
	// APIKey is sent as the Api-Key header. Required.
	APIKey string
	// APISecret is sent as the Api-Secret header. Required.
	APISecret string
	// Environment is FliqaProduction or FliqaSandbox; the key and secret
	// must belong to it. Required.
	Environment string
	// TenantSlug names the tenant. Required.
	TenantSlug string
	// BaseURL is the API's base URL; no public host is documented. A path
	// prefix is kept and a trailing slash is fine. Required.
	BaseURL string

	// HTTPClient sends the token requests (see [ClientCredentialsConfig.HTTPClient]).
	// Optional; default: the context's oauth2.HTTPClient, else http.DefaultClient.
	HTTPClient *http.Client
	// Retry is the retry policy (see [ClientCredentialsConfig.Retry]).
	// Optional; default: nil, the defaults of [RetryPolicy].
	Retry *RetryPolicy
	// ExpiryDelta bounds how close to its expiry a token is served (see
	// [ClientCredentialsConfig.ExpiryDelta]). Optional; default: 10s.
	ExpiryDelta time.Duration
	// Store shares tokens and failures with other processes (see
	// [ClientCredentialsConfig.Store]). Optional; default: nil, this process only.
	Store Store
	// Observer is given the sources' events (see
	// [ClientCredentialsConfig.Observer]). Optional; default: nil, no events.
	Observer Observer
}

// Token fetches a new token, retrying as c.Retry allows. It caches nothing.
func (c *FliqaConfig) Token(ctx context.Context) (*oauth2.Token, error) {
	if c == nil {
		return nil, nilConfig("FliqaConfig")
	}
	a, err := c.attempt()
	return c.settings().token(ctx, a, err)
}

// TokenSource returns a cached source, safe for concurrent use. A token
// that lived L when obtained is renewed in the background by the first
// call in the last min(L/2, 5m) before its expiry, while callers are still
// served it; it is served until min(ExpiryDelta, L/4) before its expiry,
// and only past that does a call wait for the renewal. ctx is used for
// every fetch. Changes to c after the call do not affect it.
func (c *FliqaConfig) TokenSource(ctx context.Context) oauth2.TokenSource {
	if c == nil {
		return failingSource{nilConfig("FliqaConfig")}
	}
	a, err := c.attempt()
	return c.settings().tokenSource(ctx, a, identity("fliqa", strings.TrimRight(c.BaseURL, "/"), c.Environment, c.TenantSlug, c.APIKey, c.APISecret), err)
}

// Client returns an HTTP client that adds a token from c.TokenSource(ctx)
// to every request, through a [Transport]: a request waits for a token no
// longer than its context allows, and one rejected with 401 is sent again
// once with a new token.
func (c *FliqaConfig) Client(ctx context.Context) *http.Client {
	return NewClient(ctx, c.TokenSource(ctx))
}

// String redacts the API secret from %v and %+v.
func (c FliqaConfig) String() string { return safeprint.Format(c, false, "APISecret") }

// GoString redacts the API secret from %#v.
func (c FliqaConfig) GoString() string { return safeprint.Format(c, true, "APISecret") }

// LogValue redacts the API secret from what log/slog prints.
func (c FliqaConfig) LogValue() slog.Value { return safeprint.LogValue(c, "APISecret") }

func (c *FliqaConfig) settings() settings {
	return settings{client: c.HTTPClient, retry: c.Retry, expiryDelta: c.ExpiryDelta, store: c.Store,
		observer: c.Observer, provider: ProviderFliqa, identity: c.Environment + "/" + c.TenantSlug}
}

// attempt validates c and returns the attempt that sends its request.
func (c *FliqaConfig) attempt() (attempt, error) {
	const name = "FliqaConfig"
	if err := require(name, "APIKey", c.APIKey, "APISecret", c.APISecret); err != nil {
		return nil, err
	}
	if err := printable(name, "TenantSlug", c.TenantSlug); err != nil {
		return nil, err
	}
	switch {
	case c.Environment != FliqaProduction && c.Environment != FliqaSandbox:
		return nil, invalid(name, "Environment", fmt.Sprintf("must be %q or %q, not %q", FliqaProduction, FliqaSandbox, c.Environment))
	case c.TenantSlug == "", c.TenantSlug == ".", c.TenantSlug == "..", strings.ContainsAny(c.TenantSlug, `/\`):
		return nil, invalid(name, "TenantSlug", fmt.Sprintf("must be one path segment, not %q", c.TenantSlug))
	}
	base, err := parseURL(name, "BaseURL", c.BaseURL)
	if err != nil {
		return nil, err
	}
	return c.settings().attempt(name, &wire.Request{
		URL: strings.TrimRight(base, "/") + "/service/auth/token/" + c.Environment + "/" + url.PathEscape(c.TenantSlug),
		Header: http.Header{
			"Api-Key":    {c.APIKey},
			"Api-Secret": {c.APISecret},
			"Accept":     {"application/json"},
		},
		Secrets: []string{c.APISecret},
	})
}
