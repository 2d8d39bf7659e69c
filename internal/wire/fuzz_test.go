package wire

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz targets check these invariants: nothing panics; no secret of the
// request and no token of the body shows in any output (see checkText and checkJSON); a body
// stays within MaxBody; a 2xx yields a token with an access token and an
// expiry after the send time, or a *Failure; a stated expiry is at most
// MaxLifetime ahead, and one value gets the same treatment in every form
// of expiry (see checkExpiryForms); Bounded leaves no control character
// and keeps to its bound. Their seed corpora, in testdata/fuzz, hold the providers' documented bodies and the cases that
// once went wrong.

func FuzzDecodeToken(f *testing.F) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, lifetime int64) {
		tok, err := DecodeToken(body, sent, time.Duration(lifetime))
		if err != nil {
			if tok != nil {
				t.Fatalf("both a token and %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.TokenType == "" {
			t.Fatalf("token without access token or type: %+v", tok)
		}
		if !tok.Expiry.After(sent) {
			t.Fatalf("expiry %v not after the send time", tok.Expiry)
		}
		if tok.ExpiresIn < 0 || tok.ExpiresIn > int64(MaxLifetime/time.Second) {
			t.Fatalf("expires_in %d", tok.ExpiresIn)
		}
		checkStatedExpiry(t, body, sent, time.Duration(lifetime), tok.Expiry)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		checked := 0
		for _, v := range m {
			if x, ok := v.(float64); ok && checked < 4 {
				checkExpiryForms(t, sent, x)
				checked++
			}
		}
	})
}

// checkStatedExpiry checks that expiry, decoded from body with lifetime,
// is lifetime (or its default) after sent, or else, stated by the body,
// at most MaxLifetime after sent.
func checkStatedExpiry(t *testing.T, body []byte, sent time.Time, lifetime time.Duration, expiry time.Time) {
	t.Helper()
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	other := lifetime + time.Hour
	if lifetime > 2*time.Hour {
		other = lifetime - time.Hour
	}
	tok, err := DecodeToken(body, sent, other)
	if err != nil {
		t.Fatalf("decodes with one lifetime, not with another: %v", err)
	}
	switch {
	case !tok.Expiry.Equal(expiry): // the lifetime's, so the body states none
		if !expiry.Equal(sent.Add(lifetime)) {
			t.Fatalf("expiry %v: neither stated nor the lifetime %v", expiry, lifetime)
		}
	case expiry.Sub(sent) > MaxLifetime:
		t.Fatalf("stated expiry %v more than MaxLifetime after %v", expiry, sent)
	}
}

// checkExpiryForms checks that the number x gets the same treatment in
// every form a body can state an expiry in: as absolute Unix seconds under
// each name, as a JWT's exp (ignored where the absolute form is malformed),
// as RFC 3339 where it is a time; and that expires_in x, as a number or a
// decimal string, is x seconds cut to MaxLifetime, never absent unless 0.
func checkExpiryForms(t *testing.T, sent time.Time, x float64) {
	t.Helper()
	num, _ := json.Marshal(x) // a number decoded from JSON always marshals
	decode := func(body string) (time.Time, string) {
		tok, err := DecodeToken([]byte(body), sent, 0)
		if err != nil {
			return time.Time{}, err.Error()
		}
		return tok.Expiry, ""
	}
	at, atErr := decode(`{"access_token":"a","expires":` + string(num) + `}`)
	for _, k := range []string{"expires_at", "expiresAt", "expiry"} {
		got, gotErr := decode(`{"access_token":"a","` + k + `":` + string(num) + `}`)
		if !got.Equal(at) || strings.Replace(gotErr, k, "expires", 1) != atErr {
			t.Fatalf("%s %v: %v %q, expires: %v %q", k, x, got, gotErr, at, atErr)
		}
	}
	jwtAt, jwtErr := decode(`{"access_token":"` + jwt(`{"exp":`+string(num)+`}`) + `"}`)
	switch {
	case atErr == "expires is not Unix seconds":
		if jwtErr != "" || !jwtAt.Equal(sent.Add(DefaultLifetime)) {
			t.Fatalf("JWT exp %v that is not Unix seconds: %v %q", x, jwtAt, jwtErr)
		}
	case !jwtAt.Equal(at) || jwtErr != atErr:
		t.Fatalf("JWT exp %v: %v %q, expires: %v %q", x, jwtAt, jwtErr, at, atErr)
	}
	if x > 0 && x <= maxUnix {
		rfc, rfcErr := decode(`{"access_token":"a","expires":"` + time.Unix(int64(x), 0).UTC().Format(time.RFC3339) + `"}`)
		if !rfc.Equal(at) || rfcErr != atErr {
			t.Fatalf("RFC 3339 of %v: %v %q, Unix seconds: %v %q", x, rfc, rfcErr, at, atErr)
		}
	}
	in, inErr := decode(`{"access_token":"a","expires_in":` + string(num) + `}`)
	str, strErr := decode(`{"access_token":"a","expires_in":"` + strconv.FormatFloat(x+0, 'f', -1, 64) + `"}`) // -0 as 0
	if !str.Equal(in) || strErr != inErr {
		t.Fatalf("expires_in %v: as a string %v %q, as a number %v %q", x, str, strErr, in, inErr)
	}
	switch d := time.Duration(x * float64(time.Second)); {
	case x == 0:
		if !in.Equal(sent.Add(DefaultLifetime)) {
			t.Fatalf("expires_in 0: %v %q, not absent", in, inErr)
		}
	case x < 0 || x > math.MaxInt32:
		if inErr != "expires_in is not a valid number of seconds" {
			t.Fatalf("expires_in %v: %v %q", x, in, inErr)
		}
	case d == 0:
		if inErr == "" {
			t.Fatalf("expires_in %v under a nanosecond: %v", x, in)
		}
	case !in.Equal(sent.Add(min(d, MaxLifetime))):
		t.Fatalf("expires_in %v: %v %q", x, in, inErr)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v); d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}

func FuzzSend(f *testing.F) {
	// One loopback server for the whole target: each request says in its
	// body how to be answered, so runs share nothing.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a answer
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusTeapot)
			return
		}
		w.Header().Set("Retry-After", a.RetryAfter)
		w.Header().Set("Content-Type", a.ContentType)
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}))
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, status uint16, retryAfter, contentType string, body []byte, secret string, escaping []byte, at uint) {
		body, form := echo(body, secret, escaping, at)
		a := answer{Status: 200 + int(status)%400, RetryAfter: headerValue(retryAfter), ContentType: headerValue(contentType),
			Body: body, Secret: secret}
		req := &Request{URL: srv.URL, Secrets: []string{secret}}
		req.Body, _ = json.Marshal(a) // a struct of strings, bytes and an int always marshals
		sent := time.Now()
		tok, err := req.Send(t.Context(), srv.Client())
		var fail *Failure
		switch {
		case err == nil && a.Status < 300:
			if tok.AccessToken == "" || !tok.Expiry.After(sent) {
				t.Fatalf("unusable token %+v", tok)
			}
		case errors.As(err, &fail):
			if fail.Response.StatusCode != a.Status {
				t.Fatalf("status %d, Failure for %d", a.Status, fail.Response.StatusCode)
			}
			checkFailure(t, body, fail, withForm(checkable(append(bodyTokens(body), secret)), secret, form))
		default:
			t.Fatalf("status %d: token %v, error %v", a.Status, tok, err)
		}
	})
}

// answer is how FuzzSend's server answers a request: the request's body.
type answer struct {
	Status                  int
	RetryAfter, ContentType string
	Body                    []byte
	Secret                  string // sent as a real request would send it
}

// headerValue returns v without the control characters that make a
// response malformed, and so an error of the HTTP client, not a Failure.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (r < ' ' || r == 0x7f) {
			return -1
		}
		return r
	}, v)
}
