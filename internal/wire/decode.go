package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DecodeToken turns a 2xx JSON body into a token. It reads the OAuth names
// (access_token, token_type, expires_in, refresh_token) and their camelCase
// forms.
//
// The expiry is the first of these the body states. expires_in (or
// expiresIn): a number or a string of decimal digits with an optional
// fraction, in seconds from the send time, fractions of a second kept (0.5
// is half a second, never "absent"); 0 means absent, and more than 2^31-1
// is malformed. Else an absolute expires, expires_at, expiresAt or expiry:
// RFC 3339, or Unix seconds up to the end of the year 9999 (the last second
// RFC 3339 can write; a fraction is cut), 0 or "0" meaning absent. Else a
// JWT access token's "exp" claim in the same Unix seconds: it is read only
// to schedule renewal, without checking the signature, and one that is not
// such a number is ignored, never an error. Without any of these the token
// lives for lifetime (DefaultLifetime if lifetime is not positive).
//
// Every stated expiry, whatever its form, gets the same treatment: one
// more than MaxLifetime after the send time is cut to MaxLifetime, and one
// at or before the send time is an error (the token has already expired).
// The token's ExpiresIn is the whole seconds of a stated expires_in, after
// that cut, else 0. A malformed expires_in or absolute expiry is an
// error, as is a body with an OAuth "error", as x/oauth2 treats it. What
// else the body holds stays reachable through the token's Extra method
// (the fields above, which the token carries, are not kept twice).
func DecodeToken(body []byte, sent time.Time, lifetime time.Duration) (*oauth2.Token, error) {
	var v any // into any, json builds the map with fewer allocations than into a map
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, errors.New("response is not a JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("response is not a JSON object")
	}
	if firstString(m, "error") != "" {
		return nil, errors.New("response carries an OAuth error")
	}
	tok := oauth2.Token{ // a value: WithExtra below makes the one copy that escapes
		AccessToken:  firstString(m, "access_token", "accessToken"),
		TokenType:    firstString(m, "token_type", "tokenType"),
		RefreshToken: firstString(m, "refresh_token", "refreshToken"),
	}
	if tok.AccessToken == "" {
		return nil, errors.New("response has no access token")
	}
	if tok.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	in, relative, err := expiresIn(m)
	if err != nil {
		return nil, err
	}
	at := sent.Add(in)
	if !relative {
		if at, err = expiresAt(m); err != nil {
			return nil, err
		}
		if at.IsZero() {
			at = jwtExpiry(tok.AccessToken)
		}
		if at.IsZero() {
			if lifetime <= 0 {
				lifetime = DefaultLifetime
			}
			tok.Expiry = sent.Add(lifetime)
			return withExtra(tok, m), nil
		}
	}
	if !at.After(sent) {
		return nil, fmt.Errorf("token already expired at %s", at.UTC().Format(time.RFC3339))
	}
	if limit := sent.Add(MaxLifetime); at.After(limit) {
		at = limit
	}
	tok.Expiry = at
	if relative {
		tok.ExpiresIn = int64(at.Sub(sent) / time.Second) // whole seconds: never later than stated
	}
	return withExtra(tok, m), nil
}

// carriedFields are the body's fields that oauth2.Token has fields for;
// Extra holds the others.
var carriedFields = []string{"access_token", "accessToken", "token_type", "tokenType", "refresh_token", "refreshToken",
	"expires_in", "expiresIn"}

// withExtra returns a copy of tok whose Extra reads what else m holds, if
// anything: an idle source keeps its token's fields once.
func withExtra(tok oauth2.Token, m map[string]any) *oauth2.Token {
	for _, k := range carriedFields {
		delete(m, k)
	}
	if len(m) == 0 {
		return &tok
	}
	return tok.WithExtra(m)
}

// plainSeconds matches a plain decimal number of seconds: no sign,
// exponent, hex, NaN or infinity.
var plainSeconds = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// expiresIn reads expires_in or expiresIn, keeping fractions of a second,
// and whether it is there: 0 means absent, and a positive number under a
// nanosecond is there as 0.
func expiresIn(m map[string]any) (d time.Duration, ok bool, err error) {
	for _, k := range []string{"expires_in", "expiresIn"} {
		n := -1.0
		switch v := m[k].(type) {
		case nil:
			continue
		case float64:
			n = v
		case string:
			if v = strings.TrimSpace(v); plainSeconds.MatchString(v) {
				n, _ = strconv.ParseFloat(v, 64)
			}
		}
		if n < 0 || n > math.MaxInt32 {
			return 0, false, fmt.Errorf("%s is not a valid number of seconds", k)
		}
		return time.Duration(n * float64(time.Second)), n > 0, nil
	}
	return 0, false, nil
}

// expiresAt reads an absolute expiry, as an RFC 3339 string or Unix
// seconds; the zero time means absent, and so do 0 and "0".
func expiresAt(m map[string]any) (time.Time, error) {
	for _, k := range []string{"expires", "expires_at", "expiresAt", "expiry"} {
		v := m[k]
		if v == nil || v == "0" || v == 0.0 {
			continue
		}
		switch v := v.(type) {
		case string:
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", k)
			}
			return t, nil
		case float64:
			t, ok := unixSeconds(v)
			if !ok {
				return time.Time{}, fmt.Errorf("%s is not Unix seconds", k)
			}
			return t, nil
		default:
			return time.Time{}, fmt.Errorf("%s is not a time", k)
		}
	}
	return time.Time{}, nil
}

// maxUnix is 9999-12-31T23:59:59Z, the last second RFC 3339 can write, in
// Unix seconds: no later absolute expiry can be stated in either form.
const maxUnix = 253402300799

// unixSeconds returns the time of Unix seconds s, cut to the second, if s
// is one an absolute expiry can state: after 1970, up to maxUnix.
func unixSeconds(s float64) (time.Time, bool) {
	if s <= 0 || s > maxUnix {
		return time.Time{}, false
	}
	return time.Unix(int64(s), 0), true
}

// jwtExpiry returns the "exp" claim of token if it is a JWT (three
// base64url segments whose middle one is a JSON object) with a usable
// numeric exp, else the zero time. It checks no signature: the claim only
// schedules renewal.
func jwtExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var claims map[string]any
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	exp, _ := claims["exp"].(float64)
	t, _ := unixSeconds(exp)
	return t
}

// Fields are the error fields a body carries. The providers' names do not
// collide, so one reading serves all of them.
type Fields struct {
	Code             string // Fliqa errorCode, OAuth error, AbbeyCross code
	SubCode          string // Fliqa errorSubCode
	Message          string // Fliqa errorMessage, OAuth error_description, AbbeyCross text
	RequestID        string // Fliqa requestId, AbbeyCross errorId
	ResourceID       string // Fliqa resourceId
	DocumentationURL string // Fliqa documentationUrl, OAuth error_uri
	ParameterName    string // AbbeyCross parameter_name
	ParameterValue   any    // AbbeyCross parameter_value
}

// ErrorFields reads whichever error fields body carries.
func ErrorFields(body []byte) Fields {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return Fields{}
	}
	return Fields{
		Code:             firstString(m, "errorCode", "error", "code"),
		SubCode:          firstString(m, "errorSubCode"),
		Message:          firstString(m, "errorMessage", "error_description", "text", "message"),
		RequestID:        firstString(m, "requestId", "errorId", "request_id"),
		ResourceID:       firstString(m, "resourceId"),
		DocumentationURL: firstString(m, "documentationUrl", "error_uri"),
		ParameterName:    firstString(m, "parameter_name"),
		ParameterValue:   m["parameter_value"],
	}
}

// ParseRetryAfter reads a Retry-After header given in seconds or as an
// HTTP date, at most MaxRetryAfter; 0 means none, a date already past, or
// a value that is neither.
func ParseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	s, err := strconv.ParseInt(v, 10, 64)
	if err == nil || errors.Is(err, strconv.ErrRange) { // too many digits: at the limit
		return time.Duration(min(max(s, 0), int64(MaxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), MaxRetryAfter)
	}
	return 0
}

// firstString returns the first of m's keys that holds a non-empty string.
func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
