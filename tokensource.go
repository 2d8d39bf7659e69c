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
//	client := tokensource.NewClient(ctx, src)
//
// [RetryTokenSource] gives any other oauth2.TokenSource the same retries and
// shared failures, and [NewClient] the same HTTP client. Package
// tokensourcetest has fakes of the three endpoints for tests.
//
// What every source does the same way:
//
//   - Failed attempts are retried with exponential backoff and jitter when a
//     retry can help (no response, 408, 429, 500, 502, 503, 504) and never
//     when it cannot (any other 4xx, a malformed 2xx); see [RetryPolicy].
//   - A cached source shares a failure with every caller waiting on it and
//     then pauses before asking the provider again, so an outage costs the
//     provider a few requests rather than one per API call.
//   - Every HTTP failure is an [*Error], which also answers
//     errors.As(err, new(*oauth2.RetrieveError)).
//   - A response that gives no expiry yields a token that lives 5 minutes,
//     not forever, unless its access token is a JWT with an exp claim.
//   - A token's Extra holds what else the response said (scope, id_token,
//     ...). Unlike x/oauth2, it does not hold again what the token carries
//     in fields of its own: access_token, token_type, refresh_token and
//     expires_in (and their camelCase forms).
//   - Secrets and tokens never appear in error strings or formatted configs.
package tokensource

import (
	"strings"

	"golang.org/x/oauth2"
)

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
