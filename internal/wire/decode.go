package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DecodeToken turns a 2xx JSON body into a token. It reads the OAuth names
// (access_token, token_type, expires_in, refresh_token) and their camelCase
// forms; expires_in may be a number or a numeric string, and an absolute
// expiry (expires, expires_at, expiresAt, expiry) is used when no
// expires_in is given. Without either, the token lives for lifetime. The
// whole body stays reachable through the token's Extra method.
func DecodeToken(body []byte, sent time.Time, lifetime time.Duration) (*oauth2.Token, error) {
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
