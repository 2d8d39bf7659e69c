// Package tokensource provides [golang.org/x/oauth2] token sources for
// fintech token endpoints that x/oauth2 cannot talk to on its own:
// [FliqaConfig] (API key and secret in headers, camelCase answer),
// [FlinksConfig] (JSON grants, a refresh token that never changes) and
// [ClientCredentialsConfig] (client credentials as JSON, AbbeyCross by
// default).
//
// Each config has the shape of x/oauth2's clientcredentials.Config: Token(ctx)
// for one fetch, TokenSource(ctx) for a cached, concurrency-safe source and
// Client(ctx) for an *http.Client that authorizes every request it sends.
//
//	src := (&tokensource.FliqaConfig{
//		APIKey:      key,
//		APISecret:   secret,
//		Environment: tokensource.FliqaSandbox,
//		TenantSlug:  "my_slug",
//		BaseURL:     baseURL,
//	}).TokenSource(ctx)
//	client := oauth2.NewClient(ctx, src)
//
// [RetryTokenSource] gives any other oauth2.TokenSource the same retries and
// shared failures. Package tokensourcetest has fakes of the three endpoints
// for tests.
//
// What every source does the same way:
//
//   - Failed attempts are retried with exponential backoff and jitter when a
//     retry can help (no response, 429, 500, 502, 503, 504) and never when it
//     cannot (any other 4xx, a malformed 2xx); see [RetryPolicy].
//   - A cached source shares a failure with every caller waiting on it and
//     then pauses before asking the provider again, so an outage costs the
//     provider a few requests rather than one per API call.
//   - Every HTTP failure is an [*Error], which also answers
//     errors.As(err, new(*oauth2.RetrieveError)).
//   - A response that gives no expiry yields a token that lives 5 minutes,
//     not forever, unless its access token is a JWT with an exp claim.
//   - Secrets and tokens never appear in error strings or formatted configs.
package tokensource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
	"github.com/fintechauth/tokensource/internal/wire"
)

// Error is the error for every token response that did not yield a token:
// any non-2xx status, and a 2xx whose body is not a usable token.
// errors.As(err, new(*oauth2.RetrieveError)) also succeeds for it, so code
// written for x/oauth2 keeps working.
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the provider's error code (Fliqa errorCode, OAuth error,
	// AbbeyCross code).
	Code string
	// SubCode is the provider's finer error code (Fliqa errorSubCode).
	SubCode string
	// Message is the provider's human-readable text (Fliqa errorMessage,
	// OAuth error_description, AbbeyCross text).
	Message string
	// RequestID identifies the request or event at the provider (Fliqa
	// requestId, AbbeyCross errorId); quote it to their support.
	RequestID string
	// ResourceID is the provider's id of the resource concerned (Fliqa
	// resourceId).
	ResourceID string
	// DocumentationURL points at the provider's explanation of the error
	// (Fliqa documentationUrl, OAuth error_uri).
	DocumentationURL string
	// ParameterName and ParameterValue name the request field that failed
	// validation, when the provider says (AbbeyCross parameter_name and
	// parameter_value).
	ParameterName  string
	ParameterValue any
	// RetryAfter is the wait the provider asked for in a Retry-After
	// header, 0 if it sent none.
	RetryAfter time.Duration
	// Body is the raw response body, at most 1 MiB, with the request's
	// secrets and any token it carries replaced by "[redacted]".
	Body []byte
	// Response is the HTTP response; its body has already been read and
	// closed.
	Response *http.Response

	err error // why a 2xx response is unusable, nil for non-2xx
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tokensource: ")
	if r := e.Response; r != nil && r.Request != nil {
		fmt.Fprintf(&b, "%s %s: ", r.Request.Method, r.Request.URL.Redacted())
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.err != nil {
		b.WriteString(": " + e.err.Error())
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
		if e.SubCode != "" {
			b.WriteString("/" + e.SubCode)
		}
	}
	if e.ParameterName != "" {
		b.WriteString(" (parameter " + e.ParameterName + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" [request id " + e.RequestID + "]")
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after " + e.RetryAfter.String() + ")")
	}
	return wire.Printable(b.String())
}

// Unwrap returns why a 2xx response was unusable, or nil.
func (e *Error) Unwrap() error { return e.err }

// As lets errors.As find an *oauth2.RetrieveError in e, with Response, Body,
// ErrorCode (Code), ErrorDescription (Message) and ErrorURI
// (DocumentationURL) filled.
func (e *Error) As(target any) bool {
	p, ok := target.(**oauth2.RetrieveError)
	if ok {
		*p = &oauth2.RetrieveError{
			Response:         e.Response,
			Body:             e.Body,
			ErrorCode:        e.Code,
			ErrorDescription: e.Message,
			ErrorURI:         e.DocumentationURL,
		}
	}
	return ok
}

// newError is the Error for a response that did not yield a token.
func newError(f *wire.Failure) *Error {
	return &Error{
		StatusCode:       f.Response.StatusCode,
		Code:             f.Code,
		SubCode:          f.SubCode,
		Message:          f.Message,
		RequestID:        f.RequestID,
		ResourceID:       f.ResourceID,
		DocumentationURL: f.DocumentationURL,
		ParameterName:    f.ParameterName,
		ParameterValue:   f.ParameterValue,
		RetryAfter:       f.RetryAfter,
		Body:             f.Body,
		Response:         f.Response,
		err:              f.Err,
	}
}

// Scopes returns the scopes a token response granted, whether the provider
// sent them as a space-separated string (OAuth) or as a list (Fliqa), or nil.
func Scopes(t *oauth2.Token) []string {
	switch s := t.Extra("scope").(type) {
	case string:
		return strings.Fields(s)
	case []any:
		out := make([]string, 0, len(s))
		for _, v := range s {
			if str, ok := v.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

// Transport is an http.RoundTripper that authorizes each request with a
// token from Source, as oauth2.Transport does, and does two things more:
//
//   - A request waits for a token only as long as its context allows: when
//     the context ends first, RoundTrip returns an error wrapping its cause,
//     and the fetch goes on for the other callers. With a cached source of
//     this package, a request that finds a valid token does not wait at all.
//   - When the API answers 401, the token the request carried is
//     invalidated (see [Invalidate]) and the request is sent once more with
//     a new token, if its body can be sent again: it has none, or
//     Request.GetBody is set (http.NewRequest sets it for a bytes.Reader,
//     bytes.Buffer or strings.Reader). A 401 means the request was not
//     processed, so this is safe for any method. A second 401, or one whose
//     body cannot be replayed, is returned as it is. A 403 is a permission
//     answer and is returned as it is.
//
// The configs' Client methods use it.
type Transport struct {
	// Source supplies the tokens. Required.
	Source oauth2.TokenSource
	// Base sends the requests. Optional; default http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip authorizes req and sends it, as described at [Transport].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	bodyClosed := false // by the base RoundTripper, once it has req
	if req.Body != nil {
		defer func() {
			if !bodyClosed {
				req.Body.Close()
			}
		}()
	}
	if t.Source == nil {
		return nil, errors.New("tokensource: Transport.Source is nil")
	}
	tok, err := t.token(req.Context())
	if err != nil {
		return nil, err
	}
	bodyClosed = true
	resp, err := t.send(req, req.Body, tok)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	Invalidate(t.Source, tok)
	body := req.Body // nil or http.NoBody: nothing to replay
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	fresh, err := t.token(req.Context())
	if err != nil || fresh.AccessToken == tok.AccessToken {
		if body != nil {
			body.Close()
		}
		return resp, nil // no other token to try: the 401 stands
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.send(req, body, fresh)
}

// token returns a token for a request with ctx, waiting for a fetch no
// longer than ctx allows.
func (t *Transport) token(ctx context.Context) (*oauth2.Token, error) {
	if s, ok := t.Source.(*cache.Source); ok {
		if tok, ok := s.TryToken(); ok {
			return tok, nil
		}
	}
	if ctx.Done() == nil {
		return t.Source.Token()
	}
	type result struct {
		tok      *oauth2.Token
		err      error
		panicked any // from a hook in the fetch: it goes on to the caller, if still there
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{panicked: r}
			}
		}()
		tok, err := t.Source.Token()
		done <- result{tok: tok, err: err}
	}()
	select {
	case r := <-done:
		if r.panicked != nil {
			panic(r.panicked)
		}
		return r.tok, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("tokensource: request ended while waiting for a token: %w", context.Cause(ctx))
	}
}

// send sends a copy of req with body, authorized by tok.
func (t *Transport) send(req *http.Request, body io.ReadCloser, tok *oauth2.Token) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Body = body
	tok.SetAuthHeader(req)
	if t.Base != nil {
		return t.Base.RoundTrip(req)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// Invalidate tells src, a cached source of this package, that an API
// rejected tok: if tok is still src's current token, src drops it and its
// next call fetches another. Callers that already hold tok keep it. It
// reports whether src dropped tok: false when tok had already been
// replaced (so that many requests rejected for one token cost one new
// fetch), when src is not a cached source of this package, or within the
// pause after src dropped another token. That pause is
// RetryPolicy.MaxInterval at first and doubles, up to MaxCoolDown, while
// the API rejects each new token too, so that an API that rejects every
// token does not cost a token request per API request.
// [Transport] calls it on every 401.
func Invalidate(src oauth2.TokenSource, tok *oauth2.Token) bool {
	s, ok := src.(*cache.Source)
	return ok && s.Invalidate(tok)
}

// newClient returns an HTTP client that authorizes its requests with
// tokens from src through a [Transport], on the transport of the
// oauth2.HTTPClient value of ctx, as oauth2.NewClient does.
func newClient(ctx context.Context, src oauth2.TokenSource) *http.Client {
	c, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if c == nil {
		c = http.DefaultClient
	}
	return &http.Client{
		Transport:     &Transport{Source: src, Base: c.Transport},
		CheckRedirect: c.CheckRedirect,
		Jar:           c.Jar,
		Timeout:       c.Timeout,
	}
}

// ConfigError reports a config field that is missing or wrong. It is
// returned before any request is sent, and never retried.
type ConfigError struct {
	Config  string // the config type, e.g. "FliqaConfig"
	Field   string // the field, e.g. "TenantSlug" or "Retry.MaxInterval"
	Problem string // what is wrong, e.g. "is required"
}

func (e *ConfigError) Error() string {
	return "tokensource: " + e.Config + "." + e.Field + " " + e.Problem
}

// invalid reports a config field that is missing or wrong.
func invalid(config, field, problem string) error {
	return &ConfigError{Config: config, Field: field, Problem: problem}
}

// require reports the first of the named fields, given as name and value
// pairs, that is empty or holds a control character.
func require(config string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return invalid(config, fields[i], "is required")
		}
	}
	return printable(config, fields...)
}

// printable reports the first of the named fields, given as name and value
// pairs, that holds a control character: typically the newline at the end
// of a secret read from a file, which would never match. The value is not
// shown: it may be a secret.
func printable(config string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.ContainsFunc(fields[i+1], unicode.IsControl) {
			return invalid(config, fields[i], "contains a control character (a trailing newline?)")
		}
	}
	return nil
}

// parseURL checks that raw, the value of a config's URL field, is an
// absolute http or https URL with a host and without query, fragment, or
// user info sent in clear, and returns it as normalized by net/url.
func parseURL(config, field, raw string) (string, error) {
	if err := require(config, field, raw); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid(config, field, "does not parse as a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Hostname() == "", u.RawQuery != "", u.ForceQuery,
		u.Fragment != "", strings.Contains(raw, "#"):
		return "", invalid(config, field, fmt.Sprintf(
			"must be an absolute http or https URL with a host and without query or fragment, not %q", u.Redacted()))
	case u.User != nil && u.Scheme == "http":
		return "", invalid(config, field, "must not carry user info over plain http, which would send it in clear")
	}
	if s := u.String(); s != raw {
		return s, nil
	}
	return raw, nil // a source keeps the caller's string, not a copy of it
}

// Store shares tokens and failures among the sources of many processes, so
// that a fleet of replicas costs a provider what one process costs: one
// token request per rollover, and one probe per cool-down while the
// provider fails. Set it as the Store field of a config; package
// github.com/fintechauth/tokensource/redisstore implements it on Redis.
//
// A source consults its Store only when it needs a token: on a miss, and
// to renew ahead of expiry. It takes a token or a failure that another
// process stored; otherwise it fetches under the Store's lock, and the
// other processes wait for what it stores, for as long as a fetch may
// take (its budget and a second), or until the lock is let go of without
// an outcome, then fetch on their own. A Store that fails or is slow never
// fails a token: the source fetches on its own and tells
// RetryPolicy.Notify. Each call gets a context that ends within a second;
// a Store must return when it ends.
//
// Keys name a source's identity (provider, endpoint, client id or tenant,
// and the secret; a Flinks refresh source by its refresh token) as a
// SHA-256 hash: they hold no secret, and replicas with different secrets,
// as during a rotation, never share a token or a failure. Values carry
// access tokens, so a Store must keep them from other eyes, as redisstore
// does by sealing them. A Store must be safe for concurrent use.
type Store interface {
	// Get returns the value stored at key, or nil and no error if there is
	// none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value at key, to expire after ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Lock takes the lock named key for ttl if nobody holds it, and returns
	// a function that releases it if this call still holds it; it returns
	// a nil function if somebody else holds the lock.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// settings are the fields every config shares.
type settings struct {
	client      *http.Client
	retry       *RetryPolicy
	expiryDelta time.Duration
	store       Store
}

// identity is the Store key of a source: its provider and a hash of what
// identifies its tokens, its secrets included.
func identity(provider string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return provider + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// shared says how a source with the Store key that key returns shares its
// tokens, or is nil without a Store. adopt, if set, readies a token another
// process fetched.
func (s settings) shared(key func() string, adopt func(*oauth2.Token) *oauth2.Token) *cache.Shared {
	if s.store == nil {
		return nil
	}
	return &cache.Shared{Store: s.store, Key: key, LockTTL: s.retry.withDefaults().budget() + time.Second,
		EncodeErr: encodeErr, DecodeErr: decodeErr, Adopt: adopt}
}

// sharedError is a failure as another process gets it through a Store:
// what Error says, without the response.
type sharedError struct {
	Status     int           `json:"status,omitempty"`
	Code       string        `json:"code,omitempty"`
	SubCode    string        `json:"sub_code,omitempty"`
	Message    string        `json:"message,omitempty"`
	RequestID  string        `json:"request_id,omitempty"`
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	Reauth     bool          `json:"reauth,omitempty"`
	Text       string        `json:"text"`
}

func encodeErr(err error) json.RawMessage {
	se := sharedError{Text: message(err), Reauth: errors.Is(err, ErrReauthorizationRequired)}
	if e := new(Error); errors.As(err, &e) {
		se.Status, se.Code, se.SubCode, se.Message, se.RequestID, se.RetryAfter =
			e.StatusCode, e.Code, e.SubCode, e.Message, e.RequestID, e.RetryAfter
	}
	b, _ := json.Marshal(se) // strings and numbers always marshal
	return b
}

func decodeErr(b json.RawMessage) error {
	var se sharedError
	_ = json.Unmarshal(b, &se)
	err := errors.New("tokensource: " + se.Text)
	if se.Status != 0 {
		err = &Error{StatusCode: se.Status, Code: se.Code, SubCode: se.SubCode, Message: se.Message,
			RequestID: se.RequestID, RetryAfter: se.RetryAfter}
	}
	if se.Reauth {
		err = &reauthError{err}
	}
	return wrap(err, "another process's fetch failed")
}

// httpClient returns client if it is not nil, else the oauth2.HTTPClient
// value of ctx, else http.DefaultClient.
func httpClient(ctx context.Context, client *http.Client) *http.Client {
	if client != nil {
		return client
	}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	return http.DefaultClient
}

// attempt checks the shared settings of the config called name and returns
// the attempt that sends r.
func (s settings) attempt(name string, r *wire.Request) (attempt, error) {
	if s.expiryDelta < 0 {
		return nil, invalid(name, "ExpiryDelta", "must not be negative")
	}
	if err := s.retry.validate(name); err != nil {
		return nil, err
	}
	client := s.client // all that an attempt, kept by every source, needs of s
	return func(ctx context.Context) (*oauth2.Token, error) {
		tok, err := r.Send(ctx, httpClient(ctx, client))
		var f *wire.Failure
		if errors.As(err, &f) {
			return nil, newError(f)
		}
		return tok, err
	}, nil
}

// token fetches one token, retrying as the policy allows.
func (s settings) token(ctx context.Context, a attempt, err error) (*oauth2.Token, error) {
	if err != nil {
		return nil, err
	}
	return s.retry.withDefaults().do(ctx, a, retryable)
}

// tokenSource caches the tokens a fetches in an oauth2.ReuseTokenSource,
// with retries and shared failures beneath it.
func (s settings) tokenSource(ctx context.Context, a attempt, key string, err error) oauth2.TokenSource {
	if err != nil {
		return failingSource{err}
	}
	return cached(ctx, a, s.retry, retryable, nil, s.expiryDelta, s.shared(func() string { return key }, nil))
}

// failingSource is a source whose configuration is invalid: every call
// returns the same error, and nothing is sent.
type failingSource struct{ err error }

func (s failingSource) Token() (*oauth2.Token, error) { return nil, s.err }
