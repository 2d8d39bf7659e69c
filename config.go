package tokensource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/wire"
)

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
// absolute http or https URL with a host and without fragment or user
// info sent in clear, and returns it as normalized by net/url. A BaseURL,
// to which a path is appended, takes no query either; a full URL such as
// TokenURL may carry one (?sig=…), as x/oauth2 allows: it is sent as given
// and, like a password, never printed (see wire.RedactURL). A bare "?" is
// refused everywhere: it is more likely a URL cut short than meant.
func parseURL(config, field, raw string) (string, error) {
	if err := require(config, field, raw); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid(config, field, "does not parse as a URL")
	}
	base := strings.HasSuffix(field, "BaseURL")
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Hostname() == "", base && u.RawQuery != "", u.ForceQuery && u.RawQuery == "",
		u.Fragment != "", strings.Contains(raw, "#"):
		without := "fragment or empty query"
		if base {
			without = "query or fragment"
		}
		return "", invalid(config, field, fmt.Sprintf(
			"must be an absolute http or https URL with a host and without %s, not %q", without, wire.RedactURL(u)))
	case u.User != nil && u.Scheme == "http":
		return "", invalid(config, field, "must not carry user info over plain http, which would send it in clear")
	}
	if s := u.String(); s != raw {
		return s, nil
	}
	return raw, nil // a source keeps the caller's string, not a copy of it
}

// settings are the fields every config shares.
type settings struct {
	client      *http.Client
	retry       *RetryPolicy
	expiryDelta time.Duration
	store       Store
	observer    Observer
	provider    Provider // names the provider in events
	identity    string   // names the source's identity in events, without a secret
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
	return s.retry.withDefaults().do(ctx, a, retryable, s.reporter().at(ctx))
}

// tokenSource returns a cached source of the tokens a fetches, with
// retries, renewal ahead of expiry and shared failures.
func (s settings) tokenSource(ctx context.Context, a attempt, key string, err error) oauth2.TokenSource {
	if err != nil {
		return failingSource{err}
	}
	return s.cached(ctx, a, nil, func() string { return key }, nil)
}
