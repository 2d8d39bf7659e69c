package tokensource

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/safeprint"
	"github.com/fintechauth/tokensource/internal/wire"
)

// ErrReauthorizationRequired is matched, through errors.Is, by the error of
// a refresh or code exchange that Flinks answered with 400, 401 or 403 and
// an OAuth error body ({"error": …, "error_description": …}) whose error is
// invalid_grant or access_denied: the authorization it managed has expired
// or been revoked, and the user must authorize again. Such a failure is
// never retried.
//
// Nothing else matches. Other codes (invalid_client, unauthorized_client,
// unsupported_grant_type, invalid_request) say that the app's credentials
// or request are wrong. An answer without an OAuth error body (a proxy's or
// firewall's HTML page, a gateway's {"message":"Forbidden"}, an empty body)
// may not come from Flinks at all. Both are ordinary failures, not retried,
// whose [*Error] gives the status. Even on a match, keep the refresh token
// until the user has authorized again: mark the connection, do not delete
// it.
var ErrReauthorizationRequired = errors.New("tokensource: Flinks authorization must be renewed")

// FlinksConfig gets access tokens from Flinks' POST {BaseURL}/api/v1/token,
// which takes a JSON body with the grant and the client credentials. It is
// shaped like x/oauth2's oauth2.Config: [FlinksConfig.Exchange] turns an
// authorization code into a token, [FlinksConfig.TokenSource] keeps a token
// fresh with its refresh token, and
// [FlinksConfig.ClientCredentialsTokenSource] serves app management.
//
// A Flinks refresh token does not change when used and expires after 30
// idle days. Refresh responses carry none, so the sources here keep the one
// they have and put it on every token they return; if a response ever
// carries a new one, it replaces the old.
type FlinksConfig struct {
	// ClientID is sent in the body as client_id. Required.
	ClientID string
	// ClientSecret is sent in the body as client_secret. Required.
	ClientSecret string
	// BaseURL is the API's base URL; /api/v1/token is appended and a path
	// prefix is kept. Optional; default "https://api.flinks.io".
	BaseURL string
	// RedirectURL is sent as redirect_uri by Exchange and must match the
	// one of the authorization request exactly. Required for Exchange.
	RedirectURL string
	// Scope is sent as scope with the client_credentials grant, e.g.
	// "client:admin". Optional.
	Scope string
	// OnNewToken, if set, is called with every token newly obtained from
	// Flinks (by Exchange, a refresh, or client credentials), never with one
	// served from a cache: store it there. Each refresh also renews the
	// refresh token's 30-day idle timeout, so the call records that too. It
	// gets a copy of its own, which nothing writes to afterwards, so it may
	// hand the token to a goroutine.
	//
	// It runs within the fetch: for a renewal ahead of expiry, in the
	// background while callers are served the current token; otherwise
	// before the token is returned to the caller that needed it, so keep it
	// short. A panic in it is recovered, as in every hook, and counts as a
	// failed fetch, with its cool-down: the callers get an error that
	// names the panic value's type only (the value may hold the token), a
	// background renewal reports it to Retry.Notify. The source keeps its refresh
	// token and fetches again after the cool-down, calling the hook again.
	// Exchange returns the token along with that error, so that the
	// refresh token is not lost.
	OnNewToken func(*oauth2.Token)

	// HTTPClient sends the token requests (see [ClientCredentialsConfig.HTTPClient]).
	// Optional; default: the context's oauth2.HTTPClient, else http.DefaultClient.
	HTTPClient *http.Client
	// Retry is the retry policy (see [ClientCredentialsConfig.Retry]);
	// Exchange retries less: see there. Optional; default: nil, the
	// defaults of [RetryPolicy].
	Retry *RetryPolicy
	// ExpiryDelta bounds how close to its expiry a token is served (see
	// [ClientCredentialsConfig.ExpiryDelta]); a token given to TokenSource
	// is served until ExpiryDelta before its expiry. Optional; default: 10s.
	ExpiryDelta time.Duration
	// Store shares tokens and failures with other processes (see
	// [ClientCredentialsConfig.Store]): a refresh source by its refresh
	// token, a client-credentials source by its client and scope.
	// OnNewToken is called in the process that obtained the token.
	// Optional; default: nil, this process only.
	Store Store
	// Observer is given the sources' events (see
	// [ClientCredentialsConfig.Observer]). Optional; default: nil, no events.
	Observer Observer
}

// Exchange turns an authorization code into a token, with a refresh token,
// through the authorization_code grant.
//
// A code works once, so Exchange never sends it again when Flinks may have
// used it: it retries only a 503 or 429, whose request Flinks did not
// process, and a connection that could not be opened. A failure after the
// request went out (a reset, a timeout, a 500) is returned as it is. A
// spent or revoked code matches [ErrReauthorizationRequired].
func (c *FlinksConfig) Exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	if c == nil {
		return nil, nilConfig("FlinksConfig")
	}
	if err := require("FlinksConfig", "RedirectURL", c.RedirectURL); err != nil {
		return nil, err
	}
	if code == "" {
		return nil, errors.New("tokensource: FlinksConfig.Exchange needs an authorization code")
	}
	if strings.ContainsFunc(code, unicode.IsControl) {
		return nil, errors.New("tokensource: FlinksConfig.Exchange: the authorization code contains a control character")
	}
	a, err := c.grant(map[string]string{"grant_type": "authorization_code", "code": code, "redirect_uri": c.RedirectURL}, code)
	if err != nil {
		return nil, err
	}
	tok, err := c.Retry.withDefaults().do(ctx, reauthorize(a), retryableOnce, c.settings().reporter().at(ctx))
	if err != nil {
		return nil, err
	}
	return tok, c.callOnNewToken(tok) // with the token: a failed hook must not lose it
}

// TokenSource returns a cached source, safe for concurrent use, that
// serves t and then the tokens it refreshes through the refresh_token
// grant. A token that lived L when obtained is refreshed in the background
// by the first call in the last min(L/2, 5m) before its expiry, while
// callers are still served it; it is served until min(ExpiryDelta, L/4)
// before its expiry, and only past that does a call wait for the refresh.
// ctx is used for every refresh.
//
// How long t lived is unknown, so t is served as x/oauth2 serves a token:
// until ExpiryDelta before its expiry; with less left, the first call
// waits for a refresh rather than send a token that may expire on the way.
// Its background refresh starts min(max(R/2, 2*ExpiryDelta), 5m) before
// its expiry (R: what was left of it), or ExpiryDelta if that is more.
//
// A t that is nil, or has expired and has no refresh token, yields a
// tokensource: error and no request.
func (c *FlinksConfig) TokenSource(ctx context.Context, t *oauth2.Token) oauth2.TokenSource {
	if c == nil {
		return failingSource{nilConfig("FlinksConfig")}
	}
	if _, err := c.grant(nil); err != nil {
		return failingSource{err}
	}
	if t != nil && strings.ContainsFunc(t.RefreshToken, unicode.IsControl) {
		return failingSource{errors.New("tokensource: FlinksConfig.TokenSource: the refresh token contains a control character")}
	}
	if t == nil || t.RefreshToken == "" {
		if t != nil {
			t = new(*t) // the ReuseTokenSource hands it to callers, who may write to it
		}
		return oauth2.ReuseTokenSourceWithExpiry(t, failingSource{errors.New(
			"tokensource: FlinksConfig.TokenSource needs a valid token or a refresh token")}, c.ExpiryDelta)
	}
	r := &flinksRefresh{c: *c, refreshToken: t.RefreshToken} // later changes to c do not reach r
	s := c.settings()
	return s.cached(ctx, r.attempt, t, r.key, r.adopt)
}

// Client returns an HTTP client that adds a token from c.TokenSource(ctx, t)
// to every request, through a [Transport]: a request waits for a token no
// longer than its context allows, and one rejected with 401 is sent again
// once with a new token.
func (c *FlinksConfig) Client(ctx context.Context, t *oauth2.Token) *http.Client {
	return NewClient(ctx, c.TokenSource(ctx, t))
}

// ClientCredentialsTokenSource returns a cached source of tokens from the
// client_credentials grant, with Scope when set, safe for concurrent use.
// It renews and serves its tokens as TokenSource does: in the background
// from min(L/2, 5m) before expiry, served until min(ExpiryDelta, L/4)
// before it. ctx is used for every fetch.
func (c *FlinksConfig) ClientCredentialsTokenSource(ctx context.Context) oauth2.TokenSource {
	if c == nil {
		return failingSource{nilConfig("FlinksConfig")}
	}
	fields := map[string]string{"grant_type": "client_credentials"}
	if c.Scope != "" {
		fields["scope"] = c.Scope
	}
	c = new(*c) // later changes to c do not reach the source
	a, err := c.grant(fields)
	if err != nil {
		return failingSource{err}
	}
	key := identity("flinks", c.baseURL(), c.ClientID, c.ClientSecret, "client_credentials", c.Scope)
	return c.settings().tokenSource(ctx, func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := a(ctx)
		if err == nil {
			err = c.callOnNewToken(tok)
		}
		return tok, err
	}, key, nil)
}

// String redacts the client secret from %v and %+v.
func (c FlinksConfig) String() string { return safeprint.Format(c, false, "ClientSecret") }

// GoString redacts the client secret from %#v.
func (c FlinksConfig) GoString() string { return safeprint.Format(c, true, "ClientSecret") }

// LogValue redacts the client secret from what log/slog prints.
func (c FlinksConfig) LogValue() slog.Value { return safeprint.LogValue(c, "ClientSecret") }

func (c *FlinksConfig) settings() settings {
	return settings{client: c.HTTPClient, retry: c.Retry, expiryDelta: c.ExpiryDelta, store: c.Store,
		observer: c.Observer, provider: ProviderFlinks, identity: c.ClientID}
}

// grant validates c and returns the attempt that posts the grant's fields
// with the client credentials. secrets are the fields' values to keep out
// of errors.
func (c *FlinksConfig) grant(fields map[string]string, secrets ...string) (attempt, error) {
	if err := require("FlinksConfig", "ClientID", c.ClientID, "ClientSecret", c.ClientSecret); err != nil {
		return nil, err
	}
	if err := printable("FlinksConfig", "Scope", c.Scope, "RedirectURL", c.RedirectURL); err != nil {
		return nil, err
	}
	base, err := parseURL("FlinksConfig", "BaseURL", c.baseURL())
	if err != nil {
		return nil, err
	}
	body := map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret}
	maps.Copy(body, fields)
	req := wire.JSONRequest(strings.TrimRight(base, "/")+"/api/v1/token", body, append(secrets, c.ClientSecret)...)
	return c.settings().attempt("FlinksConfig", req)
}

// baseURL is BaseURL or its default.
func (c *FlinksConfig) baseURL() string { return cmp.Or(c.BaseURL, "https://api.flinks.io") }

// callOnNewToken calls OnNewToken, if set, with a copy of tok, a token
// newly obtained from Flinks, so that nothing else writes to what the hook
// holds. A panic in the hook is returned as an error.
func (c *FlinksConfig) callOnNewToken(tok *oauth2.Token) error {
	if c.OnNewToken == nil {
		return nil
	}
	return guard("OnNewToken", func() { c.OnNewToken(new(*tok)) })
}

// reauthorize marks the failures of a that end the authorization as
// ErrReauthorizationRequired.
func reauthorize(a attempt) attempt {
	return func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := a(ctx)
		var e *Error
		if errors.As(err, &e) && authorizationEnded(e) {
			return nil, &reauthError{err}
		}
		return tok, err
	}
}

// authorizationEnded reports whether Flinks said that the authorization
// behind a code or refresh token has expired or been revoked: a 400, 401 or
// 403 whose body is an OAuth error with invalid_grant or access_denied.
// e.Code is not enough: it is also read from other shapes ({"code": …}),
// and is empty for a body that is not Flinks' at all.
func authorizationEnded(e *Error) bool {
	switch e.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
	default:
		return false
	}
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(e.Body, &body) != nil {
		return false
	}
	return body.Error == "invalid_grant" || body.Error == "access_denied"
}

// flinksRefresh refreshes with the refresh token it holds, which it
// replaces only when a response carries a new one. Its cached source runs
// one fetch at a time, so refreshToken needs no lock of its own.
type flinksRefresh struct {
	c            FlinksConfig
	refreshToken string
}

// key is the Store key of r's tokens: its client and its refresh token as
// it is now. Should Flinks ever send a new refresh token, r shares with
// the processes that have the new one, and no longer with those that kept
// the old one, whose failures are not its own.
func (r *flinksRefresh) key() string {
	return identity("flinks", r.c.baseURL(), r.c.ClientID, r.c.ClientSecret, "refresh_token", r.refreshToken)
}

// adopt puts the refresh token on a token another process obtained with
// it: the token shared through a Store does not carry it.
func (r *flinksRefresh) adopt(tok *oauth2.Token) *oauth2.Token {
	tok.RefreshToken = r.refreshToken
	return tok
}

func (r *flinksRefresh) attempt(ctx context.Context) (*oauth2.Token, error) {
	a, err := r.c.grant(map[string]string{"grant_type": "refresh_token", "refresh_token": r.refreshToken}, r.refreshToken)
	if err != nil {
		return nil, err
	}
	tok, err := reauthorize(a)(ctx)
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = r.refreshToken
	}
	r.refreshToken = tok.RefreshToken
	return tok, r.c.callOnNewToken(tok)
}

// retryableOnce is the retry rule for a request that must not be processed
// twice: only where the provider said it did not process it, or where it
// was never sent.
func retryableOnce(err error) bool {
	if status, ok := statusOf(err); ok {
		return status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && transient(err)
}

// reauthError is a failure that requires the user to authorize again.
type reauthError struct{ err error }

func (e *reauthError) Error() string {
	return ErrReauthorizationRequired.Error() + ": " + message(e.err)
}

func (e *reauthError) Unwrap() []error { return []error{ErrReauthorizationRequired, e.err} }
