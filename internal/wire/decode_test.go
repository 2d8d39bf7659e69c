package wire

import (
	"encoding/base64"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// jwt returns an unsigned JWT with the given claims.
func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestDecodeToken(t *testing.T) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lifetime := sent.Add(DefaultLifetime)
	for _, tc := range []struct {
		name, body string
		want       time.Time // the expiry, if no error
		err        string
	}{
		{"expires_in", `{"access_token":"a","expires_in":3600}`, sent.Add(time.Hour), ""},
		{"a fraction is kept", `{"access_token":"a","expires_in":3599.5}`, sent.Add(3599500 * time.Millisecond), ""},
		{"a decimal string", `{"access_token":"a","expiresIn":" 3599.5 "}`, sent.Add(3599500 * time.Millisecond), ""},
		{"half a second is not absent", `{"access_token":"a","expires_in":0.5}`, sent.Add(500 * time.Millisecond), ""},
		{"half a second as a string", `{"access_token":"a","expires_in":"0.5"}`, sent.Add(500 * time.Millisecond), ""},
		{"a second and a half", `{"access_token":"a","expiresIn":"1.5"}`, sent.Add(1500 * time.Millisecond), ""},
		{"under a nanosecond has expired", `{"access_token":"a","expires_in":1e-10}`, time.Time{}, "token already expired at 2026-01-01T00:00:00Z"},
		{"a fraction is not absent beside an absolute expiry", `{"access_token":"a","expires_in":"0.5","expires":"2026-01-01T01:00:00Z"}`,
			sent.Add(500 * time.Millisecond), ""},
		{"zero with a fraction is absent", `{"access_token":"a","expires_in":"0.0"}`, lifetime, ""},
		{"a day", `{"access_token":"a","expires_in":86400}`, sent.Add(MaxLifetime), ""},
		{"more than a day is cut to MaxLifetime", `{"access_token":"a","expires_in":86401}`, sent.Add(MaxLifetime), ""},
		{"the largest expires_in is cut to MaxLifetime", `{"access_token":"a","expires_in":2147483647}`, sent.Add(MaxLifetime), ""},
		{"past the largest expires_in", `{"access_token":"a","expires_in":2147483648}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"NaN", `{"access_token":"a","expires_in":"NaN"}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"Inf", `{"access_token":"a","expires_in":"Inf"}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"infinity", `{"access_token":"a","expiresIn":"infinity"}`, time.Time{}, "expiresIn is not a valid number of seconds"},
		{"hex", `{"access_token":"a","expires_in":"0x10"}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"exponent", `{"access_token":"a","expires_in":"1e3"}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"sign", `{"access_token":"a","expires_in":"+60"}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"negative", `{"access_token":"a","expires_in":-60}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"too many digits", `{"access_token":"a","expires_in":"` + fmt.Sprint(1e300) + `"}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"not a number", `{"access_token":"a","expires_in":true}`, time.Time{}, "expires_in is not a valid number of seconds"},
		{"zero expires_in is absent", `{"access_token":"a","expires_in":"0"}`, lifetime, ""},
		{"absolute, RFC 3339", `{"access_token":"a","expires":"2026-01-01T01:00:00Z"}`, sent.Add(time.Hour), ""},
		{"absolute, Unix seconds", `{"access_token":"a","expiry":` + fmt.Sprint(sent.Add(time.Hour).Unix()) + `}`, sent.Add(time.Hour), ""},
		{"absolute, after the year 9999", `{"access_token":"a","expires":253402300800}`, time.Time{}, "expires is not Unix seconds"},
		{"absolute, in milliseconds by mistake", `{"access_token":"a","expires_at":1767229200000}`, time.Time{}, "expires_at is not Unix seconds"},
		{"absolute 0 is absent", `{"access_token":"a","expires":0}`, lifetime, ""},
		{`absolute "0" is absent`, `{"access_token":"a","expires_at":"0"}`, lifetime, ""},
		{"absolute 0 gives way to another", `{"access_token":"a","expires":0,"expiresAt":"2026-01-01T01:00:00Z"}`, sent.Add(time.Hour), ""},
		{"already expired", `{"access_token":"a","expires":"2025-12-31T23:00:00Z"}`, time.Time{}, "token already expired at 2025-12-31T23:00:00Z"},
		{"expiring as sent", `{"access_token":"a","expiry":` + fmt.Sprint(sent.Unix()) + `}`, time.Time{}, "token already expired at 2026-01-01T00:00:00Z"},
		{"expires_in wins over a past absolute expiry", `{"access_token":"a","expires_in":60,"expires":"2025-12-31T23:00:00Z"}`, sent.Add(time.Minute), ""},
		{"OAuth error beside a token", `{"access_token":"a","expires_in":60,"error":"invalid_grant"}`, time.Time{}, "response carries an OAuth error"},
		{"an empty error is none", `{"access_token":"a","expires_in":60,"error":""}`, sent.Add(time.Minute), ""},
		{"JWT exp", `{"access_token":"` + jwt(`{"sub":"x","exp":1767229200}`) + `"}`, sent.Add(time.Hour), ""},
		{"JWT exp, padded", `{"access_token":"` + jwt(`{"exp":1767229200.9}`) + `=="}`, sent.Add(time.Hour), ""},
		{"JWT exp past", `{"access_token":"` + jwt(`{"exp":1767222000}`) + `"}`, time.Time{}, "token already expired at 2025-12-31T23:00:00Z"},
		{"JWT exp never beats expires_in", `{"access_token":"` + jwt(`{"exp":1767229200}`) + `","expires_in":60}`, sent.Add(time.Minute), ""},
		{"JWT exp never beats an absolute expiry", `{"access_token":"` + jwt(`{"exp":1767229200}`) + `","expires":"2026-01-01T00:02:00Z"}`,
			sent.Add(2 * time.Minute), ""},
		{"JWT exp as a string is ignored", `{"access_token":"` + jwt(`{"exp":"1767229200"}`) + `"}`, lifetime, ""},
		{"JWT exp beyond reason is ignored", `{"access_token":"` + jwt(`{"exp":1e300}`) + `"}`, lifetime, ""},
		{"JWT exp after the year 9999 is ignored", `{"access_token":"` + jwt(`{"exp":253402300800}`) + `"}`, lifetime, ""},
		{"JWT exp in milliseconds is ignored", `{"access_token":"` + jwt(`{"exp":1767229200000}`) + `"}`, lifetime, ""},
		{"JWT payload not JSON", `{"access_token":"eyJhbGciOiJub25lIn0.bm90IGpzb24.c2ln"}`, lifetime, ""},
		{"JWT payload not base64url", `{"access_token":"eyJhbGciOiJub25lIn0.!!!.c2ln"}`, lifetime, ""},
		{"two segments", `{"access_token":"eyJhbGciOiJub25lIn0.eyJleHAiOjE3NjcyMjkyMDB9"}`, lifetime, ""},
		{"no access token", `{"expires_in":60}`, time.Time{}, "response has no access token"},
		{"not an object", `["a"]`, time.Time{}, "response is not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := DecodeToken([]byte(tc.body), sent, 0)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				assert.Nil(t, tok)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want.UTC(), tok.Expiry.UTC())
		})
	}
}

// TestDecodeTokenExpiryForms checks that an absolute expiry gets the same
// treatment in every form a response can state it: cut to MaxLifetime when
// further, as far as the year 9999.
func TestDecodeTokenExpiryForms(t *testing.T) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		at   time.Time
		want time.Time // the expiry, or zero for "already expired"
	}{
		{"two hours ahead", sent.Add(2 * time.Hour), sent.Add(2 * time.Hour)},
		{"a day ahead", sent.Add(MaxLifetime), sent.Add(MaxLifetime)},
		{"a day and a second ahead", sent.Add(MaxLifetime + time.Second), sent.Add(MaxLifetime)},
		{"a year ahead", sent.AddDate(1, 0, 0), sent.Add(MaxLifetime)},
		{"the year 9999", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), sent.Add(MaxLifetime)},
		{"an hour ago", sent.Add(-time.Hour), time.Time{}},
	} {
		unix := fmt.Sprint(tc.at.Unix())
		forms := map[string]string{"JWT exp": `{"access_token":"` + jwt(`{"exp":`+unix+`}`) + `"}`}
		for _, k := range []string{"expires", "expires_at", "expiresAt", "expiry"} {
			forms[k+", RFC 3339"] = `{"access_token":"a","` + k + `":"` + tc.at.Format(time.RFC3339) + `"}`
			forms[k+", Unix seconds"] = `{"access_token":"a","` + k + `":` + unix + `}`
		}
		for form, body := range forms {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				tok, err := DecodeToken([]byte(body), sent, 0)
				if tc.want.IsZero() {
					require.EqualError(t, err, "token already expired at "+tc.at.Format(time.RFC3339))
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tc.want, tok.Expiry.UTC())
			})
		}
	}
}

// TestDecodeTokenExpiresIn checks the token's ExpiresIn: the whole seconds
// of a stated expires_in, after the cut to MaxLifetime.
func TestDecodeTokenExpiresIn(t *testing.T) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, body string
		want       int64
	}{
		{"seconds", `{"access_token":"a","expires_in":3600}`, 3600},
		{"a fraction", `{"access_token":"a","expires_in":"3599.5"}`, 3599},
		{"under a second", `{"access_token":"a","expires_in":0.5}`, 0},
		{"cut to MaxLifetime", `{"access_token":"a","expires_in":2147483647}`, 86400},
		{"absolute", `{"access_token":"a","expires":"2026-01-01T01:00:00Z"}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := DecodeToken([]byte(tc.body), sent, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.want, tok.ExpiresIn)
		})
	}
}

func TestDecodeTokenLifetime(t *testing.T) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		lifetime time.Duration
		want     time.Time
	}{
		{"given", time.Hour, sent.Add(time.Hour)},
		{"zero means the default", 0, sent.Add(DefaultLifetime)},
		{"negative means the default", -time.Hour, sent.Add(DefaultLifetime)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := DecodeToken([]byte(`{"access_token":"a"}`), sent, tc.lifetime)
			require.NoError(t, err)
			assert.Equal(t, tc.want, tok.Expiry)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         time.Duration
	}{
		{"none", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"spaces", " 30 ", 30 * time.Second},
		{"a day", "86400", MaxRetryAfter},
		{"more than a day", "86401", MaxRetryAfter},
		{"milliseconds by mistake", "9999999999999", MaxRetryAfter},
		{"more digits than int64", "99999999999999999999999", MaxRetryAfter},
		{"negative", "-5", 0},
		{"very negative", "-99999999999999999999999", 0},
		{"a fraction", "1.5", 0},
		{"garbage", "soon", 0},
		// A synctest bubble's clock starts at midnight UTC, 1 January 2000.
		{"HTTP date", "Sat, 01 Jan 2000 00:01:00 GMT", time.Minute},
		{"HTTP date in the past", "Fri, 31 Dec 1999 23:59:00 GMT", 0},
		{"HTTP date years ahead", "Mon, 01 Jan 2035 00:00:00 GMT", MaxRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				assert.Equal(t, tc.want, ParseRetryAfter(tc.header))
			})
		})
	}
}
