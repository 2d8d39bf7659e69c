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
// forms. expires_in is a number or a string of decimal digits with an
// optional fraction, in seconds, cut to whole seconds; 0 means absent. An
// absolute expiry (expires, expires_at, expiresAt, expiry, as RFC 3339 or
// Unix seconds, 0 or "0" meaning absent) is used when no expires_in is
// given. Without either, a JWT access token's "exp" claim is used: it is
// read only to schedule renewal, without checking the signature, and never
// in place of an expiry the response states. Without any of these the
// token lives for lifetime (DefaultLifetime if lifetime is not positive).
//
// A body with an OAuth "error", as x/oauth2 treats it, and a token that has
// already expired when it arrives, are errors. The whole body stays
// reachable through the token's Extra method.
func DecodeToken(body []byte, sent time.Time, lifetime time.Duration) (*oauth2.Token, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return nil, errors.New("response is not a JSON object")
	}
	if str(m, "error") != "" {
		return nil, errors.New("response carries an OAuth error")
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
	tok.ExpiresIn = in
	tok.Expiry = sent.Add(time.Duration(in) * time.Second)
	if in == 0 {
		at, err := expiresAt(m)
		if err != nil {
			return nil, err
		}
		if at.IsZero() {
			at = jwtExpiry(tok.AccessToken)
		}
		if at.IsZero() {
			if lifetime <= 0 {
				lifetime = DefaultLifetime
			}
			at = sent.Add(lifetime)
		}
		if !at.After(sent) {
			return nil, fmt.Errorf("token already expired at %s", at.UTC().Format(time.RFC3339))
		}
		tok.Expiry = at
	}
	return tok.WithExtra(m), nil
}

// seconds is a plain decimal number of seconds: no sign, exponent, hex,
// NaN or infinity.
var seconds = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// expiresIn reads expires_in or expiresIn in whole seconds; 0 means absent.
func expiresIn(m map[string]any) (int64, error) {
	for _, k := range []string{"expires_in", "expiresIn"} {
		n := -1.0
		switch v := m[k].(type) {
		case nil:
			continue
		case float64:
			n = v
		case string:
			if v = strings.TrimSpace(v); seconds.MatchString(v) {
				n, _ = strconv.ParseFloat(v, 64)
			}
		}
		if n < 0 || n > math.MaxInt32 {
			return 0, fmt.Errorf("%s is not a valid number of seconds", k)
		}
		return int64(n), nil
	}
	return 0, nil
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
			t, ok := unix(v)
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

// unix returns the time of Unix seconds s, if it is one a token can end at:
// after 1970 and before the year 5000.
func unix(s float64) (time.Time, bool) {
	if s <= 0 || s > 1e11 {
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
	t, _ := unix(exp)
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
		Code:             str(m, "errorCode", "error", "code"),
		SubCode:          str(m, "errorSubCode"),
		Message:          str(m, "errorMessage", "error_description", "text", "message"),
		RequestID:        str(m, "requestId", "errorId", "request_id"),
		ResourceID:       str(m, "resourceId"),
		DocumentationURL: str(m, "documentationUrl", "error_uri"),
		ParameterName:    str(m, "parameter_name"),
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

// str returns the first of m's keys that holds a non-empty string.
func str(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}
