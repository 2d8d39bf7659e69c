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
//     not forever.
//   - Secrets and tokens never appear in error strings or formatted configs.
package tokensource

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

const (
	// maxBodySize is the largest response body read. A larger success body
	// is an error, never a truncated token; a larger error body is kept
	// truncated in [Error.Body].
	maxBodySize = 1 << 20

	// defaultLifetime is how long a token lives when its response says
	// nothing about its expiry.
	defaultLifetime = 5 * time.Minute
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
	// secrets replaced by "[redacted]".
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
	return b.String()
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

// tokenRequest is one token request, prepared once and sent once per
// attempt. Every provider builds one and shares the exchange below.
type tokenRequest struct {
	method   string
	url      string
	header   http.Header
	body     []byte        // nil for no body
	secrets  []string      // values to redact from anything reported
	lifetime time.Duration // of a token whose response gives no expiry; 0 means defaultLifetime
}

// jsonRequest returns a POST of body as JSON to url.
func jsonRequest(url string, body map[string]string, secrets ...string) *tokenRequest {
	b, _ := json.Marshal(body) // a map of strings always marshals
	return &tokenRequest{
		method:  http.MethodPost,
		url:     url,
		header:  http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}},
		body:    b,
		secrets: secrets,
	}
}

// send makes one HTTP request and turns its response into a token. A
// response that is not a usable token is an [*Error]; a failure to get a
// response wraps the HTTP client's error.
func (r *tokenRequest) send(ctx context.Context, client *http.Client) (*oauth2.Token, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("tokensource: building token request: %w", err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	sent := time.Now()
	resp, err := sameHost(client).Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokensource: token request failed: %w", err)
	}
	raw, tooLarge, err := readBody(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("tokensource: reading token response: %w", err)
	}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		err = nil
	case tooLarge:
		err = fmt.Errorf("response body exceeds %d bytes", maxBodySize)
	default:
		var tok *oauth2.Token
		if tok, err = decodeToken(raw, sent, cmp.Or(r.lifetime, defaultLifetime)); err == nil {
			return tok, nil
		}
	}
	return nil, newError(resp, redact(raw, append(tokensIn(raw), r.secrets...)), err)
}

// errRedirect refuses a redirect that would carry credentials elsewhere.
var errRedirect = errors.New("tokensource: redirect to another host or to plain http refused: it would carry the credentials there")

// sameHost returns a copy of c that follows a token endpoint's redirects
// only on the same host and never from https to http: net/http would
// forward headers such as Api-Secret, and resend a 307's JSON body, to any
// host. c's own redirect rule still applies.
func sameHost(c *http.Client) *http.Client {
	limited := *c
	limited.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != via[0].URL.Host || (via[0].URL.Scheme == "https" && req.URL.Scheme != "https") {
			return errRedirect
		}
		if c.CheckRedirect != nil {
			return c.CheckRedirect(req, via)
		}
		if len(via) >= 10 {
			return errors.New("tokensource: stopped after 10 redirects")
		}
		return nil
	}
	return &limited
}

// tokensIn returns the tokens a body carries, which an unusable 2xx
// response may do: they are secrets too.
func tokensIn(body []byte) []string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	return []string{str(m, "access_token", "accessToken"), str(m, "refresh_token", "refreshToken")}
}

// readBody reads at most maxBodySize bytes of rc, drains a little more so
// the connection can be reused, and closes it.
func readBody(rc io.ReadCloser) (body []byte, tooLarge bool, err error) {
	defer rc.Close()
	body, err = io.ReadAll(io.LimitReader(rc, maxBodySize+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > maxBodySize {
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
		return body[:maxBodySize], true, nil
	}
	return body, false, nil
}

// redact replaces every secret in b with "[redacted]".
func redact(b []byte, secrets []string) []byte {
	for _, s := range secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			b = bytes.ReplaceAll(b, []byte(s), []byte("[redacted]"))
		}
	}
	return b
}

// newError describes a response that did not yield a token. It reads
// whichever error fields the body carries; the providers' names do not
// collide, so one reading serves all of them.
func newError(resp *http.Response, body []byte, cause error) *Error {
	e := &Error{
		StatusCode: resp.StatusCode,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After")),
		Body:       body,
		Response:   resp,
		err:        cause,
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return e
	}
	e.Code = str(m, "errorCode", "error", "code")
	e.SubCode = str(m, "errorSubCode")
	e.Message = str(m, "errorMessage", "error_description", "text", "message")
	e.RequestID = str(m, "requestId", "errorId", "request_id")
	e.ResourceID = str(m, "resourceId")
	e.DocumentationURL = str(m, "documentationUrl", "error_uri")
	e.ParameterName = str(m, "parameter_name")
	e.ParameterValue = m["parameter_value"]
	return e
}

// parseRetryAfter reads a Retry-After header given in seconds or as an
// HTTP date; 0 means none, or a date already past.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, math.MaxInt64/int64(time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// decodeToken turns a 2xx JSON body into a token. It reads the OAuth names
// (access_token, token_type, expires_in, refresh_token) and their camelCase
// forms; expires_in may be a number or a numeric string, and an absolute
// expiry (expires, expires_at, expiry) is used when no expires_in is given.
// Without either, the token lives for lifetime. The whole body stays
// reachable through the token's Extra method.
func decodeToken(body []byte, sent time.Time, lifetime time.Duration) (*oauth2.Token, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, errors.New("response is not a JSON object")
	}
	tok := oauth2.Token{ // a value: WithExtra below makes the one copy that escapes
		AccessToken:  str(m, "access_token", "accessToken"),
		TokenType:    str(m, "token_type", "tokenType"),
		RefreshToken: str(m, "refresh_token", "refreshToken"),
	}
	if tok.AccessToken == "" {
		return nil, errors.New("response has no access token")
	}
	if tok.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	in, err := expiresIn(m)
	if err != nil {
		return nil, err
	}
	switch {
	case in > 0:
		tok.ExpiresIn = in
		tok.Expiry = sent.Add(time.Duration(in) * time.Second)
	default:
		at, err := expiresAt(m)
		if err != nil {
			return nil, err
		}
		if at.IsZero() {
			at = sent.Add(lifetime)
		}
		tok.Expiry = at
	}
	return tok.WithExtra(m), nil
}

// expiresIn reads expires_in or expiresIn in seconds; 0 means absent.
func expiresIn(m map[string]any) (int64, error) {
	for _, k := range []string{"expires_in", "expiresIn"} {
		var n float64
		switch v := m[k].(type) {
		case nil:
			continue
		case float64:
			n = v
		case string:
			var err error
			if n, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
				n = -1
			}
		default:
			n = -1
		}
		if n < 0 || n > math.MaxInt32 {
			return 0, fmt.Errorf("%s is not a valid number of seconds", k)
		}
		return int64(n), nil
	}
	return 0, nil
}

// expiresAt reads an absolute expiry, as an RFC 3339 string or Unix
// seconds; zero means absent.
func expiresAt(m map[string]any) (time.Time, error) {
	for _, k := range []string{"expires", "expires_at", "expiresAt", "expiry"} {
		switch v := m[k].(type) {
		case nil:
			continue
		case string:
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", k)
			}
			return t, nil
		case float64:
			if v < 0 || v > 1e11 { // beyond the year 5000 is not a time a token ends
				return time.Time{}, fmt.Errorf("%s is not Unix seconds", k)
			}
			return time.Unix(int64(v), 0), nil
		default:
			return time.Time{}, fmt.Errorf("%s is not a time", k)
		}
	}
	return time.Time{}, nil
}

// str returns the first of m's keys that holds a non-empty string.
func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// invalid reports a config field that is missing or wrong.
func invalid(config, field, problem string) error {
	return fmt.Errorf("tokensource: %s.%s %s", config, field, problem)
}

// require reports the first of the named fields, given as name and value
// pairs, that is empty.
func require(config string, fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] == "" {
			return invalid(config, fields[i], "is required")
		}
	}
	return nil
}

// parseURL checks that raw, the value of a config's URL field, is an
// absolute http or https URL without query or fragment, and returns it as
// normalized by net/url.
func parseURL(config, field, raw string) (string, error) {
	if raw == "" {
		return "", invalid(config, field, "is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid(config, field, "does not parse as a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", invalid(config, field, fmt.Sprintf("must be an absolute http or https URL without query or fragment, not %q", u.Redacted()))
	}
	return u.String(), nil
}

// settings are the fields every config shares.
type settings struct {
	client      *http.Client
	retry       *RetryPolicy
	expiryDelta time.Duration
}

// httpClient returns the configured client, else the oauth2.HTTPClient
// value of ctx, else http.DefaultClient.
func (s settings) httpClient(ctx context.Context) *http.Client {
	if s.client != nil {
		return s.client
	}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	return http.DefaultClient
}

// attempt checks the shared settings of the config called name and returns
// the attempt that sends r.
func (s settings) attempt(name string, r *tokenRequest) (attempt, error) {
	if s.expiryDelta < 0 {
		return nil, invalid(name, "ExpiryDelta", "must not be negative")
	}
	if err := s.retry.validate(name); err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		return r.send(ctx, s.httpClient(ctx))
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
func (s settings) tokenSource(ctx context.Context, a attempt, err error) oauth2.TokenSource {
	if err != nil {
		return failingSource{err}
	}
	return oauth2.ReuseTokenSourceWithExpiry(nil, newRetrySource(ctx, a, s.retry, retryable), s.expiryDelta)
}

// failingSource is a source whose configuration is invalid: every call
// returns the same error, and nothing is sent.
type failingSource struct{ err error }

func (s failingSource) Token() (*oauth2.Token, error) { return nil, s.err }

// formatConfig prints a config struct for %v, %+v and %#v with the named
// secret fields redacted.
func formatConfig(v any, goSyntax bool, secrets ...string) string {
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	var b strings.Builder
	if goSyntax {
		b.WriteString(rt.String())
	}
	b.WriteByte('{')
	for i := range rt.NumField() {
		if i > 0 {
			b.WriteString(", ")
		}
		f, val := rt.Field(i).Name, rv.Field(i).Interface()
		for _, s := range secrets {
			if s == f && rv.Field(i).String() != "" {
				val = "[redacted]"
			}
		}
		if goSyntax {
			fmt.Fprintf(&b, "%s:%#v", f, val)
		} else {
			fmt.Fprintf(&b, "%s:%v", f, val)
		}
	}
	b.WriteByte('}')
	return b.String()
}
