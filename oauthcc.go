package tokensource

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/safeprint"
	"github.com/fintechauth/tokensource/internal/wire"
)

// ClientCredentialsConfig gets access tokens through the OAuth client
// credentials grant sent as a JSON body, which many fintech and banking
// token endpoints take instead of the form body of x/oauth2's
// clientcredentials package. By default it is exactly right for
// AbbeyCross's POST /v1/oauth/token: the body is
// {"client_id": …, "client_secret": …} and nothing else.
//
// The response is read tolerantly, because such endpoints rarely document
// it: access_token or accessToken; token_type or tokenType (default
// Bearer); expires_in or expiresIn, as a number or a plain decimal string,
// in seconds with any fraction kept (0.5 is half a second); else an
// absolute expires, expires_at, expiresAt or expiry (RFC 3339, or Unix
// seconds up to the end of the year 9999; 0 is none); else a JWT access
// token's exp claim; else DefaultLifetime. Whatever its form, a stated
// expiry more than 24 hours ahead is cut to 24 hours, so a token is fetched
// again at least daily; one already past is an error. scope is read as a
// string or a list (see [Scopes]). Error bodies in AbbeyCross's shape
// {errorId, code, text, parameter_name, parameter_value} fill [Error].
type ClientCredentialsConfig struct {
	// ClientID is sent in the body as client_id. Required.
	ClientID string
	// ClientSecret is sent in the body as client_secret. Required.
	ClientSecret string
	// TokenURL is the token endpoint's full URL, e.g.
	// https://host/v1/oauth/token. It may carry a query (?sig=…), as
	// x/oauth2 allows: the query is sent as given and never printed; errors,
	// logs and a formatted config show it as ?xxxxx. Required.
	TokenURL string
	// EndpointParams are further body fields, such as
	// {"grant_type": "client_credentials", "scope": "payments"}, for
	// endpoints that want them. Optional; AbbeyCross wants none.
	EndpointParams map[string]string
	// ClientIDField and ClientSecretField name the body fields that carry
	// the credentials. Optional; default "client_id" and "client_secret".
	ClientIDField, ClientSecretField string
	// DefaultLifetime is how long a token lives when the response gives no
	// expiry. Optional; default 5 minutes, short because the true lifetime
	// is unknown: a token kept too long fails API calls, one renewed early
	// costs a request.
	DefaultLifetime time.Duration

	// The fields below are those of every config; FliqaConfig and
	// FlinksConfig refer to their docs here.

	// HTTPClient sends the token requests. Optional; default: the
	// context's oauth2.HTTPClient value, else http.DefaultClient.
	HTTPClient *http.Client
	// Retry says how a fetch retries, and how long the source cools down
	// after a failed one. Optional; default: nil, the defaults of
	// [RetryPolicy].
	Retry *RetryPolicy
	// ExpiryDelta bounds how close to its expiry a cached token is served:
	// until min(ExpiryDelta, L/4) before it, L being the token's lifetime
	// when obtained. The renewal starts earlier, in the background (see
	// TokenSource). Optional; default: 10s, as in x/oauth2.
	ExpiryDelta time.Duration
	// Store shares tokens and failures with the sources of other processes
	// that have the same identity, so that a fleet sends the token requests
	// of one process (see [Store]). Optional; default: nil, tokens and
	// failures stay in this process.
	Store Store
	// Observer is given an [Event] for what the sources of this config do:
	// each fetch, each wait, each token an API rejected (see [Observer]).
	// Optional; default: nil, which reports nothing and costs nothing.
	Observer Observer
}

// Token fetches a new token, retrying as c.Retry allows. It caches nothing.
func (c *ClientCredentialsConfig) Token(ctx context.Context) (*oauth2.Token, error) {
	if c == nil {
		return nil, nilConfig("ClientCredentialsConfig")
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
func (c *ClientCredentialsConfig) TokenSource(ctx context.Context) oauth2.TokenSource {
	if c == nil {
		return failingSource{nilConfig("ClientCredentialsConfig")}
	}
	a, err := c.attempt()
	return c.settings().tokenSource(ctx, a, c.identity(), err)
}

// Client returns an HTTP client that adds a token from c.TokenSource(ctx)
// to every request, through a [Transport]: a request waits for a token no
// longer than its context allows, and one rejected with 401 is sent again
// once with a new token.
func (c *ClientCredentialsConfig) Client(ctx context.Context) *http.Client {
	return NewClient(ctx, c.TokenSource(ctx))
}

// String redacts the client secret from %v and %+v.
func (c ClientCredentialsConfig) String() string { return safeprint.Format(c, false, "ClientSecret") }

// GoString redacts the client secret from %#v.
func (c ClientCredentialsConfig) GoString() string { return safeprint.Format(c, true, "ClientSecret") }

// LogValue redacts the client secret from what log/slog prints.
func (c ClientCredentialsConfig) LogValue() slog.Value { return safeprint.LogValue(c, "ClientSecret") }

func (c *ClientCredentialsConfig) settings() settings {
	return settings{client: c.HTTPClient, retry: c.Retry, expiryDelta: c.ExpiryDelta, store: c.Store,
		observer: c.Observer, provider: ProviderClientCredentials, identity: c.ClientID}
}

// identity is the Store key of c's tokens: the endpoint, the client, its
// secret and the parameters.
func (c *ClientCredentialsConfig) identity() string {
	parts := []string{c.TokenURL, cmp.Or(c.ClientIDField, "client_id"), c.ClientID, c.ClientSecret}
	for _, k := range slices.Sorted(maps.Keys(c.EndpointParams)) {
		parts = append(parts, k, c.EndpointParams[k])
	}
	return identity("oauth", parts...)
}

// attempt validates c and returns the attempt that sends its request.
func (c *ClientCredentialsConfig) attempt() (attempt, error) {
	const name = "ClientCredentialsConfig"
	if err := require(name, "ClientID", c.ClientID, "ClientSecret", c.ClientSecret); err != nil {
		return nil, err
	}
	u, err := parseURL(name, "TokenURL", c.TokenURL)
	if err != nil {
		return nil, err
	}
	if c.DefaultLifetime < 0 {
		return nil, invalid(name, "DefaultLifetime", "must not be negative")
	}
	idField := cmp.Or(c.ClientIDField, "client_id")
	secretField := cmp.Or(c.ClientSecretField, "client_secret")
	if idField == secretField {
		return nil, invalid(name, "ClientSecretField", "must differ from ClientIDField")
	}
	for _, f := range []string{idField, secretField} {
		if _, ok := c.EndpointParams[f]; ok {
			return nil, invalid(name, "EndpointParams", "must not set "+f+", which carries a credential")
		}
	}
	if err := printable(name, "ClientIDField", idField, "ClientSecretField", secretField); err != nil {
		return nil, err
	}
	for k, v := range c.EndpointParams {
		if err := printable(name, fmt.Sprintf("EndpointParams[%q]", k), k+v); err != nil {
			return nil, err
		}
	}
	body := maps.Clone(c.EndpointParams)
	if body == nil {
		body = make(map[string]string, 2)
	}
	body[idField], body[secretField] = c.ClientID, c.ClientSecret
	req := wire.JSONRequest(u, body, c.ClientSecret)
	req.Lifetime = c.DefaultLifetime
	return c.settings().attempt(name, req)
}
